"""Dream size: the ascent runs at a fixed short side, the dream's residual comes back edge-aware.

A network sees patterns at its own scale in pixels, so a preset dreamed on a 4032x3024 photo
draws an eighth of the pattern size it draws at 512 px, and costs ~60x more. `AtDreamSize`
wraps any dreamer stage: the frame (and its source and step weight) is shrunk to `size` on the
short side, dreamed there, and only the dream's *residual* (dream - shrunk input) is brought
back to full resolution and laid over the full-size frame, so the input's own detail stays
sharp and a preview at `size` shows the same patterns as the full render.

The residual's upsampling is guided by the full-size frame (`upsample`): the part of the
residual that follows the frame locally (colour and brightness changes of an object) takes
the frame's sharp edges through fast guided upsampling (He & Sun 2015; the coefficients at
dream size, applied to the full-size luma: 0.6 s at 4K where kornia's `guided_blur` with
`subsample`, which interpolates 12 coefficient maps in torch, took 7 s), and what it smoothed away (the dream's own texture) is put back
bicubically (one back-projection step), so the dream keeps its detail. Plain bicubic upsampling (`edge_aware=False`) lets the dream's colour
bleed a few pixels across every object edge (`benchmarks.upsample` measures both).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
from .frames import Frame, Image, Stage

RADIUS = 1  # guided filter window radius at dream size: 3x3 there
EPS = 1e-3  # in squared [0, 1] luma units: edges of ~0.03 contrast and more are kept


def small_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(w, h) with the short side `size`, aspect kept (even sides: encoders want them)."""
    k = size / min(height, width)
    return max(2, round(width * k / 2) * 2), max(2, round(height * k / 2) * 2)


def shrink(image: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    return cv2.resize(image, wh, interpolation=cv2.INTER_AREA)


def _box(x: np.ndarray) -> np.ndarray:
    return cv2.boxFilter(x, -1, (2 * RADIUS + 1, 2 * RADIUS + 1), borderType=cv2.BORDER_REFLECT)


def guided(residual: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Fast guided upsampling (He & Sun 2015): a local linear model ``residual ~ a * grey + b``
    fitted at the residual's size (3x3 windows) and applied to the full-size `grey` ([0, 1])."""
    h, w = grey.shape
    g = shrink(grey, residual.shape[1::-1])
    mg, mp = _box(g), _box(residual)
    cov = _box(g[..., None] * residual) - mg[..., None] * mp
    a = cov / (_box(g * g) - mg * mg + EPS)[..., None]
    b = mp - a * mg[..., None]
    up = lambda x: cv2.resize(_box(x), (w, h), interpolation=cv2.INTER_LINEAR)  # noqa: E731
    return up(a) * grey[..., None] + up(b)


def upsample(residual: np.ndarray, guide: Image, edge_aware: bool = True) -> np.ndarray:
    """A small ``hxwx3 float32`` residual (grey levels) at the size of `guide` (full-size ``HxWx3 uint8``).

    Edge-aware: ``F + bicubic(r - shrink(F))``, where ``F`` is the fast guided upsampling of
    the residual by the frame's luma (sharp where the frame has edges, smooth elsewhere); the
    second term puts back what the local model smoothed away (one back-projection step), so the
    result shrunk to dream size is the residual again and the dream keeps its texture.
    """
    h, w = guide.shape[:2]
    if not edge_aware:
        return cv2.resize(residual, (w, h), interpolation=cv2.INTER_CUBIC)
    grey = cv2.cvtColor(guide, cv2.COLOR_RGB2GRAY).astype(np.float32) * np.float32(1 / 255)
    out = guided(residual, grey)
    lost = residual - shrink(out, residual.shape[1::-1])
    out += cv2.resize(lost, (w, h), interpolation=cv2.INTER_CUBIC)
    return out


@dataclass(frozen=True)
class AtDreamSize:
    """Run `inner` (a dreamer stage) at `size` on the short side; frames already that small pass straight in."""

    inner: Stage
    size: int
    edge_aware: bool = True

    def __call__(self, frame: Frame) -> Frame:
        h, w = frame.image.shape[:2]
        if min(h, w) <= self.size:
            return self.inner(frame)
        wh = small_size(h, w, self.size)
        small = shrink(frame.image, wh)
        weight = None if frame.weight is None else shrink(frame.weight, wh)
        out = self.inner(replace(frame, image=small, source=shrink(frame.source, wh), weight=weight))
        residual = upsample(out.image.astype(np.float32) - small, frame.image, self.edge_aware)
        image = np.clip(frame.image + residual + 0.5, 0, 255).astype(np.uint8)
        return replace(out, image=image, source=frame.source, weight=frame.weight)


def at_dream_size(stage: Stage, size: int | None) -> Stage:
    """`stage` as configured: wrapped when a dream size is set."""
    return stage if size is None else AtDreamSize(stage, size)
