"""A net as dreamreel uses it: `DreamNet`, a frozen chain of named stages, and its `Facts`.

A `DreamNet` is a chain of named stages (``stem``, ``blocks.0`` ... ``head``, ``logits``): its
forward is stage after stage, so cutting it after the deepest layer an objective needs is a
slice (see `features.FeatureNet`). Its `Facts` are the one place a net's own numbers live
(native size, grey input, default carve/guide/style layers): no other module keeps a table
keyed by model name.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from ..errors import DreamreelError


@dataclass(frozen=True)
class Facts:
    """What a net knows about itself that renders need as defaults (None: the user must say)."""

    native: int  # the input size it was trained at (carving dreams tiles at this size)
    grey: bool = False  # its weights expect one grey channel (carving shows grey)
    carve_layer: str | None = None  # `dreamreel carve` without --layer
    guide_layer: str | None = None  # `--guide` without --guide-layer
    content_layer: str | None = None  # style transfer's content loss
    style_layers: tuple[tuple[str, float], ...] = ()  # style transfer's Gram losses (layer, weight)

    def style(self) -> tuple[str, dict[str, float]]:
        if self.content_layer is None or not self.style_layers:
            raise DreamreelError("this model has no default style layers",
                                 "give the layers yourself (--content-layer, --style-layers)")
        return self.content_layer, dict(self.style_layers)


class DreamNet(nn.Module):
    """A frozen net as an ordered chain of named stages, with its own input normalisation.

    `order` names the stages (dotted paths into `net`) in execution order; `listed` names
    every addressable layer (stages and, for some nets, sub-blocks inside a stage).
    Inputs are RGB in [0, 1]; `normalise` maps them to what the weights were trained on.
    `facts` holds what the net knows about itself (its native size among them).
    """

    def __init__(
        self,
        name: str,
        net: nn.Module,
        order: Sequence[str],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        facts: Facts,
        listed: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.net = net
        self.order = tuple(order)
        self.listed = tuple(listed or order)
        self.facts = facts
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1))
        self.eval().requires_grad_(False)  # frozen: grads on weights cost ~1.4x per step

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def stage(self, name: str) -> nn.Module:
        return self.net.get_submodule(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.normalise(x)
        for name in self.order:
            x = self.stage(name)(x)
        return x

    def stage_of(self, layer: str) -> int:
        """Index in `order` of the stage that computes `layer` (raises on unknown names)."""
        for i, stage in enumerate(self.order):
            if layer == stage or layer.startswith(stage + "."):
                if layer in self.listed or layer == stage:
                    return i
        close = difflib.get_close_matches(layer, self.listed, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DreamreelError(
            f"unknown layer {layer!r} for model {self.name!r}",
            f"{hint}use `dreamreel layers {self.name}` to see the names",
        )

    @torch.no_grad()
    def channels(self) -> list[tuple[str, int]]:
        """(layer, channel count) for every listed layer, found by one small forward pass."""
        found: dict[str, int] = {}
        hooks = [
            self.net.get_submodule(n).register_forward_hook(
                lambda _m, _i, out, n=n: found.__setitem__(n, out.shape[1])
            )
            for n in self.listed
        ]
        try:
            size = self.facts.native
            self(torch.zeros(1, 3, size, size, device=self.mean.device))
        finally:
            for h in hooks:
                h.remove()
        return [(n, found[n]) for n in self.listed]


@torch.no_grad()
def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold each (conv, BatchNorm) pair a module declares in `fuse_pairs` into the conv, in place.

    The nets are frozen, so eval-mode BatchNorm is an affine map per channel: folding it
    into the preceding conv's weight and bias removes a full pass over every activation,
    forward and backward. Modules without `fuse_pairs` are left as they are.
    """
    for m in module.modules():
        for conv_name, bn_name in getattr(m, "fuse_pairs", ()):
            conv, bn = getattr(m, conv_name, None), getattr(m, bn_name, None)
            if conv is None or not isinstance(bn, nn.BatchNorm2d):
                continue
            scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            bias = bn.bias - bn.running_mean * scale
            if conv.bias is not None:
                bias = bias + conv.bias * scale
            conv.weight.mul_(scale.view(-1, *([1] * (conv.weight.ndim - 1))))
            conv.bias = nn.Parameter(bias, requires_grad=False)
            setattr(m, bn_name, nn.Identity())
    return module


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from a local file, with a clear error if it is missing or not one."""
    if not path.is_file():
        raise DreamreelError(f"weights file not found: {path}", "check the path or put the file there")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many kinds here
        raise DreamreelError(
            f"cannot read weights {path}: {type(e).__name__}", "give a PyTorch state-dict file (.pth)"
        ) from None
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise DreamreelError(f"{path} holds no state dict", "give a PyTorch state-dict file (.pth)")
    return sd
