"""dreamreel: DeepDream images and animations. Public API: render, load_preset, objectives.

Importing the package (as every `pipeline.X` import does) loads recipes, presets and the
objective language only, no torch: commands that dream nothing answer at once. `render`,
which pulls in torch, OpenCV and the media layer, is imported on first use.
"""

from __future__ import annotations

from typing import Any

from .config import RenderConfig
from .errors import DreamreelError
from .objectives import Objective, channel, class_logit, layer, layers
from .presets import load as load_preset
from . import guided  # noqa: E402,F401  (registers guide/pixel/style; the nets register in `models`)

__all__ = ["DreamreelError", "Objective", "RenderConfig", "channel", "class_logit", "layer", "layers", "load_preset", "render"]


def __getattr__(name: str) -> Any:
    """``pipeline.render`` on first use: the render path's imports take seconds."""
    if name == "render":
        from .renderer import render

        return render
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
