"""The naive baseline of SPEC: the loop a typical DeepDream script writes.

Full network forward every step (through the classifier, no truncation), fp32, NCHW, a
forward hook to grab the layer, the same octave schedule, step rule and jitter as
dreamreel, so only the engineering differs. The network is the same weights in the
textbook port's form (pad-then-conv for TF "same" padding, separate BatchNorm, stock
autograd); its parameters are frozen, which favours the baseline.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F

from pipeline.ascent import Ascent, octave_sizes, resize
from pipeline.models import DreamNet
from pipeline.models.lite import SameConv2d


class TextbookSameConv2d(SameConv2d):
    """TF "same" padding as the common PyTorch ports write it: pad a copy, then convolve."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            pads += [total // 2, total - total // 2]
        return F.conv2d(F.pad(x, pads), self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def textbook(model: DreamNet) -> DreamNet:
    """A copy of `model` whose convolutions run the textbook way."""
    plain = copy.deepcopy(model)
    for m in plain.modules():
        if isinstance(m, SameConv2d):
            m.__class__ = TextbookSameConv2d
    return plain


def naive_dream(model: DreamNet, layer: str, img: torch.Tensor, a: Ascent, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    store: dict[str, torch.Tensor] = {}
    hook = model.stage(layer).register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    try:
        sizes = octave_sizes(*img.shape[-2:], a)
        shrunk = resize(img, sizes[0])
        out = shrunk
        for size in sizes:
            out = resize(out, size).clone()
            for _ in range(a.steps):
                dy, dx = torch.randint(-a.jitter, a.jitter + 1, (2,), generator=gen).tolist()
                x = torch.roll(out, (dy, dx), (2, 3)).detach().requires_grad_(True)
                model(x)  # the whole net, classifier included
                loss = store["a"][..., 2:-2, 2:-2].square().mean()
                loss.backward()
                g = torch.roll(x.grad, (-dy, -dx), (2, 3))
                out = (out + a.step_size * g / (g.abs().mean() + 1e-8)).clamp(0, 1)
            out = out + (resize(img, size) - resize(shrunk, size))
            shrunk = resize(img, size)
        return out.clamp(0, 1)
    finally:
        hook.remove()
