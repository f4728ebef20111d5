"""Seamless loops (``--loop``): an output whose last frame flows into its first as any frame into the next.

A feedback chain never comes back to where it started: a zoom keeps zooming into new dreams,
and a video's dream carried round a clip that loops comes back changed (the chain is chaotic:
measured, a full lap run before the output still left the wrap pair 12x the median pair). So
the loop is closed with the chain's own frames, every one of them still a pure function of
(seed, index, carry, source):

- **Lead.** Before frame 0 the chain runs `lead` frames, numbered ``-lead .. -1`` and never
  written (`renderer.run` and the chunk engines drop negative indices): a zoom's pre-roll (the
  start image zoomed into like any frame), a video's clip run round (its last frames, then
  frame 0 again). Frame 0 follows frame -1 as any frame follows the one before it.
- **Closing.** The last `closing` frames are blended toward the lead's last `closing` frames,
  which the carry keeps (`Keep`, `Carry.lead`), from 1/closing of the way to all of it: frame
  N-1 *is* frame -1, so the wrap pair (N-1, 0) is a pair the chain itself made. Both streams
  move alike (a zoom's by the same schedules, a video's along the same clip), so the blend
  shows no motion jump. The blended frame is what the chain feeds back: the closing stream is
  pulled toward the lead, not only faded into it.
- **Strength.** A plain mix of two unrelated dreams sags (half and half kept 0.55 of the median
  frame's fine detail, measured on a 48-frame zoom); `blend` mixes band by band and gives each
  band the spread of its two sides (a video blends the dreams' residuals over their shared input).

A zoom's motion loops when its schedules end where they start (a number, or ``sin(2*pi*t/N)``:
``N`` is the frame count); `motion_note` says which one does not. A video loops when its clip
does (`Survey`); a clip whose end jumps to its start renders as it would without the loop and
`Survey.note` says its wrap will show. A scene cut inside the clip drops the carry, the lead
with it: such a clip's wrap shows too.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace

import cv2
import numpy as np

from . import flow, steady
from .chain import CarryOf
from .errors import DreamreelError
from .frames import Carry, Frame, Image, Stage

MIN_FRAMES = 4  # a loop shorter than this has no room for a closing
CLOSING = (2, 24)  # closing frames: a quarter of the loop, within these (shorter jumps more per pair)
VIDEO_LEAD = 48  # frames a video runs before frame 0 (the whole clip when shorter; two laps measured no better)
BANDS = 4  # band-pass levels (Gaussian sigma 1, 2, 4, 8 px) whose spread the blend keeps
SAME = 1e-6  # a schedule this close at frames 0 and N ends where it starts
JUMP = 3.0  # a clip whose wrap is this many median steps does not loop (measured: a circling window 0.97, a pan 70)
SURVEY = 180  # short side the survey follows a clip's motion at


@dataclass(frozen=True)
class Loop:
    """How a render of `frames` frames closes: `lead` frames before frame 0, of which the last
    `closing` are kept and blended into the last `closing` frames of the output."""

    frames: int
    closing: int
    lead: int
    over_source: bool = False  # video: blend the dreams' residuals over their shared input

    @classmethod
    def of(cls, frames: int, lead: int | None = None, over_source: bool = False) -> Loop:
        """A zoom's loop (lead = closing) or, with `lead`, a video's (at least the closing)."""
        if frames < MIN_FRAMES:
            raise DreamreelError(f"--loop needs at least {MIN_FRAMES} frames, this render has {frames}",
                                 f"render {MIN_FRAMES} or more frames, or leave out --loop")
        closing = min(CLOSING[1], max(CLOSING[0], frames // 4))
        return cls(frames, closing, max(closing, lead or 0), over_source)

    @classmethod
    def video(cls, frames: int) -> Loop:
        return cls.of(frames, min(frames, VIDEO_LEAD), over_source=True)

    def stages(self, stages: list[Stage]) -> list[Stage]:
        """A kind's stages with the closing blend last (after post: the blend is what is written)."""
        return [*stages, Close(self)] if self.closing else stages

    def carry_of(self, inner: CarryOf) -> CarryOf:
        return Keep(inner, self.closing) if self.closing else inner

    def weight(self, index: int) -> float:
        """The lead's share of frame `index`: 0 before the closing, rising to 1 on the last frame."""
        return max(0.0, (index - (self.frames - self.closing) + 1) / self.closing)


OFF = Loop(0, 0, 0)  # no loop: no lead, no closing, the stages and carry as the kind has them


@dataclass(frozen=True)
class Keep:
    """`carry_of` for a loop: the kind's own carry, plus the lead's last `closing` finished frames."""

    inner: CarryOf
    closing: int

    def __call__(self, frame: Frame) -> Carry:
        carry = self.inner(frame)
        lead = None if frame.carry is None else frame.carry.lead
        if -self.closing <= frame.index < 0:
            lead = frame.image[None] if lead is None else np.concatenate([lead, frame.image[None]])
        return carry if lead is None else carry._replace(lead=lead)


