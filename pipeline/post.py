"""Post stages: what happens to a dreamed frame before the sinks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2

from .frames import Frame


@dataclass(frozen=True)
class Blend:
    """Mix a share of the untouched source back into the dream (0: pure dream)."""

    share: float

    def __call__(self, frame: Frame) -> Frame:
        mixed = cv2.addWeighted(frame.image, 1.0 - self.share, frame.source, self.share, 0.0)
        return replace(frame, image=mixed)
