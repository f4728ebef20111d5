"""Objectives that compare the dream with images: guide, pixel, style (SPEC: Objectives).

They use `FeatureNet`'s pseudo-layers (``input``, ``reference``, ``LAYER@SOURCE``), so they
are ordinary `Objective`s: they compose with ``+`` and ``*`` and cut the net like any other.
Every value is one to MAXIMISE: similarities as they are, distances and losses negated.

* ``guide(IMAGE, LAYER, metric)``: the dream's features at LAYER against the guide image's
  (the guide resized to the frame): ``"dot"`` (mean product), ``"l1"``/``"l2"`` (minus the
  mean absolute / squared difference). CADL's "guided hallucination".
* ``pixel(weight, metric)``: minus the L1/L2 distance to the frame being dreamed, so a guided
  dream keeps its source's layout.
* ``style(IMAGE, CONTENT, {LAYER: weight}, ...)``: neural style transfer (Gatys et al.):
  content loss at an early layer against the frame + Gram-matrix loss at later layers against
  the style image. Both are relative errors (divided by the target's mean square), so the
  weights mean the same on every net.

Image arguments are paths; a bare name that is not a file is looked up among the bundled
images in ``pipeline/data/`` (``chelsea.png``, ``swirls.png``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from . import models, objectives
from .errors import DreamreelError
from .objectives import Activations, Objective, _inner, _mean
from .view import INPUT, REFERENCE, View

if TYPE_CHECKING:  # parsing a guide/pixel/style objective needs no torch (config validates them); running one does
    import torch

DATA = Path(__file__).resolve().parent / "data"
Metric = Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]  # per element: its mean is the similarity
METRICS: dict[str, Metric] = {
    "dot": lambda x, g: x * g,
    "l1": lambda x, g: -(x - g).abs(),
    "l2": lambda x, g: -(x - g).square(),
}


def image_path(path: str, what: str = "guide image") -> str:
    """An existing image file as an absolute path (bundled images by bare name)."""
    p = Path(path).expanduser()
    if not p.is_file() and (DATA / path).is_file():
        p = DATA / path
    if not p.is_file():
        bundled = ", ".join(sorted(f.name for f in DATA.glob("*.png")))
        raise DreamreelError(f"{what} not found: {path}", f"check the path (bundled images: {bundled})")
    return str(p.resolve())


def _metric(metric: str, allowed: tuple[str, ...] = tuple(METRICS)) -> Metric:
    if metric not in allowed:
        raise DreamreelError(f"unknown metric {metric!r}", f"use one of {', '.join(allowed)}")
    return METRICS[metric]


def guide(image: str, layer: str, metric: str = "dot") -> Objective:
    """Similarity of the dream's features at `layer` to `image`'s (resized to the frame)."""
    key, compare = f"{layer}@{image_path(image)}", _metric(metric)
    return Objective(lambda a, v: _mean(compare(_inner(a[layer], v), _inner(a[key], v)), a[layer], v), frozenset({layer, key}),
                     f"guide({image!r}, {layer!r}, {metric!r})")


def pixel(weight: float = 1.0, metric: str = "l2") -> Objective:
    """Minus the pixel distance to the frame being dreamed: pulls the dream back to its source."""
    compare = _metric(metric, ("l1", "l2"))
    return Objective(lambda a, v: weight * _mean(compare(a[INPUT], a[REFERENCE]), a[INPUT], v), frozenset({INPUT, REFERENCE}),
                     f"pixel({weight:g}, {metric!r})", gain=abs(weight))


def gram(a: torch.Tensor) -> torch.Tensor:
    """Channel co-activations ``NxCxC``, normalised by the map's size (position-free: style)."""
    n, c, h, w = a.shape
    f = a.reshape(n, c, h * w)
    return f @ f.transpose(1, 2) / (c * h * w)


def _relative(x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return (x - target).square().mean() / (target.square().mean() + 1e-8)


def style(image: str, content: str, layers: Mapping[str, float], content_weight: float = 1.0,
          style_weight: float = 1.0) -> Objective:
    """Minus (content loss at `content` vs the frame + weighted Gram losses at `layers` vs `image`)."""
    if not layers:
        raise DreamreelError("style() needs at least one style layer", 'write e.g. {"blocks.2": 1, "blocks.6": 1}')
    src = image_path(image, "style image")
    content_key = f"{content}@{REFERENCE}"
    style_keys = {name: f"{name}@{src}" for name in layers}

    def fn(a: Activations, _view: View) -> torch.Tensor:
        loss = content_weight * _relative(a[content], a[content_key])
        for name, w in layers.items():
            loss = loss + style_weight * float(w) * _relative(gram(a[name]), gram(a[style_keys[name]]))
        return -loss

    gain = max(abs(content_weight), *(abs(style_weight * w) for w in layers.values()))
    return Objective(fn, frozenset({content, content_key, *layers, *style_keys.values()}),
                     f"style({image!r}, {content!r}, {dict(layers)})", gain=gain, local=False)


def guide_layer(model: str) -> str:
    """`--guide` without --guide-layer: the model's own guide layer."""
    if layer := models.facts(model).guide_layer:
        return layer
    raise DreamreelError(f"no default guide layer for model {model!r}", "give one with --guide-layer")


def style_text(image: str, model: str, content: str | None = None, layers: Mapping[str, float] | None = None,
               content_weight: float = 1.0, style_weight: float = 1.0) -> str:
    """The objective-language text of a style objective, with the model's default layers filled in."""
    if content is None or not layers:
        default_content, default_layers = models.facts(model).style()
        content, layers = content or default_content, layers or default_layers
    return (f"style({image!r}, {content!r}, {dict(layers)!r}, "
            f"content_weight={content_weight:g}, style_weight={style_weight:g})")


parse_weights = objectives.parse_weights  # the --style-layers syntax is that of --layers


def guide_text(image: str, layer: str, objective: str, share: float = 0.3, metric: str = "dot") -> str:
    """``guide(IMAGE, LAYER) + share * (objective)``: the `dream --guide` composition."""
    return f"guide({image!r}, {layer!r}, {metric!r}) + {share:g} * ({objective})"


objectives.register("guide", guide, 'guide("chelsea.png", "blocks.5")')
objectives.register("pixel", pixel, 'layer("blocks.5") + pixel(0.5, "l1")')
objectives.register("style", style, 'style("swirls.png", "blocks.2", {"stem": 1, "blocks.4": 1})')
