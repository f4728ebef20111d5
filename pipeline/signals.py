"""The names music lends to expressions and the `Signals` value that holds them.

Schedules and objectives may read ``s`` (seconds), ``N`` (the render's frame count: a loop's
``sin(2*pi*t/N)`` ends where it starts), a track's curves ``onset``, ``beat``, ``rms``,
``low``, ``mid``, ``high`` (each in [0, 1] per frame), its ``bpm``, and the same for each stem
with the stem's name as a prefix (``drums_onset``). This module knows the names and holds the
values; `audio` decodes and analyses a track into a `Signals`, and the builders (`plan.make_music`)
decide which track a render reads. It imports nothing of the package but `errors`, so the
expression modules (`schedule`, `objectives`) and `config` can all stand on it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import DreamreelError

CURVES = ("onset", "beat", "rms", "low", "mid", "high")  # per frame, each in [0, 1]
SAMPLE = {"onset": 0.5, "beat": 0.5, "rms": 0.5, "low": 0.5, "mid": 0.5, "high": 0.5, "bpm": 120.0}  # typical values
CLOCK = ("s", "N")  # the names every render lends, track or none: seconds, and the frame count
SAMPLE_N = 100  # what ``N`` reads before a builder knows the frame count (a recipe being checked)
_STEM_NAME = re.compile(r"[a-z][a-z0-9]*")


def track_names(prefix: str = "") -> tuple[str, ...]:
    """The names one track lends: its curves and its ``bpm`` (``drums_onset`` ... with a prefix)."""
    return tuple(f"{prefix}{n}" for n in (*CURVES, "bpm"))


def names(stems: Iterable[str] = ()) -> tuple[str, ...]:
    """Every name an expression may use besides ``t`` and math: ``s``, ``N``, the track's, each stem's."""
    return (*CLOCK, *track_names(), *(n for stem in stems for n in track_names(f"{stem}_")))


def is_variable(name: str) -> bool:
    """Whether `name` is one of the per-frame names (``s``, ``beat``, ``drums_onset``, ...)."""
    return name == "s" or name.rpartition("_")[2] in track_names()


def audio_names(used: Iterable[str], stems: Iterable[str] = ()) -> list[str]:
    """The names in `used` that need a soundtrack (all of `names` but ``s`` and ``N``)."""
    need = set(names(stems)) - set(CLOCK)
    return sorted(set(used) & need)


def check_stem(name: str) -> str:
    """A stem's name becomes a prefix (``drums`` -> ``drums_onset``): lower-case letters and digits."""
    if not _STEM_NAME.fullmatch(name):
        raise DreamreelError(f"audio.stems: bad stem name {name!r}", "use lower-case letters and digits, e.g. drums or bass")
    return name


@dataclass(frozen=True, eq=False)
class Signals:
    """Per-frame curves at `fps` (name -> float32 array of `frames` values) and per-track scalars.

    Read-only in practice (the arrays are not writeable); plain dicts so it pickles (Ray workers).
    ``frames == 0`` is the value used to check expressions before any audio is read: every
    name then reads as a typical value (0.5, 120 bpm) so ``1/onset`` is not refused as a
    division by zero. Past the end of the track a curve reads 0 (silence).
    """

    fps: float = 25.0
    frames: int = 0
    curves: Mapping[str, np.ndarray] = field(default_factory=dict)
    scalars: Mapping[str, float] = field(default_factory=dict)  # bpm, STEM_bpm
    beats: tuple[float, ...] = ()  # the track's beat times, seconds
    seconds: float = 0.0
    length: int = 0  # frames in the render: what ``N`` reads (0: not known yet, it reads SAMPLE_N)

    @classmethod
    def sample(cls, stems: Iterable[str] = (), fps: float = 25.0) -> Signals:
        """No audio yet: the names exist (for checking), each with a typical value."""
        prefixes = ["", *(f"{s}_" for s in stems)]
        return cls(fps, 0, {p + k: np.full(1, v, np.float32) for p in prefixes for k, v in SAMPLE.items() if k != "bpm"},
                   {f"{p}bpm": SAMPLE["bpm"] for p in prefixes})

    def at(self, t: float) -> dict[str, float]:
        """Every name's value at frame `t`."""
        i = int(math.floor(t + 1e-9))
        if self.frames == 0:
            values = {k: float(v[0]) for k, v in self.curves.items()}
        else:
            values = {k: float(v[i]) if 0 <= i < len(v) else 0.0 for k, v in self.curves.items()}
        return {"s": t / self.fps, "N": self.length or SAMPLE_N, **self.scalars, **values}

    def lasting(self, frames: int | None) -> Signals:
        """These signals in a render of `frames` frames (``N``); None: not known, as they are."""
        return self if not frames else replace(self, length=frames)

    def table(self) -> dict[str, np.ndarray]:
        """Name -> per-frame values (``s`` first): the CSV's columns, the picture's rows."""
        return {"s": np.arange(self.frames, dtype=np.float64) / self.fps, **self.curves}


NO_AUDIO = Signals.sample()  # the names exist, with typical values, until a builder binds a track
