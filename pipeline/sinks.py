"""Sinks: where frames go. A sink is a context manager with `write(frame)`.

Nothing is ever written under the final name until it is complete: each sink writes to a
hidden ``.NAME.partial.EXT`` beside the target, then `os.replace`s it (atomic on one
filesystem); on an error the partial file is removed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2

from .errors import DreamreelError
from .frames import Frame, Image

STILL_EXTS = (".png", ".jpg", ".jpeg")


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


@contextmanager
def committed(path: Path) -> Iterator[Path]:
    """Yield a partial path to write; on success it becomes `path`, on error it is removed."""
    partial = partial_path(path)
    try:
        yield partial
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)


def check_writable(path: Path) -> None:
    """Fail before any work if `path`'s folder cannot be made or written."""
    folder = path.parent if path.suffix else path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dreamreel-probe-"):
            pass
    except OSError as e:
        raise DreamreelError(f"cannot write to {folder}: {e.strerror or e}", "choose an output folder you can write to") from None
    if path.is_dir() and path.suffix:
        raise DreamreelError(f"output {path} is a folder", "give a file name such as out.png")


def write_image(path: Path, image: Image) -> None:
    """Encode by extension and write atomically (PNG lossless, JPEG quality 95)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix.lower(), cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise DreamreelError(f"cannot encode {path.name}", f"use one of {', '.join(STILL_EXTS)}")
    with committed(path) as partial:
        partial.write_bytes(buf.tobytes())


class ImageSink:
    """A still image: the last frame written is the one kept."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: Image | None = None

    def __enter__(self) -> ImageSink:
        return self

    def write(self, frame: Frame) -> None:
        self._last = frame.image

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and self._last is not None:
            write_image(self.path, self._last)


def for_path(path: Path, kind: str) -> ImageSink:
    """The sink for `path`, chosen by its extension; unknown ones fail before any work."""
    ext = path.suffix.lower()
    if ext in STILL_EXTS:
        return ImageSink(path)
    raise DreamreelError(f"unknown output format {ext or path.name!r} for a {kind}", f"use one of {', '.join(STILL_EXTS)}")
