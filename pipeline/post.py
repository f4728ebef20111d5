"""Post stages: what happens to a dreamed frame before the sinks."""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from .frames import Frame
from .steady import weighted


@dataclass(frozen=True)
class Blend:
    """Mix a share of the untouched source back into the dream (0: pure dream)."""

    share: float

    def __call__(self, frame: Frame) -> Frame:
        mixed = cv2.addWeighted(frame.image, 1.0 - self.share, frame.source, self.share, 0.0)
        return replace(frame, image=weighted(mixed, frame.image, frame.weight))  # held pixels were blended already


def lab_stats(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std of an RGB uint8 image in CIELAB (float: L 0-100, a/b about +-127)."""
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB).reshape(-1, 3)
    return lab.mean(0), lab.std(0)


def match_lab(image: np.ndarray, reference: np.ndarray, share: float = 1.0, spread: bool = True) -> np.ndarray:
    """Move `image`'s per-channel LAB mean and spread `share` of the way to `reference`'s.

    Brightness (L) and colour balance (a, b) are anchored; the dream's patterns stay, only
    their global statistics are pulled back. Works across sizes (only statistics are compared).
    """
    lab = cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    mean, std = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0)
    ref_mean, ref_std = lab_stats(reference)
    matched = (lab - mean) * (ref_std / np.maximum(std, 1e-3) if spread else 1.0) + ref_mean  # spread=False: mean only
    lab = lab + share * (matched - lab)
    rgb = cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_LAB2RGB)
    return np.clip(rgb * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Drift:
    """Drift control for feedback loops: keep colour statistics anchored to the source.

    Feedback piles dreams on dreams until colours wash out or brightness creeps. `share`
    (0-1) of a per-channel LAB mean/std match to `frame.source` is applied to each finished
    frame; `decay` then mixes that share of the source back in, so the accumulated dream
    fades unless the dreamer renews it (useful when the source is aligned with the frame, as
    in video; in a zoom the source is the start image, so keep decay small there).
    """

    share: float = 1.0
    decay: float = 0.0
    spread: bool = True  # False: anchor the mean only (video: the dream's extra contrast and colour are its look)

    def __call__(self, frame: Frame) -> Frame:
        image = match_lab(frame.image, frame.source, self.share, self.spread) if self.share else frame.image
        if self.decay:
            image = cv2.addWeighted(image, 1.0 - self.decay, cv2.resize(frame.source, image.shape[1::-1]), self.decay, 0.0)
        return replace(frame, image=weighted(image, frame.image, frame.weight))  # held pixels were anchored already


# --- video: hold the dream strength through a shot ---------------------------------


LIFT = 8.0  # most gain on a frame's new pixels (`HoldStrength` with a step weight)


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
    With a step weight (`frame.weight`: video holds what it carried), a lift is put on the
    weighted (new) pixels alone, up to `LIFT` times their residual: what was held stays put, and
    content that appeared this frame is brought to the shot's level (two warm steps alone leave
    it at a fifth of it, and held, it would stay that faint). Growth is pulled back everywhere:
    carried dreams grow by themselves (bicubic warps overshoot a little, +29 % over 36 frames of
    a zoom).
    """

    slack: float = 0.0
    boost: float = 1.0

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None:
            return frame
        target = _strength(frame.carry.dream, frame.carry.source) * (1.0 + self.slack)
        src = frame.source.astype(np.float32)
        residual = frame.image.astype(np.float32) - src
        now = float(np.abs(residual).mean())
        gain = min(target / now, self.boost) if now else 1.0
        if gain == 1.0:
            return frame
        scale: np.ndarray | float = gain
        if gain > 1.0 and frame.weight is not None:  # lift the new pixels alone
            w = frame.weight[..., None]
            movable = float((np.abs(residual) * w).mean())
            scale = 1.0 + (min(1.0 + now * (gain - 1.0) / movable, LIFT) - 1.0) * w if movable else 1.0
        held = np.clip(src + residual * scale + 0.5, 0, 255).astype(np.uint8)
        if gain < 1.0 and (rounded := _strength(held, frame.source)) > target:  # rounding adds ~0.3 %: aim again
            held = np.clip(src + residual * scale * (target / rounded) + 0.5, 0, 255).astype(np.uint8)
        return replace(frame, image=held)


def _strength(image: np.ndarray, source: np.ndarray) -> float:
    return float(np.abs(image.astype(np.int16) - source.astype(np.int16)).mean())
