"""The model zoo: GoogLeNet, InceptionV3, VGG16/19 and ResNet50 with torchvision's weights.

The architectures are written here (torchvision's Linux wheels are CUDA builds that do not
load on a CPU torch), with torchvision's module names, so torchvision's ImageNet state dicts
load as they are: from ``$TORCH_HOME/hub/checkpoints/`` (``~/.cache/torch/hub/checkpoints/``
by default, where ``torch.hub`` keeps them) or from ``--weights FILE``. Nothing is downloaded.

Each net is a `DreamNet`: a chain of named stages with its own input normalisation, so
`FeatureNet` cuts it after the deepest layer an objective needs. The classifier stage is
called ``logits`` everywhere (the file's ``fc``/``classifier`` keys are renamed on load), so
``class_logit(107)`` works on every net.

A user's own net (`files`): ``--model ARCH:FILE.pth`` loads a state dict into a zoo
architecture (the class count is read from the file).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DreamreelError
from .net import DreamNet, Facts, load_state_dict

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
HALF = (0.5, 0.5, 0.5)  # GoogLeNet/InceptionV3 weights: torchvision's transform_input maps to (x - 0.5) / 0.5
CLASSIFIER = {"fc.": "logits."}  # torchvision's classifier is our ``logits`` stage


class Arch(NamedTuple):
    """A zoo architecture with random weights: the module, its stage order, its listed layers and
    the key-prefix renames from torchvision's file to our module names."""

    net: nn.Module
    order: list[str]
    listed: list[str]
    renames: dict[str, str]


class Logits(nn.Linear):
    """The classifier as one stage: global average pool, then the file's ``fc`` weights."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.mean((2, 3)) if x.ndim == 4 else x)


class BasicConv2d(nn.Module):
    """conv (no bias) + BatchNorm (eps 1e-3) + ReLU: torchvision's Inception building block."""

    def __init__(self, cin: int, cout: int, **kw: object) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, bias=False, **kw)  # type: ignore[arg-type]
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class Concat(nn.Module):
    """Run named branches on one input and concatenate them on channels (an Inception block)."""

    branches: Sequence[str] = ()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.get_submodule(b)(x) for b in self.branches], 1)


# --------------------------------------------------------------------------- GoogLeNet


class GoogLeNetInception(Concat):
    branches = ("branch1", "branch2", "branch3", "branch4")

    def __init__(self, cin: int, c1: int, c3r: int, c3: int, c5r: int, c5: int, pool: int) -> None:
        super().__init__()
        self.branch1 = BasicConv2d(cin, c1, kernel_size=1)
        self.branch2 = nn.Sequential(BasicConv2d(cin, c3r, kernel_size=1), BasicConv2d(c3r, c3, kernel_size=3, padding=1))
        # torchvision's "5x5" branch is a 3x3 (a known quirk its weights were trained with)
        self.branch3 = nn.Sequential(BasicConv2d(cin, c5r, kernel_size=1), BasicConv2d(c5r, c5, kernel_size=3, padding=1))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, pool, kernel_size=1))


_GOOGLENET = {  # name -> (in, 1x1, 3x3 reduce, 3x3, "5x5" reduce, "5x5", pool proj)
    "inception3a": (192, 64, 96, 128, 16, 32, 32), "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64), "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64), "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128), "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def googlenet(classes: int = 1000) -> Arch:
    net = nn.Module()
    net.conv1 = BasicConv2d(3, 64, kernel_size=7, stride=2, padding=3)
    net.maxpool1 = nn.MaxPool2d(3, 2, ceil_mode=True)
    net.conv2 = BasicConv2d(64, 64, kernel_size=1)
    net.conv3 = BasicConv2d(64, 192, kernel_size=3, padding=1)
    net.maxpool2 = nn.MaxPool2d(3, 2, ceil_mode=True)
    order = ["conv1", "maxpool1", "conv2", "conv3", "maxpool2"]
    for name, args in _GOOGLENET.items():
        if name == "inception4a":
            net.maxpool3, order = nn.MaxPool2d(3, 2, ceil_mode=True), [*order, "maxpool3"]
        if name == "inception5a":
            net.maxpool4, order = nn.MaxPool2d(2, 2, ceil_mode=True), [*order, "maxpool4"]
        net.add_module(name, GoogLeNetInception(*args))
        order.append(name)
    net.logits = Logits(1024, classes)
    order.append("logits")
    return Arch(net, order, order, CLASSIFIER)


# --------------------------------------------------------------------------- InceptionV3


def _avg_pool(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, 1, 1)


