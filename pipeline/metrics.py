"""Quality measures of SPEC: temporal warping error (Lai et al. 2018), dream strength, and how a loop wraps.

Both stream over frame pairs (two frames in memory). Warping error is reported in [0, 1]
pixel units squared (as Lai et al. do); dream strength in grey levels (0-255). A loop's wrap
pair (its last frame onto its first) is read against its neighbouring pairs (`Wrap`).
"""

from __future__ import annotations

import collections
import itertools
import statistics
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from . import flow as flow_
from . import steady
from .errors import DreamreelError
from .frames import Frame, Image
from .motion import is_cut, warp
from .sources import open_frames


def dream_strength(output: Image, source: Image) -> float:
    """Mean absolute difference between an output frame and its input, in grey levels (0-255)."""
    return float(np.abs(output.astype(np.int16) - source.astype(np.int16)).mean())


def pair_error(prev_out: Image, out: Image, field: flow_.Field, reliable: flow_.Mask) -> float:
    """Mean squared difference between `out` and `prev_out` warped onto it, over reliable pixels."""
    warped = flow_.warp(prev_out, field).astype(np.float32) / 255.0
    diff = (out.astype(np.float32) / 255.0 - warped) ** 2
    return float(diff[reliable].mean()) if reliable.any() else 0.0


def tracked(prev: Image, curr: Image, method: flow_.Method = "dis") -> tuple[flow_.Field, flow_.Mask]:
    """Flow between two inputs and the pixels a warping error is taken over: those that pass the
    forward-backward check and have an edge or texture (`steady.textured`). On a plain wall or a
    clear sky any flow lines the inputs up, and DIS returns a pixel or two of noise there that
    often passes its check: a dream that holds still would be scored as flicker for not following
    it (what holds still is judged by `boil`)."""
    field, reliable = flow_.track(prev, curr, method)
    return field, reliable & steady.textured(curr)


@dataclass(frozen=True)
class Quality:
    frames: int
    e_out: float  # warping error of the output
    e_in: float  # warping error of the input: the floor (flow and interpolation are not perfect)
    strength: float  # mean dream strength, 0-255

    def as_dict(self) -> dict[str, float | int]:
        return {"frames": self.frames, "warp_error": self.e_out, "warp_error_input": self.e_in,
                "dream_strength": self.strength}


def _same_size(out: Image, source: Image) -> Image:
    """The input frame at the output's size (a render may have used --size)."""
    if out.shape == source.shape:
        return source
    return cv2.resize(source, (out.shape[1], out.shape[0]), interpolation=cv2.INTER_AREA)


def quality(pairs: Iterable[tuple[Image, Image]], method: flow_.Method = "dis", gap: int = 1) -> Quality:
    """Warping error of the outputs and of the inputs, and dream strength, over (input, output) frames.

    Flow comes from the input frames; each output frame t-gap is warped to t (flow computed
    directly between the two, so `gap=10` measures long-range consistency) and compared over
    the pixels that pass the forward-backward check and have texture (`tracked`); the mean over
    t is the clip's figure. Pairs across a hard cut (`motion.is_cut`, as a render finds them) are
    left out: nothing is carried across one, and flow between two shots is noise (on hand-held
    `bikes` such pairs swung the t+10 excess by 0.3 either way).
    """
    prev: collections.deque[tuple[Image, Image]] = collections.deque(maxlen=gap)
    e_out: list[float] = []
    e_in: list[float] = []
    strength: list[float] = []
    shot = 0  # frames since the shot's first
    for source, out in pairs:
        source = _same_size(out, source)
        strength.append(dream_strength(out, source))
        shot = 0 if prev and is_cut(prev[-1][0], source) else shot + 1
        if len(prev) == gap and shot >= gap:
            field, reliable = tracked(prev[0][0], source, method)
            e_out.append(pair_error(prev[0][1], out, field, reliable))
            e_in.append(pair_error(prev[0][0], source, field, reliable))
        prev.append((source, out))
    mean = lambda xs: float(np.mean(xs)) if xs else 0.0  # noqa: E731
    return Quality(len(strength), mean(e_out), mean(e_in), mean(strength))


