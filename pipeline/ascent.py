"""Gradient ascent on an image: one L1-normalised step, and octaves with detail re-injection.

Works on ``1x3xHxW`` float tensors in [0, 1] and knows nothing of files. Every random draw
(roll jitter, noise) comes from the `torch.Generator` passed in, so a seed fixes the result
on a given device and thread count.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from .config import DreamConfig, VideoConfig
from .features import FeatureNet
from .objectives import Objective
from .view import WHOLE, View

OnStep = Callable[[torch.Tensor, torch.Tensor], None]  # (image, objective value) after a step


@dataclass(frozen=True)
class Ascent:
    """Parameters of octave ascent.

    `octaves` counts levels in all, the full size included: ``octaves=1`` dreams only at full
    size, ``octaves=4`` at 1/scale^3, 1/scale^2, 1/scale and 1. Levels whose short side would
    fall below `min_size` pixels are skipped.
    """

    octaves: int = 4
    octave_scale: float = 1.4
    steps: int = 10
    step_size: float = 0.015
    jitter: int = 32
    tile: int = 512
    noise: float = 0.0  # gaussian sigma per octave, in [0, 1] units (the lab used ~0.05)
    salt_pepper: float = 0.0  # share of pixels set to 0 or 1 per octave (~0.002)
    max_loss: float | None = None  # stop an octave's steps once the objective exceeds this
    min_size: int = 32

    @classmethod
    def of(cls, cfg: DreamConfig) -> Ascent:
        """The one place a dream config becomes an ascent (every field that the config has)."""
        return cls(octaves=cfg.octaves, octave_scale=cfg.octave_scale, steps=cfg.steps, step_size=cfg.step_size,
                   jitter=cfg.jitter, tile=cfg.tile, noise=cfg.noise, salt_pepper=cfg.salt_pepper, max_loss=cfg.max_loss)

    def warm(self, v: VideoConfig) -> Ascent:
        """A carried video frame's ascent: few steps, usually at full size only, usually a smaller
        step; the rest (jitter, tiles, noise, early stop) as the cold frames'."""
        return replace(self, octaves=v.octaves_warm, steps=v.steps_warm, step_size=v.step_size_warm or self.step_size)


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if tuple(x.shape[-2:]) == size:
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def octave_sizes(height: int, width: int, a: Ascent) -> list[tuple[int, int]]:
    """Sizes from the smallest octave to full size."""
    sizes = []
    for i in range(a.octaves - 1, -1, -1):
        s = a.octave_scale**i
        h, w = round(height / s), round(width / s)
        if min(h, w) >= a.min_size or i == 0:
            sizes.append((h, w))
    return sizes


def _spans(n: int, tile: int) -> list[tuple[int, int]]:
    """Split 0..n into ceil(n / tile) near-equal spans (no sliver tiles)."""
    k = max(1, math.ceil(n / tile))
    cuts = [round(i * n / k) for i in range(k + 1)]
    return list(zip(cuts[:-1], cuts[1:]))


def gradient(features: FeatureNet, objective: Objective, x: torch.Tensor, tile: int,
             view: View = WHOLE) -> tuple[torch.Tensor, torch.Tensor]:
    """d objective / d x, tile by tile when `x` is larger than `tile` (memory stays bounded).

    Each tile's objective is weighted by its share of the image, so the tiled sum matches the
    objective of the whole frame for the mean-based objectives; their edge trim applies where a
    tile meets the frame's edge, not along the seams (`View.tile`).
    """
    h, w = x.shape[-2:]
    if h <= tile and w <= tile:
        return features.value_and_grad(objective, x, view)
    grad = torch.empty_like(x)
    total = x.new_zeros(())
    for y0, y1 in _spans(h, tile):
        for x0, x1 in _spans(w, tile):
            share = (y1 - y0) * (x1 - x0) / (h * w)
            grad[..., y0:y1, x0:x1], value = features.value_and_grad(objective * share, x[..., y0:y1, x0:x1],
                                                                     view.tile(y0, y1, x0, x1, h, w))
            total += value
    return grad, total


