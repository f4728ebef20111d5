"""Objectives: small values that say what to maximise, composable as ``a + 0.5 * b``.

An `Objective` maps the activations of the layers it names to a scalar to MAXIMISE (no sign
flips anywhere). Its `layers` tell `FeatureNet` where the network may be cut. The same
objectives are written in TOML and on the command line in a tiny expression language,
``layer("blocks.9") + 0.5 * channel("blocks.5", 12)``, parsed by `expr` (never eval).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import expr
from .errors import DreamreelError
from .schedule import Schedule
from .signals import NO_AUDIO, Signals, is_variable
from .view import WHOLE, View

if TYPE_CHECKING:  # objectives compute on tensors, yet parsing one needs no torch: config validates with this module
    import torch

Activations = Mapping[str, "torch.Tensor"]
Value = Callable[[Activations, View], "torch.Tensor"]  # activations, where they sit -> the value to maximise
Gradient = Callable[[Activations, View], tuple["torch.Tensor", dict[str, "torch.Tensor"]]]  # -> value, d value / d activation


MAX_GAIN = 1e6  # the largest factor a layer's value may be multiplied by (only ratios matter: the step is L1-normalised)


@dataclass(frozen=True)
class Objective:
    """`by_hand`, where an objective has one, gives the value and its gradient by layer without
    autograd; sums and multiples keep it. On the CPU path autograd over the objective alone
    costs 0.15-0.25 ms a step, ~3 % of a 256 px still.

    `gain` is the largest factor any of its values is multiplied by (weights, and multiples of
    multiples): `parse` refuses one past `MAX_GAIN`, since the dream computes in float32 and
    ``1e30 * (1e30 * layer(...))`` would come out infinite, the picture blank.
    `local`: its value is a mean over the picture, so a region's mask can weight it per pixel
    (`region`); a class logit or a Gram matrix looks at the whole picture and cannot be confined.
    `regions`: the region indices it reads (checked against the recipe's ``[[regions]]``)."""

    fn: Value  # scalar to MAXIMISE
    layers: frozenset[str]
    label: str
    by_hand: Gradient | None = None
    gain: float = 1.0
    local: bool = True
    regions: frozenset[int] = frozenset()

    def __call__(self, acts: Activations, view: View = WHOLE) -> torch.Tensor:
        return self.fn(acts, view)

    def __add__(self, other: Objective) -> Objective:
        if not isinstance(other, Objective):
            return NotImplemented
        both = _plus(self.by_hand, other.by_hand) if self.by_hand and other.by_hand else None
        return Objective(lambda a, v: self.fn(a, v) + other.fn(a, v), self.layers | other.layers, f"{self.label} + {other.label}",
                         both, max(self.gain, other.gain), self.local and other.local, self.regions | other.regions)

    def __sub__(self, other: Objective) -> Objective:
        return self + (-1.0) * other

    def __mul__(self, k: float) -> Objective:
        if not isinstance(k, (int, float)) or isinstance(k, bool):
            return NotImplemented
        scaled = _times(self.by_hand, k) if self.by_hand else None
        return Objective(lambda a, v: k * self.fn(a, v), self.layers, f"{k:g} * {self.label}", scaled, self.gain * abs(k),
                         self.local, self.regions)

    __rmul__ = __mul__

    def __truediv__(self, k: float) -> Objective:
        return self * (1.0 / k)

    def __neg__(self) -> Objective:
        return self * -1.0


def _plus(f: Gradient, g: Gradient) -> Gradient:
    def both(a: Activations, view: View) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        (v, d), (w, e) = f(a, view), g(a, view)
        return v + w, {n: d[n] + e[n] if n in d and n in e else d.get(n, e.get(n)) for n in d.keys() | e.keys()}

    return both


def _times(f: Gradient, k: float) -> Gradient:
    def scaled(a: Activations, view: View) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        v, d = f(a, view)
        return k * v, {n: k * g for n, g in d.items()}

    return scaled


def _inner(a: torch.Tensor, view: View = WHOLE, border: int = 2) -> torch.Tensor:
    """Drop a `border`-pixel frame (edge artefacts) where the map meets the frame's edge, unless
    the map is too small to spare it.

    A tile's other sides lie inside the frame (`View.edges`), and trimming them too left a band
    around every seam with no gradient: at 1080p with 512 px tiles the final objective was 85.3
    against 92.9 untiled, and 90.1 with the inner sides kept.
    """
    if a.ndim == 4 and a.shape[-1] > 2 * border + 1 and a.shape[-2] > 2 * border + 1:
        top, bottom, left, right = view.edges
        h, w = a.shape[-2:]
        return a[..., border * top:h - border * bottom, border * left:w - border * right]
    return a


def _weight(values: torch.Tensor, act: torch.Tensor, view: View) -> torch.Tensor:
    """The view's region weight under `values`, a map made from activation `act` (trimmed like it
    by `_inner` or not, one channel or all): the per-pixel weight of a region's mean."""
    w = view.weight_on(act)
    if values.shape[-2:] != w.shape[-2:]:
        w = _inner(w, view)
    return w if values.ndim == 4 else w[:, 0]


def _mean(values: torch.Tensor, act: torch.Tensor, view: View) -> torch.Tensor:
    """``values.mean()``, weighted per pixel by the view's region weight where one applies
    (`region`): divided by the map's size, not the weight's, so regions that share the picture
    add up to the whole picture's objective."""
    if view.weight is None:
        return values.mean()
    return (values * _weight(values, act, view)).mean()


def layer(name: str, weight: float = 1.0) -> Objective:
    """mean(activation^2) of one layer, a 2-px border excluded (the classic DeepDream loss)."""

    def by_hand(a: Activations, view: View) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        act = a[name].detach()
        inner, grad = _inner(act, view), act.new_zeros(act.shape)
        if view.weight is not None:  # a region: d/dx mean(w x^2) = 2wx/n
            w = _weight(inner, act, view)
            _inner(grad, view).copy_(inner * w).mul_(2.0 * weight / inner.numel())
            return weight * (inner.square() * w).mean(), {name: grad}
        _inner(grad, view).copy_(inner).mul_(2.0 * weight / inner.numel())  # d/dx mean(x^2) = 2x/n
        return weight * inner.square().mean(), {name: grad}

    label = f"layer({name!r})" if weight == 1 else f"layer({name!r}, {weight:g})"
    return Objective(lambda a, v: weight * _mean(_inner(a[name], v).square(), a[name], v), frozenset({name}), label, by_hand,
                     abs(weight))


def layers(weights: Mapping[str, float]) -> Objective:
    """Weighted sum of `layer` over several layers (the Keras lab's `layer_contributions`)."""
    if not weights:
        raise ValueError("layers() needs at least one layer")
    parts = [layer(n, float(w)) for n, w in weights.items()]
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return Objective(total.fn, total.layers, f"layers({dict(weights)})", total.by_hand, total.gain, total.local)


def channel(name: str, index: int) -> Objective:
    """Mean activation of one channel ("map N" of the MNIST carving series)."""

    def fn(a: Activations, view: View) -> torch.Tensor:
        act = a[name]
        if not 0 <= index < act.shape[1]:
            raise DreamreelError(f"channel {index} is out of range for {name!r} ({act.shape[1]} channels)",
                                 f"pick 0..{act.shape[1] - 1}")
        return _mean(_inner(act[:, index], view), act, view)

    return Objective(fn, frozenset({name}), f"channel({name!r}, {index})")


def class_logit(index: int, softmax: bool = False, layer: str = "logits") -> Objective:
    """One output class: its logit, or its softmax probability (e.g. ImageNet 107, jellyfish)."""

    def fn(a: Activations, _view: View) -> torch.Tensor:
        out = a[layer].flatten(1)
        if not 0 <= index < out.shape[1]:
            raise DreamreelError(f"class {index} is out of range ({out.shape[1]} classes)", f"pick 0..{out.shape[1] - 1}")
        return (out.softmax(1) if softmax else out)[:, index].mean()

    return Objective(fn, frozenset({layer}), f"class_logit({index}{', softmax=True' if softmax else ''})", local=False)


def region(k: int, objective: Objective) -> Objective:
    """`objective` weighted per pixel by region `k`'s mask (``[[regions]]`` entry k, counted from 1;
    0: the pixels outside every region), in the one ascent with the other regions: its means
    over the picture become means weighted by that mask, cut and rolled with the input (`View`)."""
    if not isinstance(k, int) or isinstance(k, bool) or k < 0:
        raise DreamreelError(f"region({k!r}, ...): the region is a whole number from 0", "write e.g. region(1, layer(\"blocks.4\"))")
    if not isinstance(objective, Objective):
        raise DreamreelError(f"region({k}, {objective!r}): the second argument is not an objective",
                             "write e.g. region(1, layer(\"blocks.4\"))")
    if not objective.local:
        raise DreamreelError(f"{objective.label} looks at the whole picture: a region cannot confine it",
                             "use a layer, channel, guide or pixel objective in a region (class and style only as the whole dream)")
    hand = objective.by_hand
    within = (lambda a, v: hand(a, v.within(k))) if hand else None
    return Objective(lambda a, v: objective.fn(a, v.within(k)), objective.layers, f"region({k}, {objective.label})", within,
                     gain=objective.gain, local=True, regions=objective.regions | {k})


# Factories the expression language may call; other modules add theirs with `register`.
FACTORIES: dict[str, Callable[..., Objective]] = {
    "layer": layer, "layers": layers, "channel": channel, "class_logit": class_logit, "region": region,
}
# One example per factory for docs and for the test sweep (Lite0 layer names).
EXAMPLES: dict[str, str] = {
    "layer": 'layer("blocks.5")',
    "layers": 'layers({"blocks.3": 0.5, "blocks.5": 1.0})',
    "channel": 'channel("blocks.5", 12)',
    "class_logit": "class_logit(107)",
    "region": 'region(0, layer("blocks.5"))',  # 0: outside every [[regions]] mask (all of a frame without any)
}


def register(name: str, factory: Callable[..., Objective], example: str) -> None:
    FACTORIES[name] = factory
    EXAMPLES[name] = example


Tracks = Mapping[str, float | str]  # name -> schedule: ``[dream] tracks``, read by name in the objective
_TRACK = re.compile(r"[a-z][a-z0-9_]{0,31}")


def check_track(name: str) -> str:
    """A track's name is read in the objective like ``t``: a short lower-case name no other name has."""
    taken = name in expr.MATH or name in FACTORIES or name in ("t", "sched") or is_variable(name)
    if not _TRACK.fullmatch(name) or taken:
        raise ValueError(f"track name {name!r} is {'taken' if taken else 'not a short lower-case name'}"
                         " (letters, digits, _; not t, a music name, math or a factory)")
    return name


def time_names(t: float, where: str = "objective", signals: Signals | None = None, tracks: Tracks | None = None) -> dict[str, object]:
    """Names for weights that change over an animation: ``t`` (frame index), math, the music
    (`signals`: ``s``, ``beat``, ``low``, ...; typical values when None), each of `tracks` (a named
    schedule's value at t) and ``sched("0:(1), 60:(0)")`` (a keyframed schedule's value at t), e.g.
    ``sched("0:(1), 90:(0)") * layer("blocks.3") + sched("0:(0), 90:(1)") * layer("blocks.12")``."""
    music = signals or NO_AUDIO

    def sched(text: str) -> float:
        return Schedule.parse(text, f"{where}: sched", music)(t)

    named = {name: Schedule.parse(track, f"dream.tracks.{name}", music)(t) for name, track in (tracks or {}).items()}
    return {**expr.MATH, "t": t, **music.at(t), **named, "sched": sched}


def parse(text: str, where: str = "objective", t: float = 0.0, signals: Signals | None = None,
          tracks: Tracks | None = None) -> Objective:
    """Parse the objective language at frame `t`; a bad expression is a one-line DreamreelError.
    Each factory takes only the types it declares (`expr.call`): ``layers([1])`` is refused there."""
    fix = f"write e.g. {EXAMPLES['layer']} + 0.5 * {EXAMPLES['channel']}"
    try:
        value = expr.evaluate(expr.parse(text), {**time_names(t, where, signals, tracks), **FACTORIES})
    except expr.ExprError as e:
        raise expr.fail(where, text, e, fix) from None
    if not isinstance(value, Objective):
        raise DreamreelError(f"{where}: {text[:200]!r} is not an objective", fix)
    if not value.gain <= MAX_GAIN:
        raise DreamreelError(f"{where}: {text[:200]!r} multiplies a layer's value by {value.gain:g}, more than {MAX_GAIN:g}",
                             "use smaller weights: only their ratios matter")
    return value


def parse_weights(text: str, flag: str) -> dict[str, float]:
    """``blocks.9=1.0,blocks.5=0.5`` -> {"blocks.9": 1.0, "blocks.5": 0.5}; a bare name weighs 1.

    The syntax of every layer=weight flag (--layers, --style-layers); `flag` names it in errors.
    """
    out: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, w = part.partition("=")
        try:
            out[name.strip()] = float(w) if w else 1.0
        except ValueError:
            raise DreamreelError(f"{flag}: bad weight {w!r} for {name!r}", "write e.g. blocks.9=1.0,blocks.5=0.5") from None
    return out


def parse_layers(text: str) -> str:
    """``blocks.9=1.0,blocks.5=0.5`` (the --layers shorthand) -> objective-language text."""
    weights = parse_weights(text, "--layers")
    if not weights:
        raise DreamreelError("--layers is empty", "write e.g. blocks.9=1.0,blocks.5=0.5")
    return f"layers({weights!r})"
