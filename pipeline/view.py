"""Where the input of one gradient call sits in the full frame, as one immutable value.

The ascent differentiates a rolled copy of the frame (jitter), and large frames tile by tile.
Objectives that compare with images (pixel, guide, style: pseudo-layers in `features`) need
their targets rolled and cut the same way, and the 2-px border trim of the mean-based
objectives applies only where a tile meets the frame's edge. A `View` carries all of that
along the call (`ascent.step` -> `ascent.gradient` -> `FeatureNet.value_and_grad` ->
the objective), so no object is mutated and no context variable is read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

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

    def rolled(self, dy: int, dx: int) -> View:
        return replace(self, shift=(dy, dx))

    def tile(self, y0: int, y1: int, x0: int, x1: int, height: int, width: int) -> View:
        """The view of rows y0:y1, columns x0:x1 of a `height` x `width` frame."""
        return replace(self, window=(y0, x0, height, width), edges=(y0 == 0, y1 == height, x0 == 0, x1 == width))


WHOLE = View()
