"""Carving (the MNIST series): dream a large image with a net of small native input, tile by tile.

One outer iteration:

1. the whole image, downscaled to the net's native size (28 for the digits CNN, 224 for the
   ImageNet nets), gets up to `steps` ascent steps on channel ``maps[0]`` of `layer`, stopping
   early once a few steps gain less than `tol` of the objective; it is upscaled (bicubic) and
   the whole image's correction tensor is added: the original minus its down-up-scaled copy,
   computed once, i.e. the detail the native size cannot hold;
2. each sub-image (2x2 quadrants; ``tiles=(2, 4)`` cascades to 4x4) is cut out, standardised
   on its own statistics, downscaled, ascended on its own map (``maps[i % len(maps)]`` for
   tile i, row by row), upscaled, its standardisation undone (its statistics differ from the
   whole image's: this keeps the quadrants' levels continuous), its own correction added,
   and pasted back;
3. the result is re-standardised and fed to the next iteration.

Standardisation here is per image: mean 0.5 and standard deviation `spread` in [0, 1] pixel
units (the nets take [0, 1] RGB; each net's own normalisation comes after). Grey mode
(0.299 R + 0.587 G + 0.114 B) is the default for grey nets such as ``digits``. `stretch`
maps the 0.5 and 99.5 percentiles to black and white for display.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch
import torch.nn.functional as F

from . import models
from .ascent import Ascent, OnStep, ascend, resize
from . import sinks as sinks_
from .config import CarveConfig, DreamConfig, RenderConfig
from .errors import DreamreelError
from .features import FeatureNet
from .frames import Frame, Image, to_image, to_tensor
from .objectives import channel
from .plan import Plan, Progress, make_sinks, pin_threads, post_stages, resolve_device, still_frames

LUMA = torch.tensor((0.299, 0.587, 0.114)).view(1, 3, 1, 1)
Box = tuple[int, int, int, int]  # y0, y1, x0, x1


@dataclass(frozen=True)
class Carving:
    layer: str
    maps: tuple[int, ...] = (0,)
    tiles: tuple[int, ...] = (2,)  # 2: 2x2 quadrants; (2, 4): quadrants, then 4x4
    iterations: int = 4
    steps: int = 30  # most ascent steps per (sub-)image
    tol: float = 0.02  # stop once `chunk` steps gain less than this share of the objective
    chunk: int = 5
    step_size: float = 0.01
    jitter: int = 2
    spread: float = 0.2
    gray: bool = False
    stretch: bool = False

    def ascent(self) -> Ascent:
        return Ascent(octaves=1, steps=self.steps, step_size=self.step_size, jitter=self.jitter, tile=4096)


def gray(x: torch.Tensor) -> torch.Tensor:
    return (x * LUMA.to(x.device)).sum(1, keepdim=True).expand_as(x).contiguous()


def standardise(x: torch.Tensor, spread: float) -> tuple[torch.Tensor, float, float]:
    """Mean 0.5, std `spread`; returns the image and the (mean, std) that undo it."""
    mean, std = x.mean().item(), x.std().item() + 1e-6
    return (x - mean) / std * spread + 0.5, mean, std


def unstandardise(x: torch.Tensor, mean: float, std: float, spread: float) -> torch.Tensor:
    return (x - 0.5) / spread * std + mean


def stretch(x: torch.Tensor) -> torch.Tensor:
    lo, hi = torch.quantile(x.flatten(), torch.tensor([0.005, 0.995], device=x.device)).tolist()
    return ((x - lo) / max(hi - lo, 1e-6)).clamp(0, 1)


def upscale(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bicubic up, area-like (antialiased) down."""
    if x.shape[-2] <= size[0] and x.shape[-1] <= size[1]:
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False)
    return resize(x, size)


def boxes(height: int, width: int, k: int) -> list[Box]:
    """A k x k grid of near-equal tiles, row by row."""
    ys = [round(i * height / k) for i in range(k + 1)]
    xs = [round(i * width / k) for i in range(k + 1)]
    return [(ys[i], ys[i + 1], xs[j], xs[j + 1]) for i in range(k) for j in range(k)]


def converge(features: FeatureNet, objective, img: torch.Tensor, c: Carving, gen: torch.Generator,
             on_step: OnStep | None = None) -> tuple[torch.Tensor, int]:
    """Up to `c.steps` ascent steps in chunks; stop once a chunk gains less than `c.tol` of the value."""
    values: list[float] = []

    def record(image: torch.Tensor, value: torch.Tensor) -> None:
        values.append(value.item())
        if on_step:
            on_step(image, value)

    done, a = 0, c.ascent()
    while done < c.steps:
        before = values[-1] if values else None
        img = ascend(features, objective, img, a, gen, min(c.chunk, c.steps - done), record)
        done = len(values)
        if before is not None and values[-1] - before <= c.tol * abs(before):
            break
    return img, done


