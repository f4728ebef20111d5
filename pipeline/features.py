"""FeatureNet: the part of a `DreamNet` an objective needs, returning named activations.

The chain is cut after the stage that holds the deepest requested layer, so nothing past
it is computed. The kept stages are a private copy made fast for ascent: BatchNorm folded
into the convolutions (the net is frozen) and channels-last memory, which the CPU and CUDA
convolution kernels prefer. Layers nested inside a stage (e.g. ``layer3.2`` of a ResNet)
are captured with forward hooks on that copy.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import nn

from .models import DreamNet, fold_batchnorm

Activations = dict[str, torch.Tensor]
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


class FeatureNet(nn.Module):
    def __init__(self, model: DreamNet, layers: Iterable[str], fast: bool = True, precision: str = "fp32") -> None:
        """`precision`: the network's compute type (its private copy is cast once); activations
        come back fp32 and the image being dreamed stays fp32, so small steps are not rounded away."""
        super().__init__()
        self.dtype = PRECISIONS[precision] or torch.float32
        self.layers = frozenset(layers)
        index = {layer: model.stage_of(layer) for layer in self.layers}  # validates names
        last = max(index.values(), default=-1)
        self.model = model
        self.names = model.order[: last + 1]
        stages = [copy.deepcopy(model.stage(n)) for n in self.names]  # private: hooks and folding stay here
        if fast:
            stages = [fold_batchnorm(s).to(memory_format=torch.channels_last) for s in stages]
        stages = [s.to(self.dtype) for s in stages]  # weights cast once, not per call as autocast would
        self.stages = nn.ModuleList(stages)
        self.memory_format = torch.channels_last if fast else torch.contiguous_format
        self._acts: Activations = {}
        for layer in self.layers - set(self.names):
            stage = self.names[index[layer]]
            inner = self.stages[index[layer]].get_submodule(layer[len(stage) + 1:])
            inner.register_forward_hook(lambda _m, _i, out, n=layer: self._acts.__setitem__(n, out))

    def forward(self, x: torch.Tensor) -> Activations:
        """`x`: ``Nx3xHxW`` RGB in [0, 1]. Returns {layer: activation} for the requested layers."""
        self._acts = acts = {}
        x = self.model.normalise(x).to(self.dtype).contiguous(memory_format=self.memory_format)
        for name, stage in zip(self.names, self.stages):
            x = stage(x)
            if name in self.layers:
                acts[name] = x
        return {k: v.float() for k, v in acts.items()}
