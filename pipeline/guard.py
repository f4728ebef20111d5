"""Before any work: an output that is an input, or a folder that holds one, is refused, and each
output is locked.

A render writes under partial names and renames at the end, so two renders to one output
would each finish and the later rename would silently win; ``dream a.png -o a.png`` would
replace the user's photo with the dream, ``-o ref.png`` a guide image, and a frames folder (or
``OUT.parts/``, which a fresh render empties) a start image kept inside it. All are stopped
here, before a model loads. `inputs` is the one walk over a config for the files it reads.

The lock is ``OUT.lock`` beside each output (``frames.lock`` for ``frames/``), held with
``flock`` for the render's length. The kernel lets go of it when the process ends, however it
ends: a lock left by a SIGKILLed render is free, and neither a reused pid nor a pid from
another container (or host, on a shared folder) can keep an output blocked. The file's text
(pid, start time) only names the holder in the message, so a malformed one is taken over.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .config import RenderConfig
from .errors import DreamreelError
from .signals import Signals
from .view import REFERENCE

F = TypeVar("F", bound=Callable[..., Any])


def parts_dir(first_output: str | Path) -> Path:
    """Where a render keeps its finished frames for --resume (`resume.Parts`): beside the first output."""
    p = Path(first_output).expanduser()
    return p.with_name(p.name + ".parts")


def _key(path: Path) -> Path:
    """One spelling per file: `~`, `..`, symlinks and a trailing slash resolved (`~nobody/x`, a user
    that does not exist, stays as it is spelled rather than raising)."""
    try:
        path = path.expanduser()
    except RuntimeError:
        pass
    return Path(os.path.realpath(path))


def inputs(cfg: RenderConfig) -> list[str]:
    """Every file a render reads that a user made: the input (image, video or frames folder), the
    weights, the music and its stems, the images the objectives read (guide and style images,
    ``LAYER@IMAGE``) and the masks. The one walk over a config's inputs: a new kind of input is one line here."""
    music = cfg.audio
    return [p for p in (cfg.source.input, cfg.dream.weights, music.file, *music.stems.values(), *images(cfg), *masks(cfg))
            if p]


def images(cfg: RenderConfig) -> list[str]:
    """Image files the objectives read: their ``LAYER@IMAGE`` pseudo-layers (guide and style make them)."""
    music = Signals.sample(cfg.audio.stems)
    layers = {name for e in cfg.expressions() if e.objective for name in e.parse(music).layers}
    return sorted({name.split("@", 1)[1] for name in layers if "@" in name} - {REFERENCE})


def masks(cfg: RenderConfig) -> list[str]:
    """Mask files and folders (`[mask]`, `[[regions]]`); an expression such as "luma > 0.7" names none."""
    return [m.mask for m in (cfg.mask, *cfg.regions) if m is not None and _key(Path(m.mask)).exists()]


def check_found(cfg: Any) -> None:
    """Every file a render reads that a user named exists: a mistyped path is one line at once,
    before the render path's imports (torch alone takes seconds) and before a model loads."""
    audio = getattr(cfg, "audio", None)
    named = [("input", cfg.source.input), ("weights file", cfg.dream.weights),
             *([("audio file", audio.file), *((f"audio stem {k}", v) for k, v in audio.stems.items())] if audio else [])]
    for what, path in named:
        if path and not Path(path).expanduser().exists():
            raise DreamreelError(f"{what} not found: {path}", "check the path")


def written(cfg: Any) -> list[str]:
    """Every path a render writes, as given (a trailing slash marks a frames folder)."""
    out = cfg.output
    extra = (getattr(out, "contact_sheet", None), getattr(out, "animate_steps", None), getattr(cfg.carve, "animate", None))
    return [*out.paths, *(p for p in extra if p)]


