"""kind = "zoom": the fractal zoom's builder, its start image and its endless still source.

The source yields the start image as every frame's `source` (the anchor that drift control
matches colours to); `ZoomFeedback` replaces `image` with the transformed last dream, the
(scheduled) dreamer dreams it, the post stages keep it from drifting.
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
from .dreamsize import at_dream_size
from .plan import Plan, Progress, dream_steps, make_dreamer, make_music, make_sinks, post_stages
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
    """The start image as the source of `frame_count` frames (feedback does the rest)."""

    image: Image
    frame_count: int

    def iter_from(self, start: int) -> Iterator[Frame]:
        return (Frame(i, self.image, self.image) for i in range(start, self.frame_count))

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(0)


def _checked(text: float | str, name: str, frames: int, lo: float, hi: float, signals: Signals) -> Schedule:
    """Parse a schedule (reading `signals`) and check its value on every frame of the render, before any work."""
    schedule = Schedule.parse(text, where=f"motion.{name}", signals=signals)
    for t in range(frames):
        if not lo <= (v := schedule(t)) <= hi:
            raise DreamreelError(f"motion.{name} is {v:g} at frame {t}, outside [{lo:g}, {hi:g}]",
                                 f"keep motion.{name} in [{lo:g}, {hi:g}]")
    return schedule


def build_zoom(cfg: RenderConfig, progress: Progress) -> Plan:
    """With audio (``--audio``), the frame count defaults to the track's length and the track is muxed in."""
    music, track = make_music(cfg, cfg.output.fps)
    n = cfg.source.frames or (music.frames if track else DEFAULT_FRAMES)
    sinks = make_sinks(cfg, n, audio_from=track)
    image = start_image(cfg)
    m = cfg.motion
    feedback = ZoomFeedback(_checked(m.zoom, "zoom", n, 0.25, 4.0, music), _checked(m.angle, "angle", n, -180, 180, music),
                            _checked(m.translate_x, "translate_x", n, -image.shape[1], image.shape[1], music),
                            _checked(m.translate_y, "translate_y", n, -image.shape[0], image.shape[0], music))
    steps = _checked(m.steps, "steps", n, 0, 1000, music) if m.steps is not None else None
    objective = cfg.dream.objective if uses_time(cfg.dream.objective) else None
    source = mask.attached(cfg, StillLoop(image, n), n, check=True)  # a zoom's masks lie in the output's frame
    dreamer = ScheduledDreamer(make_dreamer(cfg, progress), steps, objective, music)
    return Plan(source, n, [feedback, *mask.stages(cfg), at_dream_size(dreamer, cfg.dream.dream_size), *post_stages(cfg)],
                sinks, steps_of=lambda f: dream_steps(dreamer.dreamer, f, dreamer.steps_at(f.index)))
