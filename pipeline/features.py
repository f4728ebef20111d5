"""FeatureNet: the part of a `DreamNet` an objective needs, returning named activations.

The chain is cut after the stage that holds the deepest requested layer, so nothing past
it is computed. The kept stages are a private copy made fast for ascent: BatchNorm folded
into the convolutions (the net is frozen) and channels-last memory, which the CPU and CUDA
convolution kernels prefer. Layers nested inside a stage (e.g. ``layer3.2`` of a ResNet)
are captured with forward hooks on that copy.

Pseudo-layers let objectives compare the dream with images (guide, pixel, style):
``input`` is the image itself, ``reference`` the frame being dreamed (`View.reference`,
given by whoever runs the ascent; for a whole frame without one, the input unrolled), and
``LAYER@SOURCE`` the activation of LAYER on SOURCE (``reference`` or an image file),
computed without gradient. Both are aligned with the input: resized to the full frame,
rolled by the ascent's jitter and cut to the tile being computed (the `View` passed with
the call), so targets sit under the pixels they pull.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import replace
from functools import cache
from pathlib import Path

import torch
from torch import nn

from . import backprop
from .frames import to_tensor
from .models.net import DreamNet, fold_batchnorm
from .sources import read_image
from .view import INPUT, REFERENCE, WHOLE, View

Activations = dict[str, torch.Tensor]
Scalar = Callable[[Activations, View], torch.Tensor]  # an Objective: activations, their view -> the value to maximise
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def real_layer(name: str) -> str | None:
    """The network layer a (pseudo-)layer name needs, or None for ``input``/``reference``."""
    return None if name in (INPUT, REFERENCE) else name.split("@", 1)[0]


@cache
def _image_file(path: str, device: torch.device) -> torch.Tensor:
    """An image file as ``1x3xHxW`` in [0, 1] on `device`, read once (the same object each step)."""
    return to_tensor(read_image(Path(path)), device)


class FeatureNet(nn.Module):
    def __init__(self, model: DreamNet, layers: Iterable[str], fast: bool = True, precision: str = "fp32") -> None:
        """`precision`: the network's compute type (its private copy is cast once); activations
        come back fp32 and the image being dreamed stays fp32, so small steps are not rounded away."""
        super().__init__()
        self.dtype = PRECISIONS[precision] or torch.float32
        self.layers = frozenset(layers)
        self.real = frozenset(filter(None, map(real_layer, self.layers)))
        index = {layer: model.stage_of(layer) for layer in self.real}  # validates names
        last = max(index.values(), default=-1)
        self.model = model
        self.names = model.order[: last + 1]
        stages = [copy.deepcopy(model.stage(n)) for n in self.names]  # private: hooks and folding stay here
        if fast:
            stages = [fold_batchnorm(s).to(memory_format=torch.channels_last) for s in stages]
        stages = [s.to(self.dtype) for s in stages]  # weights cast once, not per call as autocast would
        self.stages = nn.ModuleList(stages)
        self.memory_format = torch.channels_last if fast else torch.contiguous_format
        on_cpu = all(p.device.type == "cpu" for p in self.stages.parameters())
        handable = fast and on_cpu and self.dtype in (torch.float32, torch.bfloat16) and self.real <= set(self.names)
        scale = 1 / model.std  # the chain's gradient comes back with respect to the raw image
        self.hand = backprop.Chain.of(self.names, self.stages, scale) if handable else None  # see value_and_grad
        self._scale, self._shift = scale, -model.mean / model.std  # normalise as one multiply-add
        self._acts: Activations = {}
        self._targets: dict[str, tuple] = {}  # memo: source -> (image, placement, aligned image, its activations)
        for layer in self.real - set(self.names):
            stage = self.names[index[layer]]
            inner = self.stages[index[layer]].get_submodule(layer[len(stage) + 1:])
            inner.register_forward_hook(lambda _m, _i, out, n=layer: self._acts.__setitem__(n, out))

    def forward(self, x: torch.Tensor, view: View = WHOLE) -> Activations:
        """`x`: ``Nx3xHxW`` RGB in [0, 1], placed in its frame by `view`. Returns {layer: activation}
        for the requested layers."""
        acts = self._run(x)
        if len(self.real) < len(self.layers):
            acts.update(self._pseudo(x, view))
        return acts

    def value_and_grad(self, fn: Scalar, x: torch.Tensor, view: View = WHOLE) -> tuple[torch.Tensor, torch.Tensor]:
        """``fn(self(x), view)`` and its gradient with respect to `x` (``Nx3xHxW``).

        On CPU, for nets `backprop` knows, the gradient is computed by hand through the chain
        (autograd only differentiates `fn` on the activations); otherwise by autograd. With region
        masks the view learns the input's size here, so they can be cut to it.
        """
        if view.masks is not None:
            view = replace(view, size=(x.shape[-2], x.shape[-1]))
        if self.hand is None or x.device.type != "cpu":
            x = x.detach().requires_grad_(True)
            value = fn(self(x, view), view)
            (grad,) = torch.autograd.grad(value, x)
            return grad, value.detach()
        return self._by_hand(fn, x, view)

    def _by_hand(self, fn: Scalar, x: torch.Tensor, view: View) -> tuple[torch.Tensor, torch.Tensor]:
        """`value_and_grad` through `self.hand`: autograd sees only `fn` on the activations (and the image)."""
        h = torch.empty(x.shape, dtype=self.dtype, memory_format=torch.channels_last)
        torch.addcmul(self._shift, x.detach(), self._scale, out=h)  # normalised, channels-last, cast, in one pass
        with torch.no_grad():
            acts, tape = self.hand.forward(h, self.real)
        if self.dtype != torch.float32:  # the objective and its gradient in fp32, as on the autograd path
            acts = {n: a.float() for n, a in acts.items()}
        value, grads = self._objective_grads(fn, acts, x, view)
        reached = {n: g.to(self.dtype) for n, g in grads.items() if g is not None and n in acts}
        with torch.no_grad():
            grad = self.hand.backward(reached, tape).float() if reached else torch.zeros_like(x)
            if grads.get(INPUT) is not None:
                grad += grads[INPUT]
        return grad, value.detach()

    def _objective_grads(self, fn: Scalar, acts: Activations, x: torch.Tensor,
                         view: View) -> tuple[torch.Tensor, dict[str, torch.Tensor | None]]:
        """`fn` and its gradient by activation (and by image, under ``input``, for pixel objectives):
        the objective's own `by_hand` where it has one and needs no pseudo-layer, else autograd."""
        pseudo = len(self.real) < len(self.layers)
        by_hand = getattr(fn, "by_hand", None)
        if by_hand is not None and not pseudo:
            with torch.no_grad():
                return by_hand(acts, view)
        leaves = {n: a.requires_grad_(True) for n, a in acts.items()}
        x = x.detach().requires_grad_(pseudo)
        value = fn({**leaves, **(self._pseudo(x, view) if pseudo else {})}, view)
        inputs = [*leaves.values(), *([x] if pseudo else [])]
        return value, dict(zip([*leaves, INPUT], torch.autograd.grad(value, inputs, allow_unused=True)))

    def _run(self, x: torch.Tensor) -> Activations:
        self._acts = acts = {}
        x = self.model.normalise(x).to(self.dtype).contiguous(memory_format=self.memory_format)
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            if name in self.real:
                acts[name] = x
        return {k: v.float() for k, v in acts.items()}

    def _pseudo(self, x: torch.Tensor, view: View) -> Activations:
        """``input``, ``reference`` and ``LAYER@SOURCE``, aligned with `x` (one forward per source)."""
        out: Activations = {INPUT: x} if INPUT in self.layers else {}
        sources = {n.split("@", 1)[1] for n in self.layers if "@" in n} | ({REFERENCE} if REFERENCE in self.layers else set())
        for source in sources:
            base = self._reference(x, view) if source == REFERENCE else _image_file(source, x.device)
            key = (tuple(x.shape), view.shift, view.window)
            hit = self._targets.get(source)
            if hit is None or hit[0] is not base or hit[1] != key:  # same image, same placement: reuse (jitter 0)
                image = aligned(base, x, view)
                acts: Activations = {}
                if any(n.endswith("@" + source) for n in self.layers):
                    with torch.no_grad():
                        acts = {f"{n}@{source}": a for n, a in self._run(image).items()}
                hit = self._targets[source] = (base, key, image, acts)
            out[REFERENCE if source == REFERENCE else f"@{source}"] = hit[2]
            out.update(hit[3])
        return {n: a for n, a in out.items() if n in self.layers}

    @staticmethod
    def _reference(x: torch.Tensor, view: View) -> torch.Tensor:
        """The view's reference; a whole frame without one is its own (the input, unrolled)."""
        if view.reference is not None:
            return view.reference
        if view.window is not None:
            raise ValueError("a tile's view needs the reference frame (View.reference)")
        return torch.roll(x, (-view.shift[0], -view.shift[1]), (2, 3)).detach()

    def close(self) -> None:
        """Drop cached targets (the hooks live on this object's private stage copies)."""
        self._targets.clear()

    def __enter__(self) -> FeatureNet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def aligned(image: torch.Tensor, x: torch.Tensor, view: View) -> torch.Tensor:
    """`image` resized to the full frame, rolled and cut like `x` (as `view` places it)."""
    return view.cut(image, tuple(x.shape[-2:]))
