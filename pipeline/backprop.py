"""Input gradients by hand for the EfficientNet-Lite chain on CPU, without an autograd graph.

DeepDream needs one gradient: d objective / d image, through a frozen net. Autograd records a
graph and runs PyTorch's generic convolution backward; on a 2-core CPU a still took ~1.3x
as long that way at 256 px and ~1.5x at 512 px (`make bench`, before and after this module). Each stage here has a
`forward` that keeps what its `backward` needs (the ReLU6 outputs, which are also the masks;
not the stage's input, of which only the size is needed) and a `backward` that maps the output
gradient to the input gradient:

- 1x1 convolutions are matrix products on the channels-last rows, through oneDNN's matmul
  with the bias and ReLU6 (or the residual sum) fused (about 1.8x `torch.addmm` on this CPU);
  their input gradient is the product with the transposed weight.
- depthwise and stem convolutions run as oneDNN convolutions with the weight packed once per
  input shape and the ReLU6 fused (`Kernel`: 10-25 % faster than `F.conv2d` and a clamp).
- stride-1 depthwise convolutions: the input gradient is the same convolution with the taps
  flipped (oneDNN's generic depthwise backward is ~3.8x slower).
- stride-2 depthwise convolutions: the transposed convolution, weight packed per shape.
- the stride-2 stem on 3 channels: as a space-to-depth (pixel unshuffle) stride-1 2x2
  convolution, whose input gradient is a plain convolution and one copy back to pixels (~2x
  faster than the strided backward); the normalisation's 1/std rides on its taps.

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

from .models.lite import MBConv, SameConv2d, _Stem, same_pads, same_padded

Saved = Any  # what a stage's forward keeps for its backward
_MKLDNN = torch.backends.mkldnn.is_available()


def _op(name: str, overload: str = "default") -> Any:
    """A oneDNN op's overload (called directly: skips the packet's Python dispatch, ~0.5 us a call),
    or None where this torch build lacks it."""
    packet = getattr(torch.ops.mkldnn, name, None) if _MKLDNN else None
    return getattr(packet, overload, None) if packet is not None else None


_LINEAR, _LINEAR_SUM, _PACK = _op("_linear_pointwise"), _op("_linear_pointwise", "binary"), _op("_reorder_linear_weight")
_CONV, _PACK_CONV = _op("_convolution_pointwise"), _op("_reorder_convolution_weight")
_CONV_T, _PACK_CONV_T = _op("_convolution_transpose_pointwise"), _op("_reorder_convolution_transpose_weight")
_RELU6, _NO_ACTIVATION = ("hardtanh", [0.0, 6.0]), ("none", [])  # oneDNN's post-op name and scalars


def _relu6(relu6: bool) -> tuple[str, list[float]]:
    return _RELU6 if relu6 else _NO_ACTIVATION


def matmul(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, relu6: bool = False,
           add: torch.Tensor | None = None) -> torch.Tensor:
    """``relu6?(x @ weight.T + bias) (+ add)`` for 2-d `x`; oneDNN fuses bias, clamp or sum into the product."""
    if relu6 and add is not None:
        raise ValueError("matmul fuses either a ReLU6 or a sum, not both")
    if _LINEAR is not None:
        if add is not None:
            return _LINEAR_SUM(x, add, weight, bias, "add")
        return _LINEAR(x, weight, bias, *_relu6(relu6), "")
    y = torch.addmm(bias, x, weight.t()) if bias is not None else x @ weight.t()
    if add is not None:
        y.add_(add)
    return y.clamp_(0.0, 6.0) if relu6 else y


class Kernel:
    """A fixed convolution (weight, bias, stride, symmetric padding, groups), ReLU6 fused on request.

    With oneDNN the weight is reordered once per input shape into the layout its kernel wants,
    and the clamp runs inside the convolution: 10-25 % faster than `F.conv2d` and a separate
    clamp on this CPU, most on small maps where the per-call cost dominates.
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, stride: tuple[int, int],
                 padding: tuple[int, int], groups: int) -> None:
        self.weight, self.bias, self.groups = weight.detach().contiguous(), bias, groups
        self.stride, self.padding = list(stride), list(padding)
        self._packed: dict[tuple[int, ...], torch.Tensor] = {}
        self._transposed: dict[tuple[tuple[int, ...], tuple[int, int]], torch.Tensor] = {}

    def __call__(self, x: torch.Tensor, relu6: bool = False) -> torch.Tensor:
        if _CONV is None or _PACK_CONV is None:
            y = F.conv2d(x, self.weight, self.bias, self.stride, self.padding, 1, self.groups)
            return y.clamp_(0.0, 6.0) if relu6 else y
        shape = x.shape
        if shape not in self._packed:
            self._packed[shape] = _PACK_CONV(self.weight, self.padding, self.stride, [1, 1], self.groups, list(shape))
        return _CONV(x, self._packed[shape], self.bias, self.padding, self.stride, [1, 1], self.groups, *_relu6(relu6), "")

    def input_grad(self, grad: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """d/d input (of `size` pixels) given the output gradient: the transposed convolution.

        With oneDNN, its weight is packed once per shape: 10-14 us faster a call than
        `aten.convolution_backward` on small maps (~25 %), about even on large ones. It needs
        only the input's size, so the forward need not keep the input.
        """
        shape = grad.shape
        extra = [n - ((g - 1) * s - 2 * p + k)  # output padding: the rows the stride left over
                 for n, g, s, p, k in zip(size, shape[-2:], self.stride, self.padding, self.weight.shape[-2:])]
        if _CONV_T is None or _PACK_CONV_T is None:
            return F.conv_transpose2d(grad, self.weight, None, self.stride, self.padding, extra, self.groups)
        key = (shape, size)  # two input sizes can share an output size, not an output padding
        if key not in self._transposed:
            self._transposed[key] = _PACK_CONV_T(self.weight, self.padding, extra, self.stride, [1, 1], self.groups, list(shape))
        return _CONV_T(grad, self._transposed[key], None, self.padding, extra, self.stride, [1, 1], self.groups, "none", [], "")


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

    def _rows(self, x: torch.Tensor, transposed: bool, relu6: bool = False, add: torch.Tensor | None = None) -> torch.Tensor:
        n, c, h, w = x.shape
        rows = n * h * w
        weight = self.weight_t if transposed else self.weight
        if _LINEAR is not None and _PACK is not None:
            if (transposed, rows) not in self._packed:
                self._packed[transposed, rows] = _PACK(weight, rows)
            weight = self._packed[transposed, rows]
        if add is not None:
            add = add.contiguous(memory_format=torch.channels_last).permute(0, 2, 3, 1).reshape(rows, -1)
        y = matmul(x.permute(0, 2, 3, 1).reshape(rows, c), weight, None if transposed else self.bias, relu6, add)
        return y.view(n, h, w, -1).permute(0, 3, 1, 2)  # channels-last again, no copy

    def forward(self, x: torch.Tensor, relu6: bool = False, add: torch.Tensor | None = None) -> torch.Tensor:
        """``relu6?(conv(x)) (+ add)``: the residual sum, like the clamp, is fused into the product."""
        return self._rows(x, False, relu6, add)

    def backward(self, grad: torch.Tensor, add: torch.Tensor | None = None) -> torch.Tensor:
        return self._rows(grad.contiguous(memory_format=torch.channels_last), True, add=add)


class Depthwise:
    """Stride-1 "same" depthwise convolution; its input gradient is the flipped-kernel convolution."""

    def __init__(self, conv: SameConv2d) -> None:
        w, pad = conv.weight.detach(), conv.padding
        self.conv = Kernel(w, conv.bias, (1, 1), pad, conv.groups)
        self.flipped = Kernel(w.flip(2, 3), None, (1, 1), pad, conv.groups)

    def forward(self, x: torch.Tensor, relu6: bool = False) -> torch.Tensor:
        return self.conv(x, relu6)

    def backward(self, grad: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return self.flipped(grad)


class Strided:
    """Stride-2 TF-"same" convolution (uneven padding as `SameConv2d`), kernels kept per input size."""

    def __init__(self, conv: SameConv2d) -> None:
        self.conv, self.weight = conv, conv.weight.detach()
        self._plans: dict[tuple[tuple[int, int], torch.dtype], Kernel] = {}

    def plan(self, size: tuple[int, int], dtype: torch.dtype | None = None) -> Kernel:
        """The convolution for an input of `size`: one leading zero tap on an uneven axis, symmetric
        padding; its weight in `dtype` (default: the layer's)."""
        dtype = dtype or self.weight.dtype
        if (size, dtype) not in self._plans:
            c = self.conv
            w, pads = same_padded(self.weight.to(dtype), size, c.stride)
            self._plans[size, dtype] = Kernel(w, None if c.bias is None else c.bias.to(dtype), c.stride, pads, c.groups)
        return self._plans[size, dtype]

    def forward(self, x: torch.Tensor, relu6: bool = False) -> torch.Tensor:
        return self.plan(tuple(x.shape[-2:]))(x, relu6)

    def backward(self, grad: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """d/d input, for an input of `size` pixels. A bf16 gradient goes through the transposed
        convolution in fp32: oneDNN has no fast bf16 kernel for it here (~20x slower than fp32)."""
        if grad.dtype == torch.bfloat16:
            return self.plan(size, torch.float32).input_grad(grad.float(), size).to(torch.bfloat16)
        return self.plan(size).input_grad(grad, size)


class SpaceToDepth(Strided):
    """A dense stride-2 convolution (kernel up to 4) whose input gradient goes through space-to-depth.

    On the input padded to an even size and unshuffled into 4x the channels, the convolution is
    a stride-1 2x2 one; its input gradient is a full stride-1 convolution of the output gradient
    with those taps flipped, whose channels, ordered (row parity, column parity, channel), are
    then laid back out as pixels of a channels-last image and cropped to the input.
    """

    def __init__(self, conv: SameConv2d, input_scale: torch.Tensor | None = None) -> None:
        """`input_scale` (one factor per input channel) multiplies the input gradient, folded into the taps."""
        super().__init__(conv)
        if conv.groups != 1 or conv.stride != (2, 2) or max(conv.kernel_size) > 4:
            raise ValueError("SpaceToDepth needs a dense stride-2 convolution with kernel <= 4")
        kh, kw = self.conv.kernel_size
        w = F.pad(self.weight, [4 - kw, 0, 4 - kh, 0])  # 4x4, the real taps last
        o, i = w.shape[:2]
        w2 = w.view(o, i, 2, 2, 2, 2).permute(0, 3, 5, 1, 2, 4).reshape(o, 4 * i, 2, 2)  # [o, (dy, dx, c), a, b]
        taps = w2.transpose(0, 1).flip(2, 3)
        if input_scale is not None:  # after every mask: exact up to rounding
            taps = (taps * input_scale.reshape(-1).repeat(4).view(-1, 1, 1, 1)).to(taps.dtype)
        self.taps = Kernel(taps, None, (1, 1), (1, 1), 1)

    def _lead(self, n: int, k: int) -> int:
        """Rows of padding before the input, on the 4-tap kernel, for an input of `n` rows."""
        return same_pads(n, k, 2)[0] + (4 - k)

    def backward(self, grad: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        (h, w), (kh, kw) = size, self.conv.kernel_size
        full = self.taps(grad)  # N x (2, 2, C) x h' x w'
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
        b = self.depthwise.forward(a, relu6=True)
        return self.project.forward(b, add=x if self.residual else None), (a, b)  # the input is not kept

    def backward(self, grad: torch.Tensor, saved: Saved) -> torch.Tensor:
        a, b = saved
        g = self.depthwise.backward(relu6_backward(self.project.backward(grad), b), tuple(a.shape[-2:]))
        residual = grad if self.residual else None
        if self.expand:
            return self.expand.backward(relu6_backward(g, a), add=residual)
        return g.add_(residual) if residual is not None else g


class Stem:
    def __init__(self, m: _Stem, input_scale: torch.Tensor | None = None) -> None:
        self.conv = SpaceToDepth(m._conv_stem, input_scale)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Saved]:
        y = self.conv.forward(x, relu6=True)
        return y, (tuple(x.shape[-2:]), y)

    def backward(self, grad: torch.Tensor, saved: Saved) -> torch.Tensor:
        size, y = saved
        return self.conv.backward(relu6_backward(grad, y), size)


_KINDS = {MBConv: Block, _Stem: Stem}


class Chain:
    """Named stages with hand-written input gradients; `forward` keeps the tape `backward` reads."""

    def __init__(self, names: Iterable[str], stages: Iterable[Block | Stem], input_scale: torch.Tensor | None = None) -> None:
        """`input_scale`: per-channel factor on the input gradient still to apply (None when folded or absent)."""
        self.names, self.stages, self.input_scale = tuple(names), tuple(stages), input_scale

    @classmethod
    def of(cls, names: Iterable[str], modules: Iterable[nn.Module], input_scale: torch.Tensor | None = None) -> Chain | None:
        """The chain for these (folded, channels-last) stage modules, or None if one is unknown.

        `input_scale` (``1x3x1x1``) multiplies the input gradient: a normalisation's 1/std, so the
        gradient comes back with respect to the raw image. A stem folds it into its backward taps.
        """
        modules = list(modules)
        if not all(type(m) in _KINDS for m in modules):
            return None
        stages = [_KINDS[type(m)](m) for m in modules]
        if input_scale is not None and modules and type(modules[0]) is _Stem:
            stages[0], input_scale = Stem(modules[0], input_scale), None
        return cls(names, stages, input_scale)

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
        return g.mul_(self.input_scale) if self.input_scale is not None else g
