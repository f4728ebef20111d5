"""Planning a chunked render: cut a frame range at scene cuts, split long shots into chunks.

A scene cut is a free seam: the dream chain resets there anyway, so a chunk that starts at a
cut (or at the start of the range) needs no warm-up. A chunk that starts inside a shot begins
`warmup` frames earlier, inside the same shot; those frames are rendered only to warm the
chain (the dream settles into the state the previous chunk's last frame had) and dropped, so
the seam does not show. A plan covers every frame of the range exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Chunk:
    """Frames ``[start, end)`` are kept; ``[start - warmup, start)`` are rendered and dropped."""

    index: int
    start: int
    end: int
    warmup: int = 0

    @property
    def first(self) -> int:
        """The first frame rendered: where the chain starts cold."""
        return self.start - self.warmup

    @property
    def kept(self) -> int:
        return self.end - self.start

    @property
    def rendered(self) -> int:
        return self.end - self.first

    @property
    def name(self) -> str:
        """Stable file stem: the same chunk in a rerun has the same name (resume)."""
        return f"c{self.index:05d}-{self.start:07d}-{self.end:07d}-w{self.warmup}"


def shots(start: int, end: int, cuts: Iterable[int]) -> list[tuple[int, int]]:
    """``[start, end)`` cut at every scene cut inside it (a cut is a shot's first frame)."""
    bounds = sorted({start, end} | {c for c in cuts if start < c < end})
    return list(zip(bounds, bounds[1:]))


def split(shot: tuple[int, int], per_chunk: int) -> list[int]:
    """Edges of evenly sized pieces of at most `per_chunk` frames (no runt last chunk)."""
    a, b = shot
    k = max(1, math.ceil((b - a) / per_chunk))
    return [a + (i * (b - a)) // k for i in range(k + 1)]


def plan(start: int, end: int, cuts: Iterable[int], fps: float, chunk_seconds: float, warmup: int) -> tuple[Chunk, ...]:
    """Chunks covering ``[start, end)`` exactly once, split at `cuts` and every `chunk_seconds`.

    Warm-up never crosses a cut: a chunk near the start of its shot gets only the frames
    the shot has before it.
    """
    if end <= start:
        return ()
    per_chunk = max(1, round(chunk_seconds * fps))
    chunks: list[Chunk] = []
    for shot in shots(start, end, cuts):
        edges = split(shot, per_chunk)
        for a, b in zip(edges, edges[1:]):
            chunks.append(Chunk(len(chunks), a, b, min(warmup, a - shot[0])))
    return tuple(chunks)
