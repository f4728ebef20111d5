"""Input gradients by hand for the EfficientNet-Lite chain on CPU, without an autograd graph.

DeepDream needs one gradient: d objective / d image, through a frozen net. Autograd records a
graph and runs PyTorch's generic convolution backward; on a 2-core CPU a still took ~1.3x
as long that way at 256 px and ~1.5x at 512 px (`make bench`, before and after this module). Each stage here has a
`forward` that keeps what its `backward` needs (the ReLU6 outputs, which are also the masks)
and a `backward` that maps the output gradient to the input gradient:

- 1x1 convolutions are matrix products on the channels-last rows, through oneDNN's matmul
  with the bias and ReLU6 fused (about 1.8x `torch.addmm` on this CPU); their input gradient
  is the product with the transposed weight.
- stride-1 depthwise convolutions: the input gradient is the same convolution with the taps
  flipped (oneDNN's generic depthwise backward is ~3.8x slower).
- stride-2 depthwise convolutions: `aten.convolution_backward`, asking for the input only.
- the stride-2 stem on 3 channels: as a space-to-depth (pixel unshuffle) stride-1 2x2
  convolution, whose input gradient is a plain convolution and one copy back to pixels (~2x
  faster than the strided backward).

`Chain.of` returns None for stages it does not know (the zoo nets), and FeatureNet falls back
to autograd; tests check both give the same gradient.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .models import MBConv, SameConv2d, _Stem

Saved = Any  # what a stage's forward keeps for its backward
_LINEAR = getattr(torch.ops.mkldnn, "_linear_pointwise", None) if torch.backends.mkldnn.is_available() else None
_PACK = getattr(torch.ops.mkldnn, "_reorder_linear_weight", None) if _LINEAR is not None else None


def matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu6: bool) -> torch.Tensor:
    """``relu6?(x @ weight.T + bias)`` for 2-d `x`; oneDNN fuses bias and clamp into the product."""
    if _LINEAR is not None:
        return _LINEAR(x, weight, bias, "hardtanh" if relu6 else "none", [0.0, 6.0] if relu6 else [], "")
    y = torch.addmm(bias, x, weight.t()) if bias is not None else x @ weight.t()
    return y.clamp_(0.0, 6.0) if relu6 else y


def relu6_backward(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """Zero `grad` (in place) where the ReLU6 output `out` was clamped."""
    return torch.ops.aten.hardtanh_backward.grad_input(grad, out, 0.0, 6.0, grad_input=grad)


class Pointwise:
    """1x1 convolution on a channels-last ``NxCxHxW`` tensor as a product of its ``(NHW)xC`` rows.

    With oneDNN, each weight is reordered once per row count into the layout its kernel wants
    (5-15 % faster on small octaves than reordering on every call).
    """

    def __init__(self, conv: nn.Conv2d) -> None:
        w = conv.weight.detach()[:, :, 0, 0]
        self.weight, self.weight_t, self.bias = w.contiguous(), w.t().contiguous(), conv.bias
        self._packed: dict[tuple[bool, int], torch.Tensor] = {}  # (transposed, rows) -> oneDNN layout

    def _rows(self, x: torch.Tensor, transposed: bool, relu6: bool = False) -> torch.Tensor:
        n, c, h, w = x.shape
        rows = n * h * w
        weight = self.weight_t if transposed else self.weight
        if _LINEAR is not None and _PACK is not None:
            if (transposed, rows) not in self._packed:
                self._packed[transposed, rows] = _PACK(weight, rows)
            weight = self._packed[transposed, rows]
        y = matmul(x.permute(0, 2, 3, 1).reshape(rows, c), weight, None if transposed else self.bias, relu6)
        return y.view(n, h, w, -1).permute(0, 3, 1, 2)  # channels-last again, no copy

    def forward(self, x: torch.Tensor, relu6: bool = False) -> torch.Tensor:
        return self._rows(x, False, relu6)

    def backward(self, grad: torch.Tensor) -> torch.Tensor:
        return self._rows(grad.contiguous(memory_format=torch.channels_last), True)


class Depthwise:
    """Stride-1 "same" depthwise convolution; its input gradient is the flipped-kernel convolution."""

    def __init__(self, conv: SameConv2d) -> None:
        self.weight, self.bias, self.padding = conv.weight.detach(), conv.bias, conv.padding
        self.flipped = self.weight.flip(2, 3).contiguous()
        self.groups = conv.groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight, self.bias, 1, self.padding, 1, self.groups)

    def backward(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(grad, self.flipped, None, 1, self.padding, 1, self.groups)


class Strided:
    """Stride-2 TF-"same" convolution (uneven padding as `SameConv2d`), kernels kept per input size."""

    def __init__(self, conv: SameConv2d) -> None:
        self.conv, self.weight = conv, conv.weight.detach()
        self._plans: dict[tuple[int, int], tuple[torch.Tensor, tuple[int, int]]] = {}

    def plan(self, size: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
        """The kernel (one leading zero tap on an uneven axis) and symmetric padding for `size`."""
        if size not in self._plans:
            c = self.conv
            grow, pads = [], []
            for n, k, s in zip(size, c.kernel_size, c.stride):
                total = max((math.ceil(n / s) - 1) * s + k - n, 0)
                grow.append(total % 2)
                pads.append(total - total // 2)
            w = F.pad(self.weight, [grow[1], 0, grow[0], 0]) if any(grow) else self.weight
            self._plans[size] = (w.contiguous(), (pads[0], pads[1]))
        return self._plans[size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, pads = self.plan(tuple(x.shape[-2:]))
        return F.conv2d(x, w, self.conv.bias, self.conv.stride, pads, 1, self.conv.groups)

    def backward(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        w, pads = self.plan(tuple(x.shape[-2:]))
        c = self.conv
        return torch.ops.aten.convolution_backward(
            grad, x, w, None, c.stride, pads, c.dilation, False, (0, 0), c.groups, (True, False, False))[0]


class SpaceToDepth(Strided):
    """A dense stride-2 convolution (kernel up to 4) whose input gradient goes through space-to-depth.

    On the input padded to an even size and unshuffled into 4x the channels, the convolution is
    a stride-1 2x2 one; its input gradient is a full stride-1 convolution of the output gradient
    with those taps flipped, whose channels, ordered (row parity, column parity, channel), are
    then laid back out as pixels of a channels-last image and cropped to the input.
    """

    def __init__(self, conv: SameConv2d) -> None:
        super().__init__(conv)
        if conv.groups != 1 or conv.stride != (2, 2) or max(conv.kernel_size) > 4:
            raise ValueError("SpaceToDepth needs a dense stride-2 convolution with kernel <= 4")
        kh, kw = self.conv.kernel_size
        w = F.pad(self.weight, [4 - kw, 0, 4 - kh, 0])  # 4x4, the real taps last
        o, i = w.shape[:2]
        w2 = w.view(o, i, 2, 2, 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(o, 4 * i, 2, 2)  # [o, (dy, dx, c), a, b]
        self.taps = w2.transpose(0, 1).flip(2, 3).contiguous()

    def _lead(self, n: int, k: int) -> int:
        """Rows of padding before the input, on the 4-tap kernel, for an input of `n` rows."""
        total = max((math.ceil(n / 2) - 1) * 2 + k - n, 0)
        return total // 2 + (4 - k)

    def backward(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        (h, w), (kh, kw) = x.shape[-2:], self.conv.kernel_size
        full = F.conv2d(grad, self.taps, None, 1, 1)  # N x (2, 2, C) x h' x w'
        n, c4, hh, ww = full.shape
        c = c4 // 4
        out = torch.empty(n, c, 2 * hh, 2 * ww, dtype=full.dtype, device=full.device, memory_format=torch.channels_last)
        pixels = full.permute(0, 2, 3, 1).reshape(n, hh, ww, 2, 2, c).permute(0, 1, 3, 2, 4, 5)
        out.permute(0, 2, 3, 1).view(n, hh, 2, ww, 2, c).copy_(pixels)
        top, left = self._lead(h, kh), self._lead(w, kw)
        return out[..., top:top + h, left:left + w]


class Block:
    """An MBConv block: expand (1x1, ReLU6), depthwise (ReLU6), project (1x1), residual."""

    def __init__(self, m: MBConv) -> None:
        self.expand = Pointwise(m._expand_conv) if hasattr(m, "_expand_conv") else None
        dw = m._depthwise_conv
        self.depthwise = Depthwise(dw) if dw.stride == (1, 1) else Strided(dw)
        self.project = Pointwise(m._project_conv)
        self.residual = m.residual

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Saved]:
        a = self.expand.forward(x, relu6=True) if self.expand else x
        b = self.depthwise.forward(a).clamp_(0.0, 6.0)
        y = self.project.forward(b)
        return (y.add_(x) if self.residual else y), (x, a, b)

    def backward(self, grad: torch.Tensor, saved: Saved) -> torch.Tensor:
        x, a, b = saved
        g = self.depthwise.backward(relu6_backward(self.project.backward(grad), b), a)
        if self.expand:
            g = self.expand.backward(relu6_backward(g, a))
        return g.add_(grad) if self.residual else g


class Stem:
    def __init__(self, m: _Stem) -> None:
        self.conv = SpaceToDepth(m._conv_stem)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Saved]:
        y = self.conv.forward(x).clamp_(0.0, 6.0)
        return y, (x, y)

    def backward(self, grad: torch.Tensor, saved: Saved) -> torch.Tensor:
        x, y = saved
        return self.conv.backward(relu6_backward(grad, y), x)


_KINDS = {MBConv: Block, _Stem: Stem}


class Chain:
    """Named stages with hand-written input gradients; `forward` keeps the tape `backward` reads."""

    def __init__(self, names: Iterable[str], stages: Iterable[Block | Stem]) -> None:
        self.names, self.stages = tuple(names), tuple(stages)

    @classmethod
    def of(cls, names: Iterable[str], modules: Iterable[nn.Module]) -> Chain | None:
        """The chain for these (folded, channels-last) stage modules, or None if one is unknown."""
        modules = list(modules)
        if not all(type(m) in _KINDS for m in modules):
            return None
        return cls(names, (_KINDS[type(m)](m) for m in modules))

    def forward(self, x: torch.Tensor, keep: Iterable[str]) -> tuple[dict[str, torch.Tensor], list[Saved]]:
        """Activations of the stages named in `keep`, and the tape for `backward`."""
        keep, acts, tape = frozenset(keep), {}, []
        for name, stage in zip(self.names, self.stages):
            x, saved = stage.forward(x)
            tape.append(saved)
            if name in keep:
                acts[name] = x
        return acts, tape

    def backward(self, grads: Mapping[str, torch.Tensor], tape: list[Saved]) -> torch.Tensor:
        """d/d input, given d/d activation for some stages (each added where its stage ends); empties `tape`."""
        if not grads:
            raise ValueError("backward needs the gradient of at least one stage")
        g = None
        for name, stage in zip(reversed(self.names), reversed(self.stages)):
            saved = tape.pop()  # freed as the pass goes, like autograd's saved tensors
            if name in grads:
                g = grads[name].contiguous(memory_format=torch.channels_last) if g is None else g.add_(grads[name])
            if g is not None:
                g = stage.backward(g, saved)
        return g
