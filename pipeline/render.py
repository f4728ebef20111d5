"""render(config): wires source -> stages -> sinks. Every choice is made in `build`, once."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from . import sinks as sinks_
from .ascent import octave_sizes
from .config import RenderConfig
from .dream import Dreamer
from .errors import DreamreelError
from .frames import Carry, Frame, Stage
from .post import Blend
from .sources import ImageSource


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DreamreelError("--device cuda: no CUDA GPU is visible to torch", "use --device cpu (or auto)")
    return torch.device(name)


class Progress:
    """Bars on stderr: frames (when there are several) and ascent steps within a frame."""

    def __init__(self, frames: int, quiet: bool) -> None:
        off = True if quiet else None  # None: tqdm turns itself off when stderr is not a terminal
        self.frames = tqdm(total=frames, unit="frame", disable=True if frames <= 1 else off, dynamic_ncols=True)
        self.steps = tqdm(unit="step", leave=False, disable=off, dynamic_ncols=True)

    def start_frame(self, steps: int) -> None:
        self.steps.reset(total=steps)

    def step(self, *_: object) -> None:
        self.steps.update()

    def end_frame(self) -> None:
        self.frames.update()

    def close(self) -> None:
        self.steps.close()
        self.frames.close()


@dataclass
class Plan:
    source: Iterable[Frame]
    frame_count: int
    stages: list[Stage]
    sinks: list[sinks_.ImageSink]
    dreamer: Stage  # Dreamer, or carving.Carver


def outputs(cfg: RenderConfig) -> list[Path]:
    if not cfg.output.paths:
        raise DreamreelError("no output given", "add -o OUT.png")
    return [Path(p).expanduser() for p in cfg.output.paths]


def build(cfg: RenderConfig, progress: Progress) -> Plan:
    """Choose and check everything (paths, device, model, layers) before any work is done."""
    paths = outputs(cfg)
    sinks = [sinks_.for_path(p, cfg.kind) for p in paths]
    source = ImageSource(Path(cfg.source.input).expanduser() if cfg.source.input else None, cfg.source.size)
    frames = list(source)  # one still: read now, so a bad input fails before the model loads
    for p in paths:
        sinks_.check_writable(p)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if cfg.kind == "carve":
        from .carving import Carver  # carving imports config: keep it out of this module's import cycle

        if cfg.carve.animate:
            sinks_.check_writable(Path(cfg.carve.animate).expanduser())
        dreamer = Carver.from_config(cfg.dream, cfg.carve, resolve_device(cfg.device), cfg.seed, on_step=progress.step)
    else:
        dreamer = Dreamer.from_config(cfg.dream, resolve_device(cfg.device), cfg.seed, on_step=progress.step)
    stages: list[Stage] = [dreamer]
    if cfg.post.blend:
        stages.append(Blend(cfg.post.blend))
    return Plan(frames, 1, stages, sinks, dreamer)


def frame_steps(dreamer: Stage, height: int, width: int) -> int:
    """Ascent steps for one frame (the progress bar's length); carving says its own."""
    if hasattr(dreamer, "total_steps"):
        return dreamer.total_steps(height, width)
    return len(octave_sizes(height, width, dreamer.ascent)) * dreamer.ascent.steps


def render(cfg: RenderConfig, quiet: bool = False) -> list[Path]:
    """Render `cfg` and return the paths written. Raises DreamreelError on bad input."""
    progress = Progress(1, quiet)
    try:
        plan = build(cfg, progress)
        with ExitStack() as stack:
            outs = [stack.enter_context(s) for s in plan.sinks]
            carry: Carry | None = None
            for frame in plan.source:
                progress.start_frame(frame_steps(plan.dreamer, *frame.image.shape[:2]))
                frame = replace(frame, carry=carry)
                for stage in plan.stages:
                    frame = stage(frame)
                for out in outs:
                    out.write(frame)
                carry = Carry(frame.source, frame.image)
                progress.end_frame()
    finally:
        progress.close()
    return outputs(cfg)
