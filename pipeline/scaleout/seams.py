"""Does a seam show? The warping error of each mid-shot seam pair against the other pairs, and
how far what holds still changes across it.

A seam between two chunks of one shot is invisible when the pair of frames across it warps
onto each other as well as any other pair of the shot does. Pairs across a scene cut are
left out (a cut is meant to show). Same measure as `metrics` (Lai et al.), per pair. A ratio
to the median pair says little once a render holds still (its own pairs near a seam reach
several times its median): compare the worst pair of a seam's window with the one-process
render's worst pair in the same window, and the change of the static regions across the seam
(`seam_boil`) with the one-process render's.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .. import metrics
from ..frames import Image
from .layout import Chunk


@dataclass(frozen=True)
class SeamReport:
    seams: dict[int, float]  # first kept frame of a mid-shot chunk -> the worst pair error around it
    worst_at: dict[int, int]  # ... -> the pair (t - 1, t) where that worst error is, named by t
    median: float  # median warping error of every pair away from the seams

    @property
    def ratios(self) -> dict[int, float]:
        return {t: e / self.median for t, e in self.seams.items()} if self.median else {}

    def line(self) -> str:
        seams = ", ".join(f"{t}: worst {e / self.median:.2f}x at pair {self.worst_at[t]}" for t, e in sorted(self.seams.items()))
        return f"median pair {self.median:.5f}; seams {seams}"


def pair(sources: Sequence[Image], outputs: Sequence[Image], t: int) -> float:
    field, reliable = metrics.tracked(sources[t - 1], sources[t])
    return metrics.pair_error(outputs[t - 1], outputs[t], field, reliable)


def seam_report(sources: Sequence[Image], outputs: Sequence[Image], chunks: Sequence[Chunk]) -> SeamReport:
    """Warping error of each pair (t - 1, t) inside a shot; for each mid-shot seam the worst pair of its
    neighbourhood against the median of every pair outside those neighbourhoods (frames counted from
    chunks[0].start).

    The neighbourhood is every pair a seam touches: from the previous chunk's last own frame into
    the cross-fade, through the fade, to the new chunk's second kept frame. (The warm-up frames
    before the fade are rendered and dropped: the output there is the previous chunk's own.)
    """
    first = chunks[0].start
    cuts = {c.start - first for c in chunks if not c.warmup}
    near = {c.start - first: range(max(1, c.start - first - c.fade_in), c.start - first + 2) for c in chunks if c.warmup}
    errors = {t: pair(sources, outputs, t) for t in range(1, chunks[-1].end - first) if t not in cuts}
    around = {t for window in near.values() for t in window}
    others = [e for t, e in errors.items() if t not in around]
    worst = {s: max((t for t in window if t in errors), key=errors.__getitem__) for s, window in near.items()}
    return SeamReport({s + first: errors[t] for s, t in sorted(worst.items())},
                      {s + first: t + first for s, t in worst.items()}, statistics.median(others) if others else 0.0)


BEFORE, AFTER = 10, 25  # frames either side of a seam over which its static regions' change is measured


def seam_boil(sources: Sequence[Image], outputs: Sequence[Image], chunks: Sequence[Chunk]) -> dict[int, float | None]:
    """For each mid-shot seam, `metrics.boil` from `BEFORE` frames before its first kept frame to
    `AFTER` after, within its shot (frames counted from chunks[0].start): how much what holds
    still changes across it."""
    first = chunks[0].start
    starts = [c.start for c in chunks if not c.warmup] + [chunks[-1].end]  # shot bounds
    out = {}
    for c in (c for c in chunks if c.warmup):
        shot = max(s for s in starts if s <= c.start), min(s for s in starts if s > c.start)
        span = range(max(shot[0], c.start - BEFORE) - first, min(shot[1], c.start + AFTER) - first)
        out[c.start] = metrics.boil((sources[t], outputs[t]) for t in span)
    return out
