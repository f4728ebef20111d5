"""Motion / feedback stages: how the last finished frame becomes the next frame's start.

`ZoomFeedback` is the fractal zoom: frame t starts from frame t-1's dream, scaled, rotated
and shifted about the centre (the border reflected, so no black wedges creep in), and the
dreamer then adds a few steps of new detail where the enlargement blurred it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from .frames import Frame, Image

Curve = Callable[[float], float]  # a Schedule, or any function of the frame index


def zoom_matrix(width: int, height: int, zoom: float, angle: float = 0.0, dx: float = 0.0, dy: float = 0.0) -> np.ndarray:
    """2x3 affine map: scale by `zoom` and rotate by `angle` degrees about the image centre,
    then shift by (dx, dy) pixels. Pixel centres sit at integers, so the centre is ((w-1)/2, (h-1)/2)."""
    m = cv2.getRotationMatrix2D(((width - 1) / 2.0, (height - 1) / 2.0), angle, zoom)
    m[:, 2] += (dx, dy)
    return m


def warp(image: Image, matrix: np.ndarray) -> Image:
    """Apply an affine map with bicubic sampling; the border is reflected."""
    h, w = image.shape[:2]
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


@dataclass(frozen=True)
class ZoomFeedback:
    """Frame t = frame t-1's dream transformed by the schedules' values at t (the first frame
    passes through untouched: it is the start image)."""

    zoom: Curve
    angle: Curve = lambda _t: 0.0
    translate_x: Curve = lambda _t: 0.0
    translate_y: Curve = lambda _t: 0.0

    def matrix(self, t: int, width: int, height: int) -> np.ndarray:
        return zoom_matrix(width, height, self.zoom(t), self.angle(t), self.translate_x(t), self.translate_y(t))

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None:
            return frame
        last = frame.carry.dream
        return replace(frame, image=warp(last, self.matrix(frame.index, last.shape[1], last.shape[0])))
