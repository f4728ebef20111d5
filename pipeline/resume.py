"""Resume: a multi-frame render keeps its finished frames beside the output until it is done.

``OUT.parts/`` (OUT = the first output, e.g. ``zoom.mp4.parts/``) holds

    recipe.json     the validated config (seed included; output paths left out)
    000000.png ...  each finished frame, lossless
    carry.npz       the last finished frame's index and its `Carry` (what the next frame needs):
                    a field that is that frame's own image is named, not stored again (``dream``:
                    it is the PNG just written); other images of a MiB or more are stored as PNG
                    bytes (``source.png``, a stack as ``past_sources.png.0`` ...); the rest raw.
                    Lossless all: at 4K a frame's parts are tens of MB, not 200.

Every file is written (on a background thread, in order) under a partial name and renamed,
frame first, carry second, so a SIGKILL at any moment leaves a consistent state: the carry
names the last frame that is complete. ``--resume`` replays the finished frames into the sinks, restores the carry and
continues; since each frame's randomness comes from (seed, index) and its feedback only from
the carry, the result equals an uninterrupted run bit for bit on the same device and thread
count. A finished render removes the folder. Nothing here knows what kind of render it is.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from .errors import DreamreelError
from .frames import Carry, Followed, Frame
from .beside import Worker
from .sinks import committed, frame_name, write_png
from .version import version

RECIPE, CARRY = "recipe.json", "carry.npz"
PNG_FROM = 1 << 20  # bytes: a carried image this large is stored as PNG (compression 1: ~5x smaller on video, fast)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        return {k: v for key, sub in d.items() for k, v in _flat(sub, f"{prefix}{key}.").items()}
    return {prefix.rstrip("."): d}


def _differs(saved: dict[str, Any], recipe: dict[str, Any]) -> str | None:
    a, b = _flat(saved), _flat(recipe)
    return next((k for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)), None)


PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last 12 bytes of every complete PNG


def _intact(path: Path) -> bool:
    """A frame file that exists and ends as a PNG ends (a truncated one does not)."""
    try:
        with open(path, "rb") as f:
            f.seek(-len(PNG_END), os.SEEK_END)
            return f.read() == PNG_END
    except OSError:
        return False


def _carries(fields: dict[str, np.ndarray]) -> bool:
    """Whether saved arrays make a `Carry`: two HxWx3 uint8 images; a loop's lead frames (CxHxWx3)
    and the masks (HxWxC) of that size, if any; and the earlier frames (if any), K alike with K indices."""
    source, dream = fields.get("source"), fields.get("dream")
    if source is None or dream is None or source.ndim != 3 or source.shape[2:] != (3,) or dream.shape != source.shape:
        return False
    lead, masks = fields.get("lead"), fields.get("masks")
    if lead is not None and (lead.dtype != np.uint8 or lead.ndim != 4 or lead.shape[1:] != source.shape):
        return False
    if masks is not None and (masks.dtype != np.uint8 or masks.ndim != 3 or masks.shape[:2] != source.shape[:2]):
        return False
    if not _keyed(fields):
        return False
    past = [fields.get(k) for k in ("past_sources", "past_dreams", "past_index")]
    if any(a is None for a in past):
        return all(a is None for a in past) and source.dtype == dream.dtype == np.uint8
    images, dreams, index = past  # kept at the dream size when a render has one: any size, both alike
    return (source.dtype == dream.dtype == images.dtype == dreams.dtype == np.uint8 and images.shape == dreams.shape
            and images.ndim == 4 and images.shape[3:] == (3,) and index.shape == images.shape[:1] and index.dtype.kind in "iu")


def _keyed(fields: dict[str, np.ndarray]) -> bool:
    """Whether a saved shot key (`frames.Followed`), if any, is one: two uint8 images alike, and two
    float32 fields (h x w x 2) with the trust (h x w), or none (the key is the saved frame)."""
    source, dream, field, trust, camera = (fields.get(f"key_{k}") for k in Followed._fields)
    if source is None:
        return dream is None and field is None and trust is None and camera is None
    if dream is None or not source.dtype == dream.dtype == np.uint8 or source.shape != dream.shape or source.ndim != 3:
        return False
    if field is None or trust is None or camera is None:
        return field is None and trust is None and camera is None
    return (field.dtype == trust.dtype == camera.dtype == np.float32 and field.ndim == 3 and field.shape[2:] == (2,)
            and camera.shape == field.shape and trust.shape == field.shape[:2]
            and all(bool(np.isfinite(a).all()) for a in (field, trust, camera)))


@dataclass
class Parts:
    folder: Path
    start: int = 0  # the first frame still to render
    carry: Carry | None = None  # what frame `start` receives

    @classmethod
    def open(cls, folder: Path, recipe: dict[str, Any], resume: bool) -> Parts:
        """Continue from `folder` when `resume` and it holds this recipe's parts; else start afresh."""
        recipe = {**recipe, "dreamreel": version()}
        if resume and (folder / RECIPE).is_file():
            saved = cls._saved(folder)
            if saved.get("dreamreel") != recipe["dreamreel"]:
                raise DreamreelError(f"--resume: {folder} was started by dreamreel {saved.get('dreamreel', '(older)')}, "
                                     f"this is {recipe['dreamreel']}: its frames would not match",
                                     "rerun without --resume to start afresh")
            if key := _differs(saved, recipe):
                raise DreamreelError(f"--resume: {folder} belongs to a render with another {key}",
                                     "rerun with the same settings, or without --resume to start over")
            parts = cls(folder)
            parts._load()
            return parts
        shutil.rmtree(folder, ignore_errors=True)
        try:
            folder.mkdir(parents=True)
        except OSError as e:
            raise DreamreelError(f"cannot make {folder}: {e.strerror or e}", "choose an output folder you can write to") from None
        with committed(folder / RECIPE) as partial:
            partial.write_text(json.dumps(recipe, indent=1, sort_keys=True), encoding="utf-8")
        return cls(folder)

    @staticmethod
    def _saved(folder: Path) -> dict[str, Any]:
        try:
            saved = json.loads((folder / RECIPE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            saved = None
        if not isinstance(saved, dict):
            raise DreamreelError(f"--resume: {folder / RECIPE} is damaged", "rerun without --resume to start afresh")
        return saved

    def _load(self) -> None:
        """Start after the frame the carry names; refuse parts that cannot give the right frames."""
        path = self.folder / CARRY
        if path.is_file():
            index, fields = self._carry(path)
            self.start, self.carry = index + 1, Carry(**fields)
        for f in self.folder.glob("*.png"):  # frames past the carry were never confirmed
            if f.stem.isdigit() and int(f.stem) >= self.start:
                f.unlink()

    def _carry(self, path: Path) -> tuple[int, dict[str, Any]]:
        """The saved carry and the frame it follows, or one line saying the file is damaged: the index
        a whole number >= 0 (a negative one would have every saved frame deleted as unconfirmed) and
        each array of the shape and type a `Carry` holds."""
        damaged = DreamreelError(f"--resume: {path} is damaged (its index or arrays are not a render's)",
                                 "rerun without --resume to start afresh")
        try:
            with np.load(path, allow_pickle=False) as data:
                index = data["index"]
                if index.shape != () or index.dtype.kind not in "iu" or int(index) < 0:
                    raise damaged
                index = int(index)
                self._check_frames(index)  # before any field is read: one may be that frame's PNG
                fields = {k: v for k in Carry._fields if (v := self._field(data, k, index)) is not None}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, cv2.error):
            raise DreamreelError(f"--resume: {path} is damaged", "rerun without --resume to start afresh") from None
        if not _carries(fields):
            raise damaged
        return index, fields

    def _check_frames(self, index: int) -> None:
        """Frames 0..index are all there and complete, or one line naming the first that is not."""
        broken = next((i for i in range(index + 1) if not _intact(self.folder / frame_name(i))), None)
        if broken is not None:
            what = "missing" if not (self.folder / frame_name(broken)).exists() else "truncated"
            raise DreamreelError(f"--resume: frame {self.folder / frame_name(broken)} is {what}",
                                 "rerun without --resume to start afresh")

    def _field(self, data: Any, name: str, index: int) -> Any:
        """One `Carry` field as `_packed` stored it (None: left out, its default)."""
        if name in data.files:
            return data[name].item() if data[name].ndim == 0 else data[name]
        if f"{name}@frame" in data.files:  # the frame's own image: its PNG, intact (checked before the carry is used)
            return _rgb(np.fromfile(self.folder / frame_name(index), np.uint8))
        if f"{name}.png" in data.files:
            return _rgb(data[f"{name}.png"])
        stack = sorted((k for k in data.files if k.startswith(f"{name}.png.")), key=lambda k: int(k.rsplit(".", 1)[1]))
        return np.stack([_rgb(data[k]) for k in stack]) if stack else None

    def finished(self) -> Iterator[Frame]:
        """The frames already rendered, in order (source = image: only the dream was kept)."""
        for i in range(self.start):
            bgr = cv2.imread(str(self.folder / frame_name(i)), cv2.IMREAD_COLOR)
            if bgr is None:
                raise DreamreelError(f"--resume: frame {self.folder / frame_name(i)} is damaged", "rerun without --resume to start afresh")
            image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            yield Frame(i, image, image)

    def __enter__(self) -> Parts:
        self._worker = Worker(self._write, name="resume-parts")
        return self

    def __exit__(self, *_: object) -> None:
        """Drain even on an error or Ctrl-C: every frame handed over is kept for --resume."""
        self._worker.finish()

    def save(self, frame: Frame, carry: Carry) -> None:
        """Keep a finished frame (on a background thread, in order; inside ``with parts:``)."""
        self._worker.put((frame, carry))

    def _write(self, item: tuple[Frame, Carry]) -> None:
        """Write the frame, then mark it finished by writing the carry that follows it."""
        frame, carry = item
        with committed(self.folder / frame_name(frame.index)) as partial:
            write_png(partial, frame.image, compression=1)
        with committed(self.folder / CARRY) as partial, open(partial, "wb") as f:
            np.savez(f, index=np.int64(frame.index), **_packed(carry, frame.image))

    def empty(self) -> bool:
        return not (self.folder / CARRY).exists()

    def clean(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _packed(carry: Carry, image: np.ndarray) -> dict[str, np.ndarray]:
    """The carry's fields as arrays for ``carry.npz`` (None fields left out: their default): the
    finished frame's own image named (``NAME@frame``), large images as PNG bytes, the rest raw."""
    out: dict[str, np.ndarray] = {}
    for name, value in carry._asdict().items():
        if value is None:
            continue
        if value is image:
            out[f"{name}@frame"] = np.int8(1)
        elif _pictures(value):
            if value.ndim == 3:
                out[f"{name}.png"] = _png(value)
            else:
                out.update({f"{name}.png.{i}": _png(v) for i, v in enumerate(value)})
        else:
            out[name] = np.asarray(value)
    return out


def _pictures(value: Any) -> bool:
    """An RGB image (or a stack of them) large enough that PNG pays."""
    return (isinstance(value, np.ndarray) and value.dtype == np.uint8 and value.ndim in (3, 4) and value.shape[-1] == 3
            and value.nbytes >= PNG_FROM)


def _png(image: np.ndarray) -> np.ndarray:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:
        raise DreamreelError("cannot encode the carry for --resume", "report this as a bug")
    return buf.reshape(-1)


def _rgb(png: np.ndarray) -> np.ndarray:
    bgr = cv2.imdecode(png, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError("not a PNG")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