def step(features: FeatureNet, objective: Objective, img: torch.Tensor, a: Ascent, gen: torch.Generator,
         view: View, mask: torch.Tensor | None = None) -> torch.Tensor:
    """One ascent step in place: roll jitter, gradient, L1 normalisation, clamp. Returns the value.

    `view.reference` is the frame being dreamed (pixel/guide/style targets); the roll is added here.
    `mask` (1x1xHxW, or None for 1) scales the step per pixel: video holds what it carried, and a
    user's mask keeps what is black. With region masks (`view.masks`) each region's gradient is
    normalised by its own mean, so a region dreaming a layer of small gradients is not starved."""
    dy, dx = (torch.randint(-a.jitter, a.jitter + 1, (2,), generator=gen).tolist() if a.jitter else (0, 0))
    rolled = torch.roll(img, (dy, dx), (2, 3))  # random tile offsets come with the roll
    grad, value = gradient(features, objective, rolled, a.tile, view.rolled(dy, dx))  # targets roll with the image
    update = torch.roll(grad, (-dy, -dx), (2, 3))
    if view.masks is not None:
        scale = by_region(update, view.masks)
        img.addcmul_(update, scale if mask is None else scale * mask, value=a.step_size).clamp_(0.0, 1.0)
        return value
    l1 = grad.abs().sum() / grad.numel() + 1e-8  # mean |grad|, rolled or not (~3x vector_norm's speed on CPU)
    img.addcdiv_(update if mask is None else update * mask, l1, value=a.step_size).clamp_(0.0, 1.0)  # no host sync
    return value


def by_region(grad: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """1x1xHxW: per pixel, 1 / each region's mean |grad| over its mask (1xKxHxW), mixed by the
    masks' shares of that pixel. One region over the whole frame is the plain L1 normalisation;
    a region with no pixels, and pixels in no region, get none of the step (`mask` gives the
    step's share: this only normalises)."""
    masks = resize(masks, tuple(grad.shape[-2:]))
    area = masks.sum((2, 3))  # 1xK
    mean = (grad.abs().mean(1, keepdim=True) * masks).sum((2, 3)) / area.clamp_min(1e-6) + 1e-8
    inverse = torch.where(area > 1e-3, 1.0 / mean, torch.zeros_like(mean))
    return (masks * inverse[..., None, None]).sum(1, keepdim=True) / masks.sum(1, keepdim=True).clamp_min(1e-6)


def ascend(features: FeatureNet, objective: Objective, img: torch.Tensor, a: Ascent, gen: torch.Generator,
           steps: int, on_step: OnStep | None = None, reference: torch.Tensor | None = None,
           mask: torch.Tensor | None = None, regions: torch.Tensor | None = None) -> torch.Tensor:
    """`steps` ascent steps on a copy of `img`, stopping early past `a.max_loss`.

    `reference`: the frame being dreamed, for objectives that compare with it (default: `img`).
    `regions`: 1xKxHxW region masks (0: outside every region) that `objectives.region` weights by."""
    view = View(reference=img if reference is None else reference, masks=regions)
    img = img.clone()
    for _ in range(steps):
        value = step(features, objective, img, a, gen, view, mask)
        if on_step:
            on_step(img, value)
        if a.max_loss is not None and value.item() > a.max_loss:
            break
    return img


def add_noise(img: torch.Tensor, a: Ascent, gen: torch.Generator) -> torch.Tensor:
    """Gaussian and salt-and-pepper noise that seed new structures (the VGG16 lab's trick)."""
    if a.noise:
        img = img + a.noise * torch.randn(img.shape, generator=gen).to(img.device)
    if a.salt_pepper:
        u = torch.rand(img.shape[-2:], generator=gen).to(img.device)
        img = torch.where(u < a.salt_pepper / 2, 0.0, torch.where(u > 1 - a.salt_pepper / 2, 1.0, img))
    return img.clamp(0.0, 1.0)


def octaves(features: FeatureNet, objective: Objective, img: torch.Tensor, a: Ascent, gen: torch.Generator,
            steps: int | None = None, on_step: OnStep | None = None, mask: torch.Tensor | None = None,
            regions: torch.Tensor | None = None) -> torch.Tensor:
    """DeepDream over octaves, smallest first; after each, the detail lost by downscaling returns.

    ``img += resize(orig, shape) - resize(resize(orig, smaller), shape)``, as in the Keras lab.
    `mask` (the step's share per pixel) and `regions` are resized to each octave.
    """
    steps = a.steps if steps is None else steps
    orig = img  # also the reference of pixel/guide/style objectives, at every octave
    sizes = octave_sizes(*img.shape[-2:], a)
    shrunk = resize(orig, sizes[0])
    out = shrunk
    for size in sizes:
        level_mask = None if mask is None else resize(mask, size)
        level_regions = None if regions is None else resize(regions, size)
        out = ascend(features, objective, add_noise(resize(out, size), a, gen), a, gen, steps, on_step, reference=orig,
                     mask=level_mask, regions=level_regions)
        here = resize(orig, size)  # the next level's `shrunk`: one antialiased resize per level, not two
        out = out + (here - resize(shrunk, size))  # zero at the first octave
        shrunk = here
    return out.clamp_(0.0, 1.0)
