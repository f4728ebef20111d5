"""Motion / feedback stages: what a frame inherits from the one before it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from . import flow
from .frames import Frame, Image


# --- video stylisation (issue 6) -------------------------------------------------------------
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
    used instead, so a pan never smears the dream into streaks. `strength`, when set, caps the
    carried dream's mean strength (grey levels): at carry 1.0 the dream would keep building up
    on a slow shot, so the carried residual is scaled down to that target (a proportional
    controller; the warm steps then add their share on top).
    """

    blend: float = 1.0
    residual: bool = True
    method: flow.Method = "dis"
    strength: float | None = None
    feather: int = 1  # pixels: soften the reliability mask's edge so fallbacks leave no seam
    cubic: bool = True  # bicubic warp: a dream resampled every frame stays sharp

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None:
            return frame  # first frame or after a cut: the dreamer starts cold
        field, reliable = flow.track(frame.carry.source, frame.source, self.method)
        source = frame.source.astype(np.float32)
        dream = flow.warp(frame.carry.dream, field, self.cubic).astype(np.float32)
        base = flow.warp(frame.carry.source, field, self.cubic).astype(np.float32) if self.residual else source
        residual = (dream - base) * self.blend
        if self.strength is not None:
            now = float(np.abs(residual).mean())
            if now > self.strength > 0:
                residual *= self.strength / now
        weight = reliable.astype(np.float32)
        if self.feather:
            k = 2 * self.feather + 1
            weight = cv2.blur(weight, (k, k)) * weight  # shrink-and-soften: only well-inside pixels keep it all
        carried = source + residual * weight[..., None]
        return replace(frame, image=np.clip(carried + 0.5, 0, 255).astype(np.uint8))
