"""What a render needs, decided once: the `Plan` a kind's builder returns, and the helpers
every builder shares (device, dreamer, music, post stages, sinks, progress bars).

A builder is ``(cfg, progress) -> Plan``; `renderer.BUILDERS` maps ``cfg.kind`` to one. Builders
check everything (paths, device, model, layers, schedules) before any frame is dreamed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import torch
from tqdm import tqdm

from . import audio
from . import sinks as sinks_
from .ascent import OnStep, octave_sizes
from .config import RenderConfig
from .dream import Dreamer
from .errors import DreamreelError
from .chain import keep_last
from .frames import Carry, Frame, Stage, to_image
from .post import Blend, Drift
from .signals import Signals, audio_names
from .sources import ImageSource


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise DreamreelError("--device cuda: no CUDA GPU is visible to torch", "use --device cpu (or auto)")
    return torch.device(name)


class Progress:
    """Bars on stderr: frames (when there are several) and ascent steps within a frame."""

    def __init__(self, frames: int | None = 1, quiet: bool = False) -> None:
        self.off = True if quiet else None  # None: tqdm turns itself off when stderr is not a terminal
        self.frames = tqdm(disable=True)
        self.steps = tqdm(unit="step", leave=False, disable=self.off, dynamic_ncols=True)
        self.set_frames(frames)

    def set_frames(self, frames: int | None) -> None:
        """Known once the builder has looked at the source (None: unknown length)."""
        self.frames.close()
        self.frames = tqdm(total=frames, unit="frame", disable=True if frames == 1 else self.off, dynamic_ncols=True)

    def start_frame(self, steps: int) -> None:
        self.steps.reset(total=steps or None)

    def starting(self, frame: Frame, steps: int) -> Frame:
        """`start_frame`, passing the frame through (for a generator feeding the chain)."""
        self.start_frame(steps)
        return frame

    def step(self, image: torch.Tensor, value: torch.Tensor) -> None:  # an `ascent.OnStep`: the dreamers call it
        self.steps.update()

    def end_frame(self) -> None:
        self.frames.update()

    def close(self) -> None:
        self.steps.close()
        self.frames.close()


@dataclass
class Plan:
    """Everything `render` wires together.

    source:      iterable of `Frame`s in index order; if it has ``iter_from(start)`` a resumed
                 render uses that to skip finished frames cheaply, else it filters by index.
                 Frames with a negative index come first: a loop's lead (`loop`), run through
                 the stages and never written.
    frame_count: frames the source will give (None: unknown); 1 means a still (no resume parts).
    stages:      applied in order to each frame (frame.carry already set by the loop).
    sinks:       get every finished frame, in order (including the ones replayed on resume).
    extras:      other context managers the loop enters beside the sinks (e.g. a step GIF).
    steps_of:    ascent steps a frame will take (for the step progress bar).
    carry_of:    what the next frame receives in `frame.carry`; saved with each frame for resume.
    """

    source: Iterable[Frame]
    frame_count: int | None
    stages: list[Stage]
    sinks: list[sinks_.Sink]
    extras: list[AbstractContextManager[Any]] = field(default_factory=list)
    steps_of: Callable[[Frame], int] = lambda _frame: 0
    carry_of: Callable[[Frame], Carry] = keep_last

    def frames_from(self, start: int) -> Iterator[Frame]:
        if not start:
            return iter(self.source)  # from the lead, if there is one
        if hasattr(self.source, "iter_from"):
            return iter(self.source.iter_from(start))
        return (f for f in self.source if f.index >= start)


def note(line: str) -> None:
    """A remark about the render that is no error (e.g. a loop whose wrap will show): one line on stderr."""
    tqdm.write(f"dreamreel: note: {line}", file=sys.stderr)


def output_paths(cfg: RenderConfig) -> list[str]:
    """The outputs as given (strings: a trailing slash marks a frames folder)."""
    if not cfg.output.paths:
        raise DreamreelError("no output given", "add -o OUT.png")
    return list(cfg.output.paths)


def make_sinks(cfg: RenderConfig, frame_count: int | None, audio_from: Path | None = None,
               audio_start: float = 0.0) -> list[sinks_.Sink]:
    """One sink per output (plus the contact sheet), every path checked writable before work."""
    out = cfg.output
    paths = output_paths(cfg)
    made = [sinks_.for_path(p, cfg.kind, fps=out.fps, crf=out.crf, frame_count=frame_count, audio_from=audio_from,
                            audio_start=audio_start)
            for p in paths]
    if out.contact_sheet:
        sheet = Path(out.contact_sheet).expanduser()
        if sheet.suffix.lower() not in sinks_.STILL_EXTS:
            raise DreamreelError(f"contact sheet {sheet.name!r} is not a PNG or JPEG", "write e.g. --contact-sheet sheet.png")
        made.append(sinks_.ContactSheetSink(sheet, frame_count))
        paths.append(str(sheet))
    for p in paths:
        sinks_.check_output(p)
    return made


def pin_threads(cfg: RenderConfig) -> None:
    """The CPU thread count the recipe asks for (results differ across thread counts)."""
    if cfg.threads:
        torch.set_num_threads(cfg.threads)


def make_dreamer(cfg: RenderConfig, progress: Progress, on_step: OnStep | None = None) -> Dreamer:
    """The configured Dreamer; `on_step` (default: the step progress bar) runs after each step."""
    pin_threads(cfg)
    return Dreamer.from_config(cfg.dream, resolve_device(cfg.device), cfg.seed, on_step=on_step or progress.step,
                               signals=Signals.sample(cfg.audio.stems))


def make_music(cfg: RenderConfig, fps: float, soundtrack: Path | None = None, start: float = 0.0,
               frames: int | None = None) -> tuple[Signals, Path | None]:
    """The render's signals and the file they came from: ``[audio] file`` (``--audio``), else
    `soundtrack` (a video's own) when an expression reads the music, else none (``s`` still works).
    An expression that reads the music with no audio at all is a one-line error."""
    a = cfg.audio
    stems = {name: Path(p).expanduser() for name, p in a.stems.items()}
    sample = Signals.sample(a.stems)
    need = [(e.where, n) for e in cfg.expressions() for n in audio_names(e.names(sample), a.stems)]
    path = Path(a.file).expanduser() if a.file else (soundtrack if need or stems else None)
    if path is None:
        if need:
            where, name = need[0]
            raise DreamreelError(f"{where} reads {name!r} but no audio is given", "add --audio FILE (or [audio] file = ...)")
        return Signals.sample(fps=fps).lasting(frames), None
    start = start if path == soundtrack else 0.0  # a given track plays from its start, as it is muxed (not the video's range)
    return audio.read(path, fps, a.attack, a.release, stems, start, frames).lasting(frames), path


@dataclass
class StepFrames:
    """`--animate-steps`: each ascent step's image, scaled to the frame size, as a frame to `sink`."""

    sink: sinks_.Sink
    size: tuple[int, int]  # (width, height)
    then: Callable[..., None]
    count: int = 0

    def __call__(self, img: torch.Tensor, value: torch.Tensor) -> None:
        self.then(img, value)
        image = to_image(img)
        if image.shape[1::-1] != self.size:
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_LINEAR)
        self.sink.write(Frame(self.count, image, image))
        self.count += 1


def dream_steps(dreamer: Dreamer, frame: Frame, steps: int | None = None) -> int:
    """Ascent steps one frame takes: octave levels x steps per octave."""
    return len(octave_sizes(*frame.image.shape[:2], dreamer.ascent)) * (dreamer.ascent.steps if steps is None else steps)


def still_frames(cfg: RenderConfig) -> list[Frame]:
    """The one input image of a still render, read now so a bad input fails before the model loads."""
    return list(ImageSource(Path(cfg.source.input).expanduser() if cfg.source.input else None, cfg.source.size))


def post_stages(cfg: RenderConfig) -> list[Stage]:
    """The post section as stages, in order: drift control, then blending with the source."""
    stages: list[Stage] = []
    if cfg.post.drift or cfg.post.decay:
        stages.append(Drift(cfg.post.drift, cfg.post.decay))
    if cfg.post.blend:
        stages.append(Blend(cfg.post.blend))
    return stages
