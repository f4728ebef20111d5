"""Sources: iterables of `Frame`s, RGB ``HxWx3 uint8`` fixed at the edge."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .errors import DreamreelError
from .frames import Frame, Image

SAMPLE = Path(__file__).resolve().parent / "data" / "chelsea.png"  # CC0, see data/CREDITS.md
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def read_image(path: Path) -> Image:
    """An image file as RGB uint8, or a one-line error saying why it is not one."""
    if not path.exists():
        raise DreamreelError(f"input not found: {path}", "check the path")
    if not path.is_file():
        raise DreamreelError(f"input is not a file: {path}", "give an image file")
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DreamreelError(f"cannot read {path}: {e.strerror}", "check the file's permissions") from None
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise DreamreelError(f"{path} is not an image that can be read", "give a PNG, JPEG, BMP, TIFF or WebP file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def fit(image: Image, size: int | None) -> Image:
    """Scale so the longest side is `size` (area filter down, cubic up); None keeps it."""
    h, w = image.shape[:2]
    if size is None or max(h, w) == size:
        return image
    k = size / max(h, w)
    dsize = (max(1, round(w * k)), max(1, round(h * k)))
    return cv2.resize(image, dsize, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)


@dataclass(frozen=True)
class ImageSource:
    """One still image (the bundled sample when `path` is None)."""

    path: Path | None = None
    size: int | None = None
    frame_count: int = 1

    def __iter__(self) -> Iterator[Frame]:
        image = fit(read_image(self.path or SAMPLE), self.size)
        yield Frame(0, image, image)
