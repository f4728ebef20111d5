"""Does a seam show? The warping error of each mid-shot seam pair against the other pairs.

A seam between two chunks of one shot is invisible when the pair of frames across it warps
onto each other as well as any other pair of the shot does. Pairs across a scene cut are
left out (a cut is meant to show). Same measure as `metrics` (Lai et al.), per pair.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from .. import flow, metrics
from ..frames import Image
from .plan import Chunk


@dataclass(frozen=True)
class SeamReport:
    seams: dict[int, float]  # first kept frame of a mid-shot chunk -> warping error of the pair ending there
    median: float  # median warping error of every other within-shot pair

    @property
    def ratios(self) -> dict[int, float]:
        return {t: e / self.median for t, e in self.seams.items()} if self.median else {}

    def line(self) -> str:
        seams = ", ".join(f"{t}: {e:.5f} ({e / self.median:.2f}x)" for t, e in sorted(self.seams.items()))
        return f"median pair {self.median:.5f}; seams {seams}"


def pair(sources: Sequence[Image], outputs: Sequence[Image], t: int) -> float:
    field, reliable = flow.track(sources[t - 1], sources[t])
    return metrics.pair_error(outputs[t - 1], outputs[t], field, reliable)


def seam_report(sources: Sequence[Image], outputs: Sequence[Image], chunks: Sequence[Chunk]) -> SeamReport:
    """Warping error of each pair (t - 1, t) inside a shot, seams apart from the rest (frames from chunks[0].start)."""
    first = chunks[0].start
    cuts = {c.start - first for c in chunks if not c.warmup}
    seams = {c.start - first for c in chunks if c.warmup}
    errors = {t: pair(sources, outputs, t) for t in range(1, chunks[-1].end - first) if t not in cuts}
    others = [e for t, e in errors.items() if t not in seams]
    return SeamReport({t + first: errors[t] for t in sorted(seams)}, statistics.median(others) if others else 0.0)