def _folders(outputs: Iterable[str]) -> list[Path]:
    """Folders a render fills or empties: frames folders and each output's ``OUT.parts/``."""
    found = []
    for out in outputs:
        path = Path(out).expanduser()
        if str(out).endswith(("/", os.sep)) or path.is_dir():
            found.append(_key(path))
        found.append(_key(parts_dir(str(out).rstrip("/" + os.sep) or ".")))
    return found


def check_not_input(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None]) -> None:
    """Refuse an output that names an input file or frames folder, or a folder that holds one,
    however it is spelled."""
    outputs = [str(p) for p in outputs]
    sources = {_key(Path(p)) for p in inputs if p}
    for out in outputs:
        if (src := _key(Path(out))) in sources:
            raise DreamreelError(f"output {out} is the input {src}: it would be replaced by the render",
                                 "write to another name, e.g. -o dream-" + Path(out.rstrip("/" + os.sep)).name)
    for folder in _folders(outputs):
        if inside := next((s for s in sorted(sources) if s.is_relative_to(folder) and s != folder), None):
            raise DreamreelError(f"the render writes into {folder}, which holds the input {inside}",
                                 "move the input out of that folder, or write somewhere else")


def guarded(render: F) -> F:
    """Wrap a ``render(cfg, ...)``: refuse a missing input and an output that is an input, then hold every output's lock."""

    @functools.wraps(render)
    def wrapper(cfg: Any, *args: Any, **kwargs: Any) -> Any:
        check_found(cfg)
        check_not_input(written(cfg), inputs(cfg))
        with locked(written(cfg)):
            return render(cfg, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def lock_path(output: str | Path) -> Path:
    p = _key(Path(str(output).rstrip("/" + os.sep) or "."))  # one lock per file, however it is spelled
    return p.with_name(p.name + ".lock")


@dataclass(frozen=True)
class Held:
    """A lock this process holds: its file and the open descriptor the ``flock`` is on."""

    path: Path
    fd: int


def _holder(fd: int) -> dict[str, Any]:
    """What the holder wrote ({pid, started}); empty when it is malformed or not written yet."""
    try:
        holder = json.loads(os.pread(fd, 4096, 0).decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return holder if isinstance(holder, dict) else {}


def _same_file(fd: int, path: Path) -> bool:
    """Whether `path` still names the file `fd` is open on: a holder that just finished unlinks its
    lock, and a lock taken on the unlinked file would be nobody else's to see."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def acquire(output: str | Path) -> Held:
    """Lock one output, or stop at once naming the render that holds it."""
    path = lock_path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DreamreelError(f"cannot write to {path.parent}: {e.strerror or e}", "choose an output folder you can write to") from None
    for _ in range(20):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DreamreelError(f"cannot lock {path}: {e.strerror or e}", "choose an output folder you can write to") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            pid = holder.get("pid", "?")
            raise DreamreelError(f"{output} is being rendered by another dreamreel (pid {pid}, since {holder.get('started', '?')})",
                                 f"wait for it to finish, or stop it (kill {pid}); or write to another output") from None
        if _same_file(fd, path):
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0)
            return Held(path, fd)
        os.close(fd)  # the lock we took is on a file its holder has just removed: take the new one
    raise DreamreelError(f"cannot lock {path}: other renders keep taking it", "try again")


def release(held: Held) -> None:
    """Remove the lock file while still holding it (a waiting render then finds the path gone and
    starts over on a new file), then let go."""
    try:
        if _same_file(held.fd, held.path):
            held.path.unlink(missing_ok=True)
    finally:
        os.close(held.fd)


@contextmanager
def locked(outputs: Iterable[str | Path]) -> Iterator[list[Path]]:
    """Hold ``OUT.lock`` for every output while the body runs (released on every exit path)."""
    outputs = list(outputs)
    paths = [lock_path(out) for out in outputs]
    if twice := next((out for out, p in zip(outputs, paths) if paths.count(p) > 1), None):
        raise DreamreelError(f"{twice} is given twice", "give each output once")
    with ExitStack() as stack:
        for out in outputs:
            stack.callback(release, acquire(out))
        yield paths
