"""The Dreamer stage: Frame -> Frame by octave gradient ascent on the chosen model."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from . import models, objectives, runtime
from .ascent import Ascent, OnStep, octave_sizes, octaves, resize
from .config import DreamConfig
from .features import FeatureNet
from .frames import Frame, to_image, to_tensor
from .signals import Signals


@dataclass(frozen=True)
class Dreamer:
    features: FeatureNet
    objective: objectives.Objective
    ascent: Ascent
    device: torch.device
    seed: int = 0
    on_step: OnStep | None = None

    @classmethod
    def from_config(cls, cfg: DreamConfig, device: torch.device, seed: int = 0, on_step: OnStep | None = None,
                    signals: Signals | None = None) -> Dreamer:
        """`signals`: the names the objective may read (`Signals.sample(stems)` when it reads stems)."""
        objective = objectives.parse(cfg.objective, where="dream.objective", signals=signals, tracks=cfg.tracks)
        runtime.tune_allocator()
        model = models.load(cfg.model, cfg.weights, device)
        cuda = device.type == "cuda"
        precision = cfg.precision if cfg.precision != "auto" else ("bf16" if cuda else "fp32")
        features = FeatureNet(model, objective.layers, precision=precision)
        if cfg.compile == "on" or (cfg.compile == "auto" and cuda):
            # shapes are fixed per octave, so a render compiles once per octave size; in place, so
            # FeatureNet's own methods (value_and_grad) call the compiled forward
            features.compile(dynamic=False)
        return cls(features, objective, Ascent.of(cfg), device, seed, on_step)

    def generator(self, index: int) -> torch.Generator:
        """Frame `index`'s random stream: fixed by the seed, different per frame."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index)

    def __call__(self, frame: Frame) -> Frame:
        x = to_tensor(frame.image, self.device)
        weight, regions = masks_of(frame, self.device)
        y = octaves(self.features, self.objective, x, self.ascent, self.generator(frame.index), on_step=self.on_step,
                    mask=weight, regions=regions)
        return replace(frame, image=to_image(y))


def masks_of(frame: Frame, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The frame's step weight (1x1xHxW) and region shares (1x(K+1)xHxW: outside every region, then
    each region; `mask.Weighted` sets both) as tensors at the image's size, or None where it has none."""
    weight = None if frame.weight is None else torch.from_numpy(frame.weight)[None, None].to(device)
    if frame.regions is None:
        return weight, None
    regions = torch.from_numpy(np.ascontiguousarray(frame.regions)).permute(2, 0, 1)[None]
    return weight, resize(regions, frame.image.shape[:2]).to(device)


# --- video: cold start per shot, warm steps after -------------------------------------------


@dataclass(frozen=True)
class ShotDreamer:
    """The first frame of a shot (no carry) gets the full octave dream; the others, which arrive
    holding the warped previous dream (`motion.FlowFeedback`), only `warm` (a few steps, usually
    at full size alone). Most of the remaining flicker is each frame's fresh gradient, so the
    warm steps reuse one jitter sequence (`fixed_jitter`) instead of a new one per frame.
    """

    cold: Dreamer
    warm: Ascent
    fixed_jitter: bool = True
    per_frame: ScheduledDreamer | None = None  # an objective that follows t or the music: `cold` at each frame

    def steps(self, warm: bool, height: int, width: int) -> int:
        """Ascent steps a frame of this size will take (for the progress bar)."""
        a = self.warm if warm else self.cold.ascent
        return len(octave_sizes(height, width, a)) * a.steps

    def __call__(self, frame: Frame) -> Frame:
        d = self.per_frame.at(frame.index) if self.per_frame else self.cold
        if frame.carry is None:
            return d(frame)
        gen = d.generator(0 if self.fixed_jitter else frame.index)  # fixed: the same rolls every warm frame
        mask, regions = masks_of(frame, d.device)
        y = octaves(d.features, d.objective, to_tensor(frame.image, d.device), self.warm, gen, on_step=d.on_step, mask=mask,
                    regions=regions)
        return replace(frame, image=to_image(y))


@dataclass(frozen=True)
class ScheduledDreamer:
    """A `Dreamer` whose steps and objective weights follow schedules of the frame index.

    `steps` (a Schedule, or None for the dreamer's own) is rounded per frame; `objective`
    (objective text using ``t``, ``sched(...)`` or the music, or None) is re-parsed per frame,
    reading `signals` (the render's track). The network and its cut stay those of the base
    dreamer: the layers never change, only weights.
    """

    dreamer: Dreamer
    steps: Callable[[float], float] | None = None
    objective: str | None = None
    signals: Signals | None = None
    tracks: objectives.Tracks = field(default_factory=dict)  # the named schedules the objective reads

    def steps_at(self, t: int) -> int:
        return self.dreamer.ascent.steps if self.steps is None else max(0, round(self.steps(t)))

    def at(self, t: int) -> Dreamer:
        d = self.dreamer
        if self.steps is not None:
            d = replace(d, ascent=replace(d.ascent, steps=self.steps_at(t)))
        if self.objective is not None:
            d = replace(d, objective=objectives.parse(self.objective, "dream.objective", t=t, signals=self.signals,
                                                      tracks=self.tracks))
        return d

    def __call__(self, frame: Frame) -> Frame:
        return self.at(frame.index)(frame)
