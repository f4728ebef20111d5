"""The Dreamer stage: Frame -> Frame by octave gradient ascent on the chosen model."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from . import models, objectives
from .ascent import Ascent, OnStep, octaves
from .config import DreamConfig
from .features import FeatureNet
from .frames import Frame, to_image, to_tensor


def ascent_of(cfg: DreamConfig) -> Ascent:
    return Ascent(octaves=cfg.octaves, octave_scale=cfg.octave_scale, steps=cfg.steps, step_size=cfg.step_size,
                  jitter=cfg.jitter, tile=cfg.tile, noise=cfg.noise, salt_pepper=cfg.salt_pepper, max_loss=cfg.max_loss)


@dataclass(frozen=True)
class Dreamer:
    features: FeatureNet
    objective: objectives.Objective
    ascent: Ascent
    device: torch.device
    seed: int = 0
    on_step: OnStep | None = None

    @classmethod
    def from_config(cls, cfg: DreamConfig, device: torch.device, seed: int = 0, on_step: OnStep | None = None) -> Dreamer:
        objective = objectives.parse(cfg.objective, where="dream.objective")
        model = models.load(cfg.model, cfg.weights, device)
        return cls(FeatureNet(model, objective.layers), objective, ascent_of(cfg), device, seed, on_step)

    def generator(self, index: int) -> torch.Generator:
        """Frame `index`'s random stream: fixed by the seed, different per frame."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + index)

    def __call__(self, frame: Frame) -> Frame:
        x = to_tensor(frame.image, self.device)
        self.features.reference = x  # what pixel()/style() compare with
        y = octaves(self.features, self.objective, x, self.ascent, self.generator(frame.index), on_step=self.on_step)
        return replace(frame, image=to_image(y))