class Pooled(nn.Module):
    """A parameter-free pooling op as a module, so a branch's path can name it."""

    def __init__(self, pool: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(x)


class Mixed(nn.Module):
    """An InceptionV3 block: `paths` lists each branch as the module names applied in turn;
    a tuple inside a path splits it into parallel convs whose outputs are concatenated."""

    paths: Sequence[Sequence[str | tuple[str, ...]]] = ()

    def _run(self, x: torch.Tensor, path: Sequence[str | tuple[str, ...]]) -> torch.Tensor:
        for part in path:
            if isinstance(part, tuple):
                x = torch.cat([self.get_submodule(p)(x) for p in part], 1)
            else:
                x = self.get_submodule(part)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self._run(x, p) for p in self.paths], 1)

    def convs(self, **specs: tuple) -> None:
        """name=(in, out, kernel[, stride[, padding]])"""
        for name, (cin, cout, k, *rest) in specs.items():
            stride, pad = (rest[0] if rest else 1), (rest[1] if len(rest) > 1 else 0)
            self.add_module(name, BasicConv2d(cin, cout, kernel_size=k, stride=stride, padding=pad))


class InceptionA(Mixed):
    paths = (["branch1x1"], ["branch5x5_1", "branch5x5_2"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], ["pool", "branch_pool"])

    def __init__(self, cin: int, pool: int) -> None:
        super().__init__()
        self.convs(branch1x1=(cin, 64, 1), branch5x5_1=(cin, 48, 1), branch5x5_2=(48, 64, 5, 1, 2),
                   branch3x3dbl_1=(cin, 64, 1), branch3x3dbl_2=(64, 96, 3, 1, 1), branch3x3dbl_3=(96, 96, 3, 1, 1),
                   branch_pool=(cin, pool, 1))
        self.pool = Pooled(_avg_pool)


class InceptionB(Mixed):
    paths = (["branch3x3"], ["branch3x3dbl_1", "branch3x3dbl_2", "branch3x3dbl_3"], ["pool"])

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.convs(branch3x3=(cin, 384, 3, 2), branch3x3dbl_1=(cin, 64, 1), branch3x3dbl_2=(64, 96, 3, 1, 1),
                   branch3x3dbl_3=(96, 96, 3, 2))
        self.pool = Pooled(lambda x: F.max_pool2d(x, 3, 2))


class InceptionC(Mixed):
    paths = (["branch1x1"], ["branch7x7_1", "branch7x7_2", "branch7x7_3"],
             [f"branch7x7dbl_{i}" for i in range(1, 6)], ["pool", "branch_pool"])

    def __init__(self, cin: int, c7: int) -> None:
        super().__init__()
        row, col = ((1, 7), 1, (0, 3)), ((7, 1), 1, (3, 0))
        self.convs(branch1x1=(cin, 192, 1), branch7x7_1=(cin, c7, 1), branch7x7_2=(c7, c7, *row), branch7x7_3=(c7, 192, *col),
                   branch7x7dbl_1=(cin, c7, 1), branch7x7dbl_2=(c7, c7, *col), branch7x7dbl_3=(c7, c7, *row),
                   branch7x7dbl_4=(c7, c7, *col), branch7x7dbl_5=(c7, 192, *row), branch_pool=(cin, 192, 1))
        self.pool = Pooled(_avg_pool)


class InceptionD(Mixed):
    paths = (["branch3x3_1", "branch3x3_2"], [f"branch7x7x3_{i}" for i in range(1, 5)], ["pool"])

    def __init__(self, cin: int) -> None:
        super().__init__()
        self.convs(branch3x3_1=(cin, 192, 1), branch3x3_2=(192, 320, 3, 2), branch7x7x3_1=(cin, 192, 1),
                   branch7x7x3_2=(192, 192, (1, 7), 1, (0, 3)), branch7x7x3_3=(192, 192, (7, 1), 1, (3, 0)),
                   branch7x7x3_4=(192, 192, 3, 2))
        self.pool = Pooled(lambda x: F.max_pool2d(x, 3, 2))


class InceptionE(Mixed):
    paths = (["branch1x1"], ["branch3x3_1", ("branch3x3_2a", "branch3x3_2b")],
             ["branch3x3dbl_1", "branch3x3dbl_2", ("branch3x3dbl_3a", "branch3x3dbl_3b")], ["pool", "branch_pool"])

    def __init__(self, cin: int) -> None:
        super().__init__()
        row, col = ((1, 3), 1, (0, 1)), ((3, 1), 1, (1, 0))
        self.convs(branch1x1=(cin, 320, 1), branch3x3_1=(cin, 384, 1), branch3x3_2a=(384, 384, *row), branch3x3_2b=(384, 384, *col),
                   branch3x3dbl_1=(cin, 448, 1), branch3x3dbl_2=(448, 384, 3, 1, 1), branch3x3dbl_3a=(384, 384, *row),
                   branch3x3dbl_3b=(384, 384, *col), branch_pool=(cin, 192, 1))
        self.pool = Pooled(_avg_pool)