@dataclass(frozen=True)
class Close:
    """The closing frames, blended toward the lead frame they stand for (frame N-k toward -k)."""

    loop: Loop

    def __call__(self, frame: Frame) -> Frame:
        w = self.loop.weight(frame.index)
        lead = None if frame.carry is None else frame.carry.lead
        if w <= 0.0 or lead is None or len(lead) != self.loop.closing:  # a cut dropped the lead: nothing to close on
            return frame
        target = lead[frame.index - (self.loop.frames - self.loop.closing)]
        image = blend(frame.image, target, w, frame.source if self.loop.over_source else None)
        if frame.masks is not None:  # what a mask keeps stays as it is (the bands' spread is matched frame-wide)
            image = steady.weighted(image, frame.image, frame.weight)
        return replace(frame, image=image)


def bands(image: np.ndarray) -> list[np.ndarray]:
    """`image` (float) as BANDS band-pass layers and the low-pass rest; they sum back to it."""
    out, rest = [], image
    for k in range(BANDS):
        low = cv2.GaussianBlur(rest, (0, 0), 2.0**k)
        out.append(rest - low)
        rest = low
    return [*out, rest]


def _spread(band: np.ndarray) -> np.ndarray:
    return band.reshape(-1, band.shape[-1]).std(0)


def blend(a: Image, b: Image, w: float, base: Image | None = None) -> Image:
    """`a` toward `b` by `w`, each band's spread (per channel) the mix of its two sides' spreads.

    Two unrelated dreams mixed half and half keep ~0.7 of their spread in every band; rescaling
    each band of the mix gives the detail back without brightening what is common to both (a
    correlated band's mix keeps its spread, and its gain stays 1). With `base` (the shared input),
    the residuals over it are blended and laid back on it.
    """
    if w >= 1.0:
        return b
    ref = np.float32(0.0) if base is None else base.astype(np.float32)
    out = ref + 0.0
    for i, (x, y) in enumerate(zip(bands(a.astype(np.float32) - ref), bands(b.astype(np.float32) - ref))):
        mix = (1.0 - w) * x + w * y
        if i < BANDS:
            mix *= ((1.0 - w) * _spread(x) + w * _spread(y)) / np.maximum(_spread(mix), 1e-3)
        out = out + mix
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Lap:
    """A clip run round: frames ``-lead .. -1`` are its last `lead` frames (a lead longer than the
    clip goes round more than once), then the clip from frame 0. `read(k)` yields the clip from
    its frame k on, numbered from k (`VideoSource.iter_from`)."""

    read: Callable[[int], Iterable[Frame]]
    frames: int
    lead: int

    def iter_from(self, start: int) -> Iterator[Frame]:
        i = start
        while i < 0:
            k, begun = i % self.frames, i
            clip = iter(self.read(k))
            try:
                for f in itertools.islice(clip, min(self.frames - k, -i)):
                    yield replace(f, index=i)
                    i += 1
            finally:  # a decoder left early is closed now, not whenever it is collected
                getattr(clip, "close", lambda: None)()
            if i == begun:
                raise DreamreelError(f"the clip ended before its frame {k} while running round", "rerun without --loop")
        yield from self.read(i)

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(-self.lead)


@dataclass(frozen=True)
class Survey:
    """A clip read once before a loop renders: its exact length, and how well its last frame leads
    into its first. Each step is measured after following the motion (flow), so a window circling
    round counts its wrap as one more step and a pan that never comes back as a jump."""

    frames: int
    wrap: float  # what the flow from the last frame leaves unexplained of the first, grey levels
    median: float  # the same for neighbouring frames

    @classmethod
    def of(cls, frames: Iterable[Frame]) -> Survey:
        first = prev = None
        steps: list[float] = []
        for f in frames:
            image = _small(f.source)
            if prev is not None:
                steps.append(_step(prev, image))
            first = image if first is None else first
            prev = image
        if first is None or prev is None:
            raise DreamreelError("the clip has no frames to loop", "give a video with frames")
        return cls(len(steps) + 1, _step(prev, first), statistics.median(steps) if steps else 0.0)

    @property
    def loops(self) -> bool:
        return self.wrap <= max(JUMP * self.median, 1.0)

    def note(self, name: str) -> str | None:
        """One line for a clip that does not loop (None when it does)."""
        if self.loops:
            return None
        return (f"{name} does not loop (its last frame leads into its first {self.wrap / max(self.median, 1e-3):.0f}x "
                f"worse than neighbouring frames lead into each other): the loop's wrap will show")


def _small(image: Image) -> Image:
    k = SURVEY / min(image.shape[:2])
    return image if k >= 1.0 else cv2.resize(image, None, fx=k, fy=k, interpolation=cv2.INTER_AREA)


def _step(a: Image, b: Image) -> float:
    """Mean |b - a carried onto it along the flow|: what `a` does not explain of `b`, grey levels."""
    field, _ = flow.track(a, b)
    return float(np.abs(flow.warp(a, field).astype(np.int16) - b.astype(np.int16)).mean())


def motion_note(schedules: dict[str, Callable[[float], float]], frames: int) -> str | None:
    """One line naming the first schedule whose value at frame N is not its value at frame 0 (the
    motion would jump at the wrap), or None."""
    for name, schedule in schedules.items():
        a, b = schedule(0), schedule(frames)
        if abs(a - b) > SAME * max(1.0, abs(a)):
            return (f"motion.{name} is {a:g} at frame 0 but {b:g} at frame N = {frames}: the loop's motion jumps at "
                    f"its wrap (make it end where it starts, e.g. a number or a function of sin(2*pi*t/N))")
    return None
