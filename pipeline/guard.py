"""Before any work: an output that is one of the inputs is refused, and each output is locked.

A render writes under partial names and renames at the end, so two renders to one output
would each finish and the later rename would silently win; and ``dream a.png -o a.png``
would replace the user's photo with the dream. Both are stopped here, before a model loads.

The lock is ``OUT.lock`` beside each output (``frames.lock`` for ``frames/``), made with
``O_CREAT | O_EXCL`` and holding the owner's pid: a second render stops at once naming it.
A lock whose pid is no longer running (a SIGKILLed render) is stale and is taken over.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import DreamreelError

F = TypeVar("F", bound=Callable[..., Any])


def _key(path: Path) -> Path:
    """One spelling per file: `~`, `..`, symlinks and a trailing slash resolved."""
    return Path(os.path.realpath(path.expanduser()))


def check_not_input(outputs: Iterable[str | Path], inputs: Iterable[str | Path | None]) -> None:
    """Refuse an output that names an input file or frames folder, however it is spelled."""
    sources = {_key(Path(p)) for p in inputs if p}
    for out in outputs:
        if (src := _key(Path(out))) in sources:
            raise DreamreelError(f"output {out} is the input {src}: it would be replaced by the render",
                                 "write to another name, e.g. -o dream-" + Path(str(out).rstrip("/" + os.sep)).name)


def inputs(cfg: Any) -> list[str]:
    """The files a render reads that a user made: the input image, video or folder, weights, music."""
    audio = getattr(cfg, "audio", None)
    music = [audio.file, *audio.stems.values()] if audio is not None else []
    return [p for p in (cfg.source.input, cfg.dream.weights, *music) if p]


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
    return [*out.paths, *(p for p in (getattr(out, "contact_sheet", None), getattr(out, "animate_steps", None)) if p)]


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


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _holder(path: Path) -> dict | None:
    """The lock's owner as written ({pid, started}); None when it cannot be read (being written)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _create(path: Path) -> bool:
    """Make the lock file exclusively with our pid; False if it exists already."""
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    except OSError as e:
        raise DreamreelError(f"cannot lock {path}: {e.strerror or e}", "choose an output folder you can write to") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"pid": os.getpid(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}, f)
    return True


def acquire(output: str | Path) -> Path:
    """Lock one output or stop naming the render that holds it; a dead owner's lock is taken over."""
    path = lock_path(output)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise DreamreelError(f"cannot write to {path.parent}: {e.strerror or e}", "choose an output folder you can write to") from None
    for _ in range(3):
        if _create(path):
            return path
        holder = _holder(path)
        if holder is None:  # just made by another render, its pid not written yet
            time.sleep(0.05)
            holder = _holder(path)
        pid = int(holder.get("pid", 0)) if isinstance(holder, dict) else 0
        if pid and _alive(pid) and pid != os.getpid():
            raise DreamreelError(f"{output} is being rendered by another dreamreel (pid {pid}, since {holder.get('started', '?')})",
                                 f"wait for it to finish, or stop it (kill {pid}); or write to another output")
        if pid == os.getpid():
            raise DreamreelError(f"{output} is given twice", "give each output once")
        try:
            os.unlink(path)  # stale: its render is gone
        except FileNotFoundError:
            pass
    raise DreamreelError(f"cannot lock {path}: other renders keep taking it", "try again")


def release(path: Path) -> None:
    holder = _holder(path)
    if isinstance(holder, dict) and holder.get("pid") == os.getpid():
        path.unlink(missing_ok=True)


@contextmanager
def locked(outputs: Iterable[str | Path]) -> Iterator[list[Path]]:
    """Hold ``OUT.lock`` for every output while the body runs (released on every exit path)."""
    with ExitStack() as stack:
        held = []
        for out in outputs:
            path = acquire(out)
            stack.callback(release, path)
            held.append(path)
        yield held