def inception_v3(classes: int = 1000) -> Arch:
    net = nn.Module()
    layers: list[tuple[str, nn.Module]] = [
        ("Conv2d_1a_3x3", BasicConv2d(3, 32, kernel_size=3, stride=2)), ("Conv2d_2a_3x3", BasicConv2d(32, 32, kernel_size=3)),
        ("Conv2d_2b_3x3", BasicConv2d(32, 64, kernel_size=3, padding=1)), ("maxpool1", nn.MaxPool2d(3, 2)),
        ("Conv2d_3b_1x1", BasicConv2d(64, 80, kernel_size=1)), ("Conv2d_4a_3x3", BasicConv2d(80, 192, kernel_size=3)),
        ("maxpool2", nn.MaxPool2d(3, 2)), ("Mixed_5b", InceptionA(192, 32)), ("Mixed_5c", InceptionA(256, 64)),
        ("Mixed_5d", InceptionA(288, 64)), ("Mixed_6a", InceptionB(288)), ("Mixed_6b", InceptionC(768, 128)),
        ("Mixed_6c", InceptionC(768, 160)), ("Mixed_6d", InceptionC(768, 160)), ("Mixed_6e", InceptionC(768, 192)),
        ("Mixed_7a", InceptionD(768)), ("Mixed_7b", InceptionE(1280)), ("Mixed_7c", InceptionE(2048)),
        ("logits", Logits(2048, classes)),
    ]
    for name, module in layers:
        net.add_module(name, module)
    order = [n for n, _ in layers]
    return Arch(net, order, order, CLASSIFIER)


# --------------------------------------------------------------------------- VGG


class ConvReLU(nn.Conv2d):
    """A 3x3 conv and its ReLU as one stage: VGG's ``conv4_3`` names the ReLU output."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(super().forward(x))


class VGGHead(nn.Sequential):
    """torchvision's ``avgpool`` (adaptive, 7x7) + ``classifier`` as the ``logits`` stage."""

    def __init__(self, classes: int) -> None:
        super().__init__(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(), nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(),
                         nn.Dropout(), nn.Linear(4096, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.adaptive_avg_pool2d(x, 7).flatten(1))


def vgg(depths: Sequence[int], classes: int = 1000) -> Arch:
    """Convs per block in `depths`; the renames map torchvision's ``features.N`` index to our ``convB_I`` name."""
    net, order, rename, index, cin = nn.Module(), [], {}, 0, 3
    for block, (reps, cout) in enumerate(zip(depths, (64, 128, 256, 512, 512)), 1):
        for i in range(1, reps + 1):
            name = f"conv{block}_{i}"
            net.add_module(name, ConvReLU(cin, cout, 3, padding=1))
            order.append(name)
            rename[f"features.{index}."] = f"{name}."
            index, cin = index + 2, cout  # conv, relu
        net.add_module(f"pool{block}", nn.MaxPool2d(2, 2))
        order.append(f"pool{block}")
        index += 1
    net.logits = VGGHead(classes)
    rename.update({f"classifier.{i}.": f"logits.{i}." for i in (0, 3, 6)})
    order.append("logits")
    return Arch(net, order, order, rename)


# --------------------------------------------------------------------------- ResNet50


class Bottleneck(nn.Module):
    """torchvision's ResNet V1.5 bottleneck (the stride on the 3x3)."""

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.conv1, self.bn1 = nn.Conv2d(cin, width, 1, bias=False), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = nn.Conv2d(width, width, 3, stride, 1, bias=False), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = nn.Conv2d(width, cout, 1, bias=False), nn.BatchNorm2d(cout)
        self.downsample = (nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
                           if stride != 1 or cin != cout else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return F.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNetStem(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)


def resnet50(classes: int = 1000) -> Arch:
    """Listed: each stage and its sub-blocks (``layer3.2``)."""
    net, cin, listed = nn.Module(), 64, ["stem"]
    net.stem = ResNetStem()
    for i, (reps, width) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512)), 1):
        blocks = []
        for j in range(reps):
            blocks.append(Bottleneck(cin, width, 2 if j == 0 and i > 1 else 1))
            cin = width * 4
        net.add_module(f"layer{i}", nn.Sequential(*blocks))
        listed += [f"layer{i}.{j}" for j in range(reps)] + [f"layer{i}"]
    net.logits = Logits(2048, classes)
    return Arch(net, ["stem", "layer1", "layer2", "layer3", "layer4", "logits"], [*listed, "logits"],
                {"conv1.": "stem.conv1.", "bn1.": "stem.bn1.", **CLASSIFIER})


# --------------------------------------------------------------------------- weights and registry


