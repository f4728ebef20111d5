"""FeatureNet: the part of a `DreamNet` an objective needs, returning named activations.

The chain is cut after the stage that holds the deepest requested layer, so nothing past
it is computed. Layers nested inside a stage (e.g. ``layer3.2`` of a ResNet) are captured
with forward hooks that `close()` removes again.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn

from .models import DreamNet

Activations = dict[str, torch.Tensor]


class FeatureNet(nn.Module):
    def __init__(self, model: DreamNet, layers: Iterable[str]) -> None:
        super().__init__()
        self.layers = frozenset(layers)
        index = {layer: model.stage_of(layer) for layer in self.layers}  # validates names
        last = max(index.values(), default=-1)
        self.model = model
        self.names = model.order[: last + 1]
        self.stages = nn.ModuleList(model.stage(n) for n in self.names)
        self._acts: Activations = {}
        nested = [n for n in self.layers if n not in self.names]
        self._hooks = [
            model.net.get_submodule(n).register_forward_hook(
                lambda _m, _i, out, n=n: self._acts.__setitem__(n, out)
            )
            for n in nested
        ]

    def forward(self, x: torch.Tensor) -> Activations:
        """`x`: ``Nx3xHxW`` RGB in [0, 1]. Returns {layer: activation} for the requested layers."""
        self._acts = acts = {}
        x = self.model.normalise(x)
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            if name in self.layers:
                acts[name] = x
        return acts

    def close(self) -> None:
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def __enter__(self) -> FeatureNet:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
