"""Dense optical flow on *input* frames, warping, and the forward-backward consistency mask.

Shared by the video stage (`motion.FlowFeedback`) and the quality measures (`metrics`), so the
stylised clip and its warping error see the same motion. Flow is always computed between
source frames, never between dreams: a dream's invented texture would be "tracked" too.

Conventions: a flow field is ``HxWx2 float32`` (dx, dy) in pixels. `track(prev, curr)` returns
the *backward* field of `curr` (for each pixel of `curr`, where it was in `prev`), so
``warp(prev_anything, field)`` lines `prev_anything` up with `curr`; and the mask of pixels
whose motion is trustworthy (not occluded, not disoccluded, not pulled from outside the frame).
"""

from __future__ import annotations

import functools

from typing import Literal

import cv2
import numpy as np
import numpy.typing as npt

from .frames import Image

Field = npt.NDArray[np.float32]  # H x W x 2: (dx, dy) in pixels
Mask = npt.NDArray[np.bool_]  # H x W: True where the flow is reliable
Method = Literal["dis", "farneback"]
METHODS: tuple[str, ...] = ("dis", "farneback")


def _gray(image: Image) -> npt.NDArray[np.uint8]:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def flow(a: Image, b: Image, method: Method = "dis") -> Field:
    """Dense flow from `a` to `b`: pixel p of `a` moves to p + flow[p] in `b`."""
    ga, gb = _gray(a), _gray(b)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        patch = max(4, min(8, min(ga.shape) // 32))  # small frames: small patches, or an object's motion bleeds
        dis.setPatchSize(patch)  # into the background around it and hides its occlusions from the check
        dis.setPatchStride(patch // 2)
        return dis.calc(ga, gb, None)
    if method == "farneback":
        return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 4, 15, 3, 5, 1.2, 0)
    raise ValueError(f"unknown flow method {method!r}; use one of {METHODS}")


@functools.lru_cache(maxsize=4)
def grid(h: int, w: int) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Pixel coordinates, built once per size (at 4K, ~0.2 s: as long as a warp); read-only."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    xs.flags.writeable = ys.flags.writeable = False
    return xs, ys


def warp(image: np.ndarray, field: Field, cubic: bool = False, nearest: bool = False) -> np.ndarray:
    """Sample `image` at p + field[p] (edges replicated): pulls `prev` onto `curr`.

    Bilinear by default (the metric's convention); `cubic` blurs less, which matters when a
    dream is warped again every frame (bilinear resampling softens it a little each time);
    `nearest` moves values without mixing them (a mask carried every frame keeps its edges).
    """
    h, w = field.shape[:2]
    xs, ys = grid(h, w)
    mode = cv2.INTER_NEAREST if nearest else cv2.INTER_CUBIC if cubic else cv2.INTER_LINEAR
    return cv2.remap(image, xs + field[..., 0], ys + field[..., 1], mode, borderMode=cv2.BORDER_REPLICATE)


def consistent(backward: Field, forward: Field, alpha: float = 0.01, beta: float = 0.5) -> Mask:
    """Forward-backward check (Sundaram et al. 2010, as used by Ruder et al. 2016 and Lai et al. 2018).

    A pixel of `curr` is reliable when following its backward vector into `prev` and the
    forward vector found there brings it back (|f + b|^2 < alpha (|f|^2 + |b|^2) + beta) and
    the backward vector does not leave the frame.
    """
    h, w = backward.shape[:2]
    fw = warp(forward, backward)  # forward flow at the point each pixel came from
    total = fw + backward
    ok = (total**2).sum(-1) < alpha * ((fw**2).sum(-1) + (backward**2).sum(-1)) + beta
    xs, ys = grid(h, w)
    px, py = xs + backward[..., 0], ys + backward[..., 1]
    return ok & (px >= 0) & (px <= w - 1) & (py >= 0) & (py <= h - 1)


def track(prev: Image, curr: Image, method: Method = "dis", size: int | None = None) -> tuple[Field, Mask]:
    """Backward field of `curr` (warp `prev`-aligned images with it) and its reliability mask.

    With `size` (short side in pixels) smaller than the frames, flow and check run at that size
    and are scaled back up: at 4K, DIS at full size costs seconds and finds no better motion
    for a dream drawn at 540 px.
    """
    if prev.shape != curr.shape:
        raise ValueError(f"frames differ in size: {prev.shape} vs {curr.shape}")
    h, w = curr.shape[:2]
    k = size / min(h, w) if size and size < min(h, w) else 1.0
    if k < 1.0:
        small = (max(1, round(w * k)), max(1, round(h * k)))
        prev, curr = (cv2.resize(x, small, interpolation=cv2.INTER_AREA) for x in (prev, curr))
    backward = flow(curr, prev, method)
    reliable = consistent(backward, flow(prev, curr, method))
    if k < 1.0:
        backward = cv2.resize(backward, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(w / small[0])
        reliable = cv2.resize(reliable.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR) >= 0.5
    return backward, reliable