def boil(pairs: Iterable[tuple[Image, Image]], still: float = 3.0) -> float | None:
    """How far the dream wanders where the scene does not: the mean change of the dream (its
    residual, output - input; grey levels) from the first frame to the last, over the pixels whose
    input stays within `still` grey levels (every channel) of the first frame's all clip long.

    Each frame is seen through the camera: brought back onto the first by the camera's motion
    (`steady.camera_motion` of the checked flow on texture between neighbours, chained; none for
    a fixed camera), so a pan over a plain sky is measured where the sky is, not where the screen
    is; pixels that leave the view drop out. Once the camera moves, the chain is `registered` on
    the first frame at every step: a similarity fitted pair by pair drifts a few tenths of a pixel
    a frame, and a dream compared that far off its place reads as boil (a residual carried
    exactly along a 52-degree turn measured 10.9 grey levels chained, 1.7 registered). A camera
    that creeps (a tenth of a pixel a pair: still, pair by pair) is seen from the frame where the
    flow straight from the first frame tells it (`steady.crept`: the median of its vectors on texture,
    registered on them), and is taken from that flow every frame while the pairs stand still: a
    dream carried along 2.8 px of creep read 15 grey levels in place, one stuck to the screen 0;
    ECC on the whole frame slid after an animated film's characters (17 px off within 14 frames).
    Inputs are compared 5x5-averaged and less their median change, so sensor noise and an exposure
    drift still count as still. None when no pixel stays.
    """
    first: Image | None = None
    for source, out in pairs:
        source = _same_size(out, source)
        h, w = source.shape[:2]
        if first is None:
            first, origin, prev, to_first, moving, creeping = source.astype(np.float32), source, source, np.eye(3), False, False
            start = out.astype(np.float32) - first
            kept = np.ones((h, w), bool)
            continue
        field, reliable = flow_.track(prev, source)
        moved = steady.camera_motion(field, reliable & (steady.flatness(source) < 0.5))  # this frame -> the previous one
        if moved is not None:
            to_first, moving, creeping = to_first @ np.vstack([moved, [0, 0, 1]]), True, False
        elif creeping or not moving:  # still pair by pair: crept off the first frame? (zero: not a pixel off)
            crept = steady.crept(origin, source)
            to_first, creeping = np.array([[1, 0, crept[0, 0, 0]], [0, 1, crept[0, 0, 1]], [0, 0, 1]]), bool(crept.any())
            moving = creeping
        if moving and not creeping:
            to_first = registered(first, source, to_first)
        prev = source
        inv = np.linalg.inv(to_first)[:2]  # a pixel of the first frame -> this one
        back = lambda x: cv2.warpAffine(x, inv, (w, h), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,  # noqa: E731
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=(np.nan,) * 3)
        src = back(source.astype(np.float32))
        seen = ~np.isnan(src).any(-1)
        change = cv2.blur(np.nan_to_num(src - first), (5, 5))
        change -= np.median(change[seen], axis=0) if seen.any() else 0.0
        kept &= seen & (np.abs(change).max(-1) <= still)
        last = back(out.astype(np.float32) - source)
    if first is None or not kept.any():
        return None
    return float(np.abs(np.nan_to_num(last) - start)[kept].mean())


def registered(first: np.ndarray, image: Image, to_first: np.ndarray) -> np.ndarray:
    """`to_first` (3x3: a pixel of `image` -> the first frame's) refined so that `image` lines up
    with `first` (OpenCV's ECC, affine, on grey levels); as it was where ECC does not converge."""
    grey = lambda x: cv2.cvtColor(np.clip(x, 0, 255).astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)  # noqa: E731
    guess = np.linalg.inv(to_first)[:2].astype(np.float32)
    try:
        _, found = cv2.findTransformECC(grey(first), grey(image), guess, cv2.MOTION_AFFINE,
                                        (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 100, 1e-5), None, 5)
    except cv2.error:
        return to_first
    return np.linalg.inv(np.vstack([found, [0, 0, 1]]))