@dataclass(frozen=True)
class Carver:
    """The carving stage: Frame -> Frame; with `animate`, also a GIF of the input and each outer iteration."""

    model: models.DreamNet
    carving: Carving
    device: torch.device
    seed: int = 0
    on_step: OnStep | None = None
    animate: Path | None = None  # a GIF of the outer iterations
    fps: int = 2

    @classmethod
    def from_config(cls, dream: DreamConfig, cfg: CarveConfig, device: torch.device, seed: int = 0,
                    on_step: OnStep | None = None) -> Carver:
        model = models.load(dream.model, dream.weights, device)
        layer = cfg.layer or model.facts.carve_layer  # the net's own: a mid-level layer with many maps
        if layer is None:
            raise DreamreelError(f"model {model.name!r} has no default carving layer", "give one with --layer")
        model.stage_of(layer)  # unknown layer: fail before any work
        carving = Carving(layer, tuple(cfg.maps), tuple(cfg.tiles), cfg.iterations, cfg.steps, cfg.tol, 5,
                          cfg.step_size, cfg.jitter, cfg.spread,
                          cfg.gray if cfg.gray is not None else model.facts.grey, cfg.stretch)
        return cls(model, carving, device, seed, on_step, Path(cfg.animate).expanduser() if cfg.animate else None)

    def total_steps(self, height: int, width: int) -> int:
        """The most ascent steps one frame can take (convergence usually stops sooner)."""
        c = self.carving
        return c.iterations * c.steps * (1 + sum(k * k for k in c.tiles))

    def __call__(self, frame: Frame) -> Frame:
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + frame.index)
        frames: list[Image] = []
        out = carve(self.model, to_tensor(frame.image, self.device), self.carving, gen, self.on_step,
                    on_iteration=lambda x: frames.append(to_image(stretch(x) if self.carving.stretch else x)))
        if self.animate:
            write_gif(self.animate, [frame.image, *frames], self.fps)
        return replace(frame, image=to_image(out))


def carve(model: models.DreamNet, img: torch.Tensor, c: Carving, gen: torch.Generator,
          on_step: OnStep | None = None, on_iteration: Callable[[torch.Tensor], None] | None = None) -> torch.Tensor:
    """Carve `img` (``1x3xHxW`` in [0, 1]); returns the standardised result in [0, 1]."""
    features = FeatureNet(model, {c.layer})
    native = (model.facts.native, model.facts.native)
    h, w = img.shape[-2:]
    orig = standardise(gray(img) if c.gray else img, c.spread)[0]

    def correction(box: Box) -> torch.Tensor:
        y0, y1, x0, x1 = box
        part = orig[..., y0:y1, x0:x1]
        return part - upscale(resize(part, native), part.shape[-2:])

    whole = (0, h, 0, w)
    levels = [[(box, correction(box)) for box in boxes(h, w, k)] for k in c.tiles]  # corrections: once
    corr_whole = correction(whole)

    def dream(x: torch.Tensor, box: Box, corr: torch.Tensor, index: int) -> torch.Tensor:
        y0, y1, x0, x1 = box
        part, mean, std = standardise(x[..., y0:y1, x0:x1], c.spread)
        small = resize(part, native)
        over = small - small.clamp(0, 1)  # a tile of low contrast overshoots [0, 1] on its own std: keep what clamping cuts
        small, _ = converge(features, channel(c.layer, c.maps[index % len(c.maps)]), small - over, c, gen, on_step)
        small = (gray(small) if c.gray else small) + over  # grey: a grey net's gradient is tinted by the luma weights
        return unstandardise(upscale(small, part.shape[-2:]), mean, std, c.spread) + corr

    x = orig
    try:
        for _ in range(c.iterations):
            x = dream(x, whole, corr_whole, 0)
            for tiles in levels:
                pasted = x.clone()
                for i, (box, corr) in enumerate(tiles):
                    y0, y1, x0, x1 = box
                    pasted[..., y0:y1, x0:x1] = dream(x, box, corr, i)
                x = pasted
            x = standardise(x, c.spread)[0].clamp(0, 1)
            if on_iteration:
                on_iteration(x)
    finally:
        features.close()
    return stretch(x) if c.stretch else x


def write_gif(path: Path, images: list[Image], fps: int = 2) -> None:
    """The outer iterations as a looping GIF, through the same sink as every other GIF."""
    with sinks_.for_path(path, "carve", fps=fps, frame_count=None) as gif:
        for i, image in enumerate(images):
            gif.write(Frame(i, image, image))


def build_carve(cfg: RenderConfig, progress: Progress) -> Plan:
    """kind = "carve": one image carved tile by tile, then the post stages."""
    sinks = make_sinks(cfg, 1)
    frames = still_frames(cfg)
    if cfg.carve.animate:
        sinks_.check_output(cfg.carve.animate)
    pin_threads(cfg)
    carver = Carver.from_config(cfg.dream, cfg.carve, resolve_device(cfg.device), cfg.seed, on_step=progress.step)
    return Plan(frames, 1, [carver, *post_stages(cfg)], sinks, steps_of=lambda f: carver.total_steps(*f.image.shape[:2]))
