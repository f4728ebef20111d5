"""Where the input of one gradient call sits in the full frame, as one immutable value.

The ascent differentiates a rolled copy of the frame (jitter), and large frames tile by tile.
Objectives that compare with images (pixel, guide, style: pseudo-layers in `features`) need
their targets rolled and cut the same way, and the 2-px border trim of the mean-based
objectives applies only where a tile meets the frame's edge. A `View` carries all of that
along the call (`ascent.step` -> `ascent.gradient` -> `FeatureNet.value_and_grad` ->
the objective), so no object is mutated and no context variable is read.

Regions (`[[regions]]`) ride along the same way: `masks` are the frame's region masks, and
`objectives.region(k, ...)` picks one as the `weight` its means are weighted by, cut to the
input (`cut`) and brought to each activation map's size (`weight_on`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from .errors import DreamreelError

if TYPE_CHECKING:  # a View is made and read by torch code; this module itself stays light (config imports it)
    import torch

INPUT, REFERENCE = "input", "reference"  # pseudo-layers: the image being dreamed, and the frame it sits in (`features`)
Edges = tuple[bool, bool, bool, bool]  # (top, bottom, left, right): the sides that are the frame's own


@dataclass(frozen=True)
class View:
    reference: torch.Tensor | None = None  # 1x3xHxW in [0, 1]: the frame being dreamed (pixel/style targets)
    shift: tuple[int, int] = (0, 0)  # the roll applied to the full frame
    window: tuple[int, int, int, int] | None = None  # (y0, x0, H, W): a tile at (y0, x0) of an HxW frame
    edges: Edges = (True, True, True, True)
    masks: torch.Tensor | None = None  # 1xKxHxW in [0, 1], in the frame (any size): region k's share of each pixel
    weight: torch.Tensor | None = None  # 1x1xHxW in the frame: the mask an objective's means are weighted by
    size: tuple[int, int] | None = None  # the input's (h, w), set where the input is known (`FeatureNet`)

    def rolled(self, dy: int, dx: int) -> View:
        return replace(self, shift=(dy, dx))

    def tile(self, y0: int, y1: int, x0: int, x1: int, height: int, width: int) -> View:
        """The view of rows y0:y1, columns x0:x1 of a `height` x `width` frame."""
        return replace(self, window=(y0, x0, height, width), edges=(y0 == 0, y1 == height, x0 == 0, x1 == width))

    def within(self, k: int) -> View:
        """The view whose means are weighted by region `k`'s mask (0: outside every region, which
        is the whole picture when the frame has no regions)."""
        if self.masks is None and k == 0:
            return self
        count = 0 if self.masks is None else self.masks.shape[1]
        if not 0 <= k < count:
            raise DreamreelError(f"region({k}, ...) but the frame has {max(count - 1, 0)} region mask(s)",
                                 "give one [[regions]] entry per region index, counted from 1")
        return replace(self, weight=self.masks[:, k:k + 1])

    def cut(self, image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """`image` (in the frame, any size) resized to the full frame, rolled and cut like an input of
        `size` (h, w) that this view places."""
        from torch.nn import functional as F  # torch once a gradient is computed, not when a config is checked

        y0, x0, h, w = self.window or (0, 0, *size)
        if tuple(image.shape[-2:]) != (h, w):
            image = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        image = image.roll(self.shift, (2, 3)) if any(self.shift) else image
        return image[..., y0:y0 + size[0], x0:x0 + size[1]]

    def weight_on(self, act: torch.Tensor) -> torch.Tensor:
        """`weight` under an activation map of this view's input (``...xhxw``): 1x1xhxw, area-averaged."""
        from torch.nn import functional as F  # as in `cut`

        if self.weight is None or self.size is None:
            raise ValueError("weight_on needs a weight and the input's size (FeatureNet sets it)")
        return F.adaptive_avg_pool2d(self.cut(self.weight, self.size), tuple(act.shape[-2:]))


WHOLE = View()
