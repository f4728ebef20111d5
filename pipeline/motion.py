"""Motion / feedback stages: how the last finished frame becomes the next frame's start.

`ZoomFeedback` is the fractal zoom: frame t starts from frame t-1's dream, scaled, rotated
and shifted about the centre (the border reflected, so no black wedges creep in), and the
dreamer then adds a few steps of new detail where the enlargement blurred it.

`SceneCut` and `FlowFeedback` are video stylisation: a hard cut drops the carry; otherwise frame
t starts from dream t-1 warped along the optical flow of the *input* frames (see `flow`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import cv2
import numpy as np

from . import flow, mask, steady
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


# --- video stylisation -------------------------------------------------------------
# Per frame: a cut check (a cut drops the carry, so the chain restarts cold), then the previous
# dream warped onto the new frame along flow computed on the *inputs*. The Dreamer that follows
# adds only a few steps to the carried dream (`dream.ShotDreamer`).


@dataclass(frozen=True)
class SceneCut:
    """Drop the carry at a hard cut (PySceneDetect's content score between the two inputs).

    Pairwise and stateless on purpose: a chunk of a video (Ray) can start anywhere, and a
    resumed render decides the same way the first one did.
    """

    threshold: float = 27.0  # ContentDetector's default; 0 turns cut detection off

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None or not self.threshold or not is_cut(frame.carry.source, frame.source, self.threshold):
            return frame
        return replace(frame, carry=None)


def is_cut(prev: Image, curr: Image, threshold: float = 27.0) -> bool:
    """True when `curr` starts a new shot after `prev` (scenedetect's ContentDetector on the pair)."""
    from scenedetect import ContentDetector, FrameTimecode  # imported here: a ~0.3 s import

    detector = ContentDetector(threshold=threshold, min_scene_len=1)
    cuts = []
    for i, image in enumerate((prev, curr)):  # the detector reads BGR
        cuts += detector.process_frame(FrameTimecode(i, fps=25.0), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return bool(cuts)


@dataclass(frozen=True)
class FlowFeedback:
    """Start frame t from dream t-1 warped along the input's flow, where that flow is reliable.

    `blend` is the share of the warped dream kept (SPEC's measurements: 0.95-1.0 with 2-3 warm
    steps keeps the excess flicker near 0.07 of independent dreaming; an unwarped 15 % blend
    stays at 0.82). With `residual`, what is carried is the dream's residual over its own input
    (warped), laid over the new input: lighting changes in the footage come through. Where the
    forward-backward check fails (occlusions, disocclusions, the frame edge) the new input is
    used instead, so a pan never smears the dream into streaks. (At blend 1.0 the dream would
    keep building up on a slow shot: `post.HoldStrength` holds it.)
    """

    blend: float = 1.0
    residual: bool = True
    method: flow.Method = "dis"
    feather: int = 1  # pixels: soften the reliability mask's edge so fallbacks leave no seam
    cubic: bool = True  # bicubic warp: a dream resampled every frame stays sharp
    evolve: float = 1.0  # share of the warm steps held pixels still take (`steady.step_weight`); 1: no weight
    flow_size: int | None = None  # short side flow runs at (None: the frame's)
    masks: tuple[int, ...] = ()  # channels of `Frame.masks` carried along the flow (they arrive as t-1's: `mask.Held`)

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None:
            return frame  # first frame or after a cut: the dreamer starts cold
        earlier = [(s, d) for _, s, d in steady.stored_frames(frame.carry, frame.index)]  # t-1, then long-term, as kept
        ours = frame.masks[..., self.masks] if self.masks and frame.masks is not None else None
        key = steady.key_of(frame.carry) if self.evolve == 0.0 else None  # evolving: each frame dreams on from the last
        residual, held, moved, covered, followed, keyed = steady.carried(
            frame.source, earlier, self.method, residual=self.residual, feather=self.feather, cubic=self.cubic,
            flow_size=self.flow_size, masks=ours, key=key)
        carried = frame.source.astype(np.float32) + residual * self.blend
        weight = steady.step_weight(held, self.evolve, residual, keyed) if self.evolve < 1.0 else None
        frame = replace(frame, image=np.clip(carried + 0.5, 0, 255).astype(np.uint8), weight=weight, followed=followed)
        if moved is None:
            return frame
        masks = frame.masks.copy()
        masks[..., self.masks] = mask.fill(moved, covered, frame.source)
        return replace(frame, masks=masks)
