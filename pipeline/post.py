"""Post stages: what happens to a dreamed frame before the sinks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .frames import Frame


@dataclass(frozen=True)
class Blend:
    """Mix a share of the untouched source back into the dream (0: pure dream)."""

    share: float

    def __call__(self, frame: Frame) -> Frame:
        mixed = cv2.addWeighted(frame.image, 1.0 - self.share, frame.source, self.share, 0.0)
        return replace(frame, image=mixed)


# --- video: hold the dream strength through a shot (issue 6) ---------------------------------


@dataclass(frozen=True)
class HoldStrength:
    """Keep a shot's dream strength where its cold first frame put it (a proportional controller).

    With the warped dream carried at ~1.0, every frame's warm steps add to what is already
    there, and on a slow shot the dream would keep building. The target needs no state of its
    own: it is the previous output's strength (mean |dream - source|, in the carry), so by
    induction the whole shot stays at its first frame's level. Only growth is pulled back
    (by scaling the dream's residual over its source); a frame that lost strength (warping
    softens the dream a little, fresh pixels after an occlusion start plain) is lifted back by
    at most `boost` per frame. `slack` lets the level creep up by that share per frame.
    """

    slack: float = 0.0
    boost: float = 1.0

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None:
            return frame
        target = _strength(frame.carry.dream, frame.carry.source) * (1.0 + self.slack)
        now = _strength(frame.image, frame.source)
        gain = min(target / now, self.boost) if now else 1.0
        if gain == 1.0 or (gain > 1.0 and now >= target):
            return frame
        src = frame.source.astype(np.float32)
        held = src + (frame.image.astype(np.float32) - src) * gain
        return replace(frame, image=np.clip(held + 0.5, 0, 255).astype(np.uint8))


def _strength(image: np.ndarray, source: np.ndarray) -> float:
    return float(np.abs(image.astype(np.int16) - source.astype(np.int16)).mean())