def warp_error(frames: Iterable[Image], sources: Iterable[Image], method: flow_.Method = "dis") -> float:
    """Warping error of `frames` with flow (and occlusion mask) from `sources`."""
    return quality(zip(sources, frames, strict=True), method).e_out


def _checked_pairs(inputs: Iterable[Frame], outputs: Iterable[Frame]) -> Iterator[tuple[Image, Image]]:
    """(input, output) images in step; a length mismatch is a one-line error, not a silent cut."""
    n = 0
    for n, pair in enumerate(itertools.zip_longest(inputs, outputs), start=1):
        a, b = pair
        if a is None or b is None:
            longer, shorter = ("input", "output") if b is None else ("output", "input")
            raise DreamreelError(f"the {longer} has more frames than the {shorter} ({shorter} ends at {n - 1})",
                                 "compare the same part: pass the --start/--end/--max-frames the render used")
        yield a.source, b.source


def measure(input: Path, output: Path, start: float | None = None, end: float | None = None,
            max_frames: int | None = None, method: flow_.Method = "dis", fps: float | None = None) -> Quality:
    """`quality` of a rendered video (or frames folder) against the part of `input` it was made from
    (the same `start`/`end`/`max_frames`, and `fps` if the render resampled)."""
    out = open_frames(output, fps=fps)
    src = open_frames(input, None, start, end, None, None, max_frames, fps)
    return quality(_checked_pairs(src, out), method)


# --- loops: the wrap pair against the others -----------------------------------------


@dataclass(frozen=True)
class Wrap:
    """A loop's pairs: each neighbouring pair's error, the wrap pair's (last frame onto the first),
    and each frame's fine detail. A seamless loop's wrap is one more pair (ratio ~1), and no
    frame of it lost detail to a blend (`least_detail` near 1)."""

    pairs: tuple[float, ...]  # pair (t - 1, t) for t = 1 .. N-1
    wrap: float  # pair (N - 1, 0)
    details: tuple[float, ...]  # `detail` of each frame

    @property
    def median(self) -> float:
        return statistics.median(self.pairs)

    @property
    def ratio(self) -> float:
        return self.wrap / self.median

    @property
    def worst(self) -> float:
        return max(self.pairs) / self.median

    @property
    def least_detail(self) -> float:
        return min(self.details) / statistics.median(self.details)

    def line(self) -> str:
        return (f"wrap {self.ratio:.2f}x the median pair, worst pair {self.worst:.2f}x, "
                f"least detail {self.least_detail:.2f}x the median frame's")


def detail(image: Image) -> float:
    """High-frequency energy: mean squared difference of the grey image from its blur (sigma 1.5 px)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return float(((grey - cv2.GaussianBlur(grey, (0, 0), 1.5)) ** 2).mean())


def zoom_wrap(frames: Sequence[Image], matrix: Callable[[int], np.ndarray]) -> Wrap:
    """A zoom's pairs: frame t-1 moved by the zoom's motion at t (`matrix(t)`, 2x3) against frame t,
    mean absolute difference in grey levels; the wrap pair moves the last frame by the motion at N."""
    def pair(prev: Image, out: Image, t: int) -> float:
        return float(np.abs(warp(prev, matrix(t)).astype(np.float32) - out).mean())

    n = len(frames)
    return Wrap(tuple(pair(frames[t - 1], frames[t], t) for t in range(1, n)), pair(frames[-1], frames[0], n),
                tuple(detail(f) for f in frames))


def video_wrap(sources: Sequence[Image], outputs: Sequence[Image], method: flow_.Method = "dis") -> Wrap:
    """A stylised clip's pairs: the excess warping error (the output's minus the input's, flow from
    the inputs) of each neighbouring pair and of the wrap pair (last onto first)."""
    def pair(a: int, b: int) -> float:
        field, reliable = flow_.track(sources[a], sources[b], method)
        return pair_error(outputs[a], outputs[b], field, reliable) - pair_error(sources[a], sources[b], field, reliable)

    n = len(outputs)
    return Wrap(tuple(pair(t - 1, t) for t in range(1, n)), pair(n - 1, 0), tuple(detail(f) for f in outputs))
