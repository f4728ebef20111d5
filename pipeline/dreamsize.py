"""Dream size: the ascent runs at a fixed short side, the dream's residual comes back edge-aware.

A network sees patterns at its own scale in pixels, so a preset dreamed on a 4032x3024 photo
draws an eighth of the pattern size it draws at 512 px, and costs ~60x more. `AtDreamSize`
wraps any dreamer stage: the frame (and its source and step weight) is shrunk to `size` on the
short side, dreamed there, and only the dream's *residual* (dream - shrunk input) is brought
back to full resolution and laid over the full-size frame, so the input's own detail stays
sharp and a preview at `size` shows the same patterns as the full render.

The residual's upsampling is guided by the full-size frame (`upsample`): the part of the
residual that follows the frame locally (colour and brightness changes of an object) takes
the frame's sharp edges through a fast guided filter (He & Sun 2015, kornia's `guided_blur`
with `subsample`), and the rest (the dream's own texture) is upsampled bicubically, so none of
it is smoothed away. Plain bicubic upsampling (`edge_aware=False`) lets the dream's colour
bleed a few pixels across every object edge (`benchmarks.upsample` measures both).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np
import torch
from kornia.filters import guided_blur

from .frames import Frame, Image, Stage

RADIUS = 1  # guided filter window radius at dream size: 3x3 there
EPS = 1e-3  # in squared [0, 1] guide units: edges of ~0.03 contrast and more are kept


def small_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(w, h) with the short side `size`, aspect kept (even sides: encoders want them)."""
    k = size / min(height, width)
    return max(2, round(width * k / 2) * 2), max(2, round(height * k / 2) * 2)


def shrink(image: np.ndarray, wh: tuple[int, int]) -> np.ndarray:
    return cv2.resize(image, wh, interpolation=cv2.INTER_AREA)


def _tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]


@torch.no_grad()
def upsample(residual: np.ndarray, guide: Image, edge_aware: bool = True) -> np.ndarray:
    """A small ``hxwx3 float32`` residual (grey levels) at the size of `guide` (full-size ``HxWx3 uint8``).

    Edge-aware: ``bicubic(r - q) + fast_guided(r)``, where ``q`` is the residual's guided filter
    at dream size (the part a local linear model of the guide explains) and ``fast_guided``
    fits the same model at dream size and applies it to the full-size guide.
    """
    h, w = guide.shape[:2]
    bicubic = cv2.resize(residual, (w, h), interpolation=cv2.INTER_CUBIC)
    if not edge_aware:
        return bicubic
    k = max(1, round(h / residual.shape[0]))
    g_small = _tensor(shrink(guide, residual.shape[1::-1])) / 255.0
    q_small = guided_blur(g_small, _tensor(residual) / 255.0, 2 * RADIUS + 1, EPS)
    detail = residual - q_small[0].permute(1, 2, 0).numpy() * 255.0
    fast = guided_blur(_tensor(guide) / 255.0, _tensor(bicubic) / 255.0, k * (2 * RADIUS + 1), EPS, subsample=k)
    out = fast[0].permute(1, 2, 0).numpy() * 255.0
    out += cv2.resize(detail, (w, h), interpolation=cv2.INTER_CUBIC)
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
