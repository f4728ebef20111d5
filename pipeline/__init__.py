"""dreamreel: DeepDream images and animations. Public API: render, load_preset, objectives."""

from .config import RenderConfig
from .errors import DreamreelError
from .objectives import Objective, channel, class_logit, layer, layers
from .presets import load as load_preset
from .renderer import render
from . import guided  # noqa: E402,F401  (registers guide/pixel/style; the nets register in `models`)

__all__ = ["DreamreelError", "Objective", "RenderConfig", "channel", "class_logit", "layer", "layers", "load_preset", "render"]
