"""kind = "zoom": the fractal zoom's builder, its start image and its endless still source.

The source yields the start image as every frame's `source` (the anchor that drift control
matches colours to); `ZoomFeedback` replaces `image` with the transformed last dream, the
(scheduled) dreamer dreams it, the post stages keep it from drifting. With ``loop = true`` a
pre-roll runs before frame 0 and the closing frames blend into it (`loop`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import mask
from .config import RenderConfig
from .dream import ScheduledDreamer
from .errors import DreamreelError
from .frames import Frame, Image
from .motion import ZoomFeedback
from .chain import keep_last
from .dreamsize import at_dream_size
from .loop import OFF, Loop, motion_note
from .plan import Plan, Progress, dream_steps, make_dreamer, make_music, make_sinks, note, post_stages
from .schedule import Schedule, uses_time
from .signals import Signals
from .sources import SAMPLE, fit, read_image

DEFAULT_FRAMES = 60
NOISE_SIZE = 256


def noise_image(size: int, seed: int) -> Image:
    """Seeded smooth colour noise around mid-grey: blobs at 1/8 scale plus a little grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(0.0, 1.0, (size // 8 + 2, size // 8 + 2, 3)).astype(np.float32)
    smooth = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    grain = rng.uniform(0.0, 1.0, (size, size, 3)).astype(np.float32)
    return np.clip((0.3 + 0.4 * (0.8 * smooth + 0.2 * grain)) * 255.0 + 0.5, 0, 255).astype(np.uint8)


def even(image: Image) -> Image:
    """Drop an odd last row/column, so video encoders (yuv420p) keep every pixel of every frame."""
    h, w = image.shape[:2]
    return image[: h - h % 2, : w - w % 2]


def start_image(cfg: RenderConfig) -> Image:
    """INPUT, else the bundled sample, else (``start = "noise"``) seeded noise."""
    src = cfg.source
    if src.start == "noise":
        if src.input:
            raise DreamreelError("both an INPUT and --start noise given", "drop one of them")
        return even(noise_image(src.size or NOISE_SIZE, cfg.seed))
    return even(fit(read_image(Path(src.input).expanduser() if src.input else SAMPLE), src.size))


@dataclass(frozen=True)
class StillLoop:
    """The start image as the source of `frame_count` frames (feedback does the rest), after
    `lead` frames numbered ``-lead .. -1`` (a loop's pre-roll: dreamed, never written)."""

    image: Image
    frame_count: int
    lead: int = 0

    def iter_from(self, start: int) -> Iterator[Frame]:
        return (Frame(i, self.image, self.image) for i in range(start, self.frame_count))

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(-self.lead)


def _checked(text: float | str, name: str, frames: range, lo: float, hi: float, signals: Signals) -> Schedule:
    """Parse a schedule (reading `signals`) and check its value on every frame of the render, before any work."""
    schedule = Schedule.parse(text, where=f"motion.{name}", signals=signals)
    for t in frames:
        if not lo <= (v := schedule(t)) <= hi:
            raise DreamreelError(f"motion.{name} is {v:g} at frame {t}, outside [{lo:g}, {hi:g}]",
                                 f"keep motion.{name} in [{lo:g}, {hi:g}]")
    return schedule


def schedules(cfg: RenderConfig, frames: range, shape: tuple[int, ...], signals: Signals) -> dict[str, Schedule]:
    """The motion schedules (`ZoomFeedback`'s), each checked on `frames` for a start image of `shape`."""
    h, w = shape[:2]
    limits = {"zoom": (0.25, 4.0), "angle": (-180, 180), "translate_x": (-w, w), "translate_y": (-h, h)}
    return {name: _checked(getattr(cfg.motion, name), name, frames, lo, hi, signals) for name, (lo, hi) in limits.items()}


def build_zoom(cfg: RenderConfig, progress: Progress) -> Plan:
    """With audio (``--audio``), the frame count defaults to the track's length and the track is muxed in.
    A loop (`loop`) runs its pre-roll first; its schedules are checked there too, and one that does not
    end where it starts is named in a note (the motion jumps at the wrap)."""
    music, track = make_music(cfg, cfg.output.fps)
    n = cfg.source.frames or (music.frames if track else DEFAULT_FRAMES)
    music = music.lasting(n)
    loop = Loop.of(n) if cfg.loop else OFF
    sinks = make_sinks(cfg, n, audio_from=track)
    image = start_image(cfg)
    frames = range(-loop.lead, n)
    motion = schedules(cfg, frames, image.shape, music)
    steps = _checked(cfg.motion.steps, "steps", frames, 0, 1000, music) if cfg.motion.steps is not None else None
    if cfg.loop and (line := motion_note(motion, n)):
        note(line)
    mask.check_loop(cfg, video=False)
    objective = cfg.dream.objective if uses_time(cfg.dream.objective, cfg.dream.tracks) else None
    dreamer = ScheduledDreamer(make_dreamer(cfg, progress), steps, objective, music, cfg.dream.tracks)
    source = mask.attached(cfg, StillLoop(image, n, loop.lead), n, check=True)  # a zoom's masks lie in the output's frame
    stages = [ZoomFeedback(**motion), *mask.stages(cfg), at_dream_size(dreamer, cfg.dream.dream_size), *post_stages(cfg)]
    return Plan(source, n, loop.stages(stages), sinks, carry_of=loop.carry_of(keep_last),
                steps_of=lambda f: dream_steps(dreamer.dreamer, f, dreamer.steps_at(f.index)))