@dataclass(frozen=True)
class Zoo:
    """One zoo net: its builder, which files hold its weights, its normalisation and its facts (its name and
    summary are registered by `catalog`)."""

    name: str
    architecture: Callable[..., Arch]  # (classes=1000) -> the net with random weights, its layers and key renames
    files: tuple[str, ...]  # torchvision's file names, first = the one we ask for
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    facts: Facts  # native size, carve, guide and style layers
    head: str = "fc.weight"  # the classifier's weight in torchvision's file (its rows: the class count)


def _facts(native: int, carve: str, guide: str, content: str, style: Sequence[str]) -> Facts:
    return Facts(native, carve_layer=carve, guide_layer=guide, content_layer=content,
                 style_layers=tuple((n, 1.0) for n in style))


_VGG_STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
VGG_HEAD = "classifier.6.weight"
ZOO = {z.name: z for z in (
    Zoo("googlenet", googlenet, ("googlenet-1378be20.pth",), HALF, HALF,
        _facts(224, "inception4c", "inception4c", "inception3b", ("conv1", "conv3", "inception3a", "inception4a", "inception4c"))),
    Zoo("inception-v3", inception_v3, ("inception_v3_google-0cc3c7bd.pth",), HALF, HALF,
        _facts(299, "Mixed_6b", "Mixed_6b", "Mixed_5d", ("Conv2d_2b_3x3", "Conv2d_4a_3x3", "Mixed_5b", "Mixed_6a", "Mixed_6e"))),
    Zoo("vgg16", partial(vgg, (2, 2, 3, 3, 3)), ("vgg16-397923af.pth",), IMAGENET_MEAN, IMAGENET_STD,
        _facts(224, "conv4_3", "conv4_3", "conv4_2", _VGG_STYLE), VGG_HEAD),
    Zoo("vgg19", partial(vgg, (2, 2, 4, 4, 4)), ("vgg19-dcbb9e9d.pth",), IMAGENET_MEAN, IMAGENET_STD,
        _facts(224, "conv4_4", "conv4_4", "conv4_2", _VGG_STYLE), VGG_HEAD),
    Zoo("resnet50", resnet50, ("resnet50-0676ba61.pth", "resnet50-11ad3fa6.pth"), IMAGENET_MEAN, IMAGENET_STD,
        _facts(224, "layer3", "layer3", "layer2", ("stem", "layer1", "layer2", "layer3"))),
)}
DROPPED = ("aux1.", "aux2.", "AuxLogits.")  # auxiliary classifiers: in the files, never dreamed on


def checkpoints_dir() -> Path:
    """Where torch.hub keeps weights: $TORCH_HOME/hub/checkpoints (~/.cache/torch/hub/checkpoints)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def weights_file(zoo: Zoo) -> Path:
    folder = checkpoints_dir()
    for name in zoo.files:
        if (folder / name).is_file():
            return folder / name
    alt = f" (or {', '.join(zoo.files[1:])})" if len(zoo.files) > 1 else ""
    raise DreamreelError(
        f"weights for {zoo.name} not found: {folder / zoo.files[0]}",
        f"put torchvision's {zoo.files[0]}{alt} (https://download.pytorch.org/models/{zoo.files[0]}) "
        f"into {folder}/ or pass --weights FILE",
    )


def rename_keys(sd: dict[str, torch.Tensor], renames: dict[str, str]) -> dict[str, torch.Tensor]:
    out = {}
    for key, value in sd.items():
        key = key.removeprefix("module.")  # saved from DataParallel
        if key.startswith(DROPPED):
            continue
        prefix = next((p for p in renames if key.startswith(p)), None)
        out[renames[prefix] + key[len(prefix):] if prefix else key] = value
    return out


def build(zoo: Zoo, weights: Path | None = None, label: str | None = None) -> DreamNet:
    """The zoo net with the weights from `weights` (or the torch hub cache); the class count follows the file."""
    sd = load_state_dict(weights or weights_file(zoo))
    head = sd.get(zoo.head, sd.get("module." + zoo.head))
    net, order, listed, renames = zoo.architecture(head.shape[0] if isinstance(head, torch.Tensor) else 1000)
    try:
        net.load_state_dict(rename_keys(sd, renames), strict=True)
    except RuntimeError as e:
        raise DreamreelError(
            f"weights do not fit {zoo.name}: {str(e).splitlines()[0]}", f"give torchvision's {zoo.files[0]} or a state dict of that architecture"
        ) from None
    return dreamnet(zoo, net, order, listed, label)


def dreamnet(zoo: Zoo, net: nn.Module, order: list[str], listed: list[str], label: str | None = None) -> DreamNet:
    return DreamNet(label or zoo.name, net, order, mean=zoo.mean, std=zoo.std, facts=zoo.facts, listed=listed)


def untrained(zoo: Zoo) -> DreamNet:
    net, order, listed, _ = zoo.architecture()
    return dreamnet(zoo, net, order, listed)
