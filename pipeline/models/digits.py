"""The digits CNN: a small net trained on real handwritten digits, for carving (SPEC: Models).

Trained by default on the UCI handwritten digits that scikit-learn ships inside its wheel
(1,797 digits of 8x8, upsampled to 28x28, white on black like MNIST), or on MNIST idx files
when the user points at a folder that holds them. The trained weights are small (float16,
~60 KB) and ship as ``pipeline/data/digits.pt``; ``dreamreel train-digits -o FILE`` makes
them again (README gives the exact command and the held-out accuracy it reached).

As a `DreamNet` it takes RGB in [0, 1] like every other net: its normalisation turns the
input to grey (0.299 R + 0.587 G + 0.114 B) first. Layers: conv1 (16), pool1, conv2 (32),
pool2, conv3 (64), logits (10 classes). Native size 28.
"""

from __future__ import annotations

import gzip
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DreamreelError
from ..sinks import committed
from .net import DreamNet, Facts, load_state_dict
from .zoo import ConvReLU

SHIPPED = Path(__file__).resolve().parent.parent / "data" / "digits.pt"
NATIVE = 28
LUMA = (0.299, 0.587, 0.114)
FACTS = Facts(NATIVE, grey=True, carve_layer="conv3", guide_layer="conv3", content_layer="conv2",
              style_layers=(("conv1", 1.0), ("conv2", 1.0), ("conv3", 1.0)))


class DigitsHead(nn.Linear):
    """Average-pool conv3 to 3x3 (keeps where strokes are), then the 10 class logits."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(F.adaptive_avg_pool2d(x, 3).flatten(1))


def architecture() -> tuple[nn.Module, list[str]]:
    net = nn.Module()
    net.conv1 = ConvReLU(1, 16, 3, padding=1)
    net.pool1 = nn.MaxPool2d(2)
    net.conv2 = ConvReLU(16, 32, 3, padding=1)
    net.pool2 = nn.MaxPool2d(2)
    net.conv3 = ConvReLU(32, 64, 3, padding=1)
    net.logits = DigitsHead(64 * 9, 10)
    return net, ["conv1", "pool1", "conv2", "pool2", "conv3", "logits"]


class GrayNet(DreamNet):
    """A DreamNet whose weights expect one grey channel: RGB in [0, 1] -> luma -> (g - 0.5) / 0.5."""

    def __init__(self, name: str, net: nn.Module, order: list[str]) -> None:
        super().__init__(name, net, order, mean=(0.5,) * 3, std=(0.5,) * 3, facts=FACTS)
        self.register_buffer("luma", torch.tensor(LUMA).view(1, 3, 1, 1))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        grey = (x * self.luma).sum(1, keepdim=True)
        return (grey - self.mean[:, :1]) / self.std[:, :1]


def build(weights: Path | None = None) -> GrayNet:
    net, order = architecture()
    sd = load_state_dict(weights or SHIPPED)
    try:
        net.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True)
    except RuntimeError as e:
        raise DreamreelError(f"weights do not fit digits: {str(e).splitlines()[0]}",
                             "give a file written by `dreamreel train-digits`") from None
    return GrayNet("digits", net, order)


def untrained() -> GrayNet:
    """The net with random weights (on the meta device under `registry.architecture`): its layers and facts."""
    return GrayNet("digits", *architecture())


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Split:
    """Grey digits ``Nx1x28x28`` in [0, 1] (white on black) with labels, train and held-out."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    source: str


def uci_digits(seed: int = 0, held_out: float = 0.2) -> Split:
    """scikit-learn's bundled UCI digits (no download), upsampled 8 -> 28, a seeded held-out share."""
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DreamreelError("scikit-learn is not installed (it ships the digits data)",
                             'run `pip install "dreamreel[digits]"` or give --mnist DIR') from None
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0).unsqueeze(1)
    x = F.interpolate(x, size=(NATIVE, NATIVE), mode="bilinear", align_corners=False).clamp_(0, 1)
    y = torch.from_numpy(d.target.astype(np.int64))
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = round(len(x) * held_out)
    test, train = order[:n_test], order[n_test:]
    return Split(x[train], y[train], x[test], y[test], f"UCI digits (scikit-learn), {len(train)} train / {n_test} held out")


def _idx(path: Path) -> np.ndarray:
    """An idx file (MNIST's format), gzipped or not."""
    data = (gzip.open if path.suffix == ".gz" else open)(path, "rb").read()
    zero, dtype, dims = struct.unpack(">HBB", data[:4])
    if zero != 0 or dtype != 0x08:
        raise DreamreelError(f"{path} is not an idx file of bytes", "give MNIST's original idx files")
    shape = struct.unpack(f">{dims}I", data[4:4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / name).is_file():
            return folder / name
    raise DreamreelError(f"MNIST file {stem}[.gz] not found in {folder}", "give the folder holding MNIST's four idx files")


def mnist(folder: Path) -> Split:
    """MNIST idx files: train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-* (the held-out set)."""
    if not folder.is_dir():
        raise DreamreelError(f"MNIST folder not found: {folder}", "give the folder holding MNIST's idx files")
    arrays = [_idx(_find(folder, s)) for s in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                                "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    xs = [torch.from_numpy(a.astype(np.float32) / 255.0).unsqueeze(1) for a in arrays[::2]]
    ys = [torch.from_numpy(a.astype(np.int64)) for a in arrays[1::2]]
    return Split(xs[0], ys[0], xs[1], ys[1], f"MNIST, {len(ys[0])} train / {len(ys[1])} held out")


# --------------------------------------------------------------------------- training


def _shift(x: torch.Tensor, gen: torch.Generator, pixels: int = 2) -> torch.Tensor:
    """Random translations of up to `pixels` (zero fill): cheap augmentation for 1,400 digits."""
    padded = F.pad(x, (pixels,) * 4)
    dy, dx = torch.randint(0, 2 * pixels + 1, (2,), generator=gen).tolist()
    return padded[..., dy:dy + x.shape[-2], dx:dx + x.shape[-1]]


def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Share of `x` (grey ``Nx1xHxW`` in [0, 1]) classified as `y` by a `GrayNet`'s chain."""
    with torch.no_grad():
        logits = net(x.expand(-1, 3, -1, -1))  # grey -> RGB with equal channels: luma = grey
    return (logits.argmax(1) == y).float().mean().item()


def train(split: Split, epochs: int = 12, seed: int = 0, batch: int = 32, lr: float = 3e-3) -> tuple[GrayNet, float]:
    """Train from a seeded init with Adam and a cosine schedule; returns the net and held-out accuracy."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        body, order = architecture()
    net = GrayNet("digits", body, order)
    net.train().requires_grad_(True)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = epochs * -(-len(split.x_train) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    for _ in range(epochs):
        for idx in torch.randperm(len(split.x_train), generator=gen).split(batch):
            x = _shift(split.x_train[idx], gen).expand(-1, 3, -1, -1)
            loss = F.cross_entropy(net(x), split.y_train[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    net.eval().requires_grad_(False)
    for p in net.parameters():  # what ships is float16: measure what ships
        p.data = p.data.half().float()
    return net, accuracy(net, split.x_test, split.y_test)


def save(net: GrayNet, path: Path) -> None:
    """The state dict in float16 (half the bytes; accuracy measured after the rounding)."""
    with committed(path) as partial:
        torch.save({k: v.half() for k, v in net.net.state_dict().items()}, partial)
