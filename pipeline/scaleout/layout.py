"""Planning a chunked render: cut a frame range at scene cuts, split long shots into chunks.

A scene cut is a free seam: the dream chain resets there anyway, so a chunk that starts at a
cut (or at the start of the range) needs no warm-up. A chunk that starts inside a shot begins
`warmup` frames earlier, inside the same shot; those frames are rendered only to warm the
chain (the dream settles into the state the previous chunk's last frame had) and dropped, so
the seam does not show. A plan covers every frame of the range exactly once.

A shot split into several chunks has one dream: its first frame (the *key*) is dreamed once and
every chunk of the shot starts from that dream (`Chunk.key`; `chunk.ChunkRenderer`), warped to
the chunk's first frame by the flow feedback, so what holds still keeps the key's dream in every
chunk and only what moves or is new is dreamed again by the chunk's chain.

The warm-up alone does not hide the seam: a dream chain is chaotic (two chains fed the same
frames do not converge, measured: after 3, 7 or 14 frames of overlap they still differ by
about the dream's own strength), so the chunk's last `fade` warm-up frames are cross-faded
with the previous chunk's last kept frames instead of dropped. The fade ramps from the old
chain to the new one and ends on the new chunk's first kept frame.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class Chunk:
    """Frames ``[start, end)`` are kept; ``[start - warmup, start)`` are rendered and dropped."""

    index: int
    start: int
    end: int
    warmup: int = 0
    fade_in: int = 0  # the last warm-up frames, cross-faded over the previous chunk's tail
    fade_out: int = 0  # this chunk's last kept frames that the next chunk fades over
    key: int | None = None  # the shot's first frame, whose dream every chunk of the shot starts from (None: one chunk)

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

    def role(self, index: int) -> str | None:
        """Which piece frame `index` goes to: None (dropped warm-up), head, main or tail."""
        if index < self.start - self.fade_in:
            return None
        if index < self.start:
            return "head"
        return "main" if index < self.end - self.fade_out else "tail"

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


def plan(start: int, end: int, cuts: Iterable[int], fps: float, chunk_seconds: float, warmup: int,
         fade: int = 0) -> tuple[Chunk, ...]:
    """Chunks covering ``[start, end)`` exactly once, split at `cuts` and every `chunk_seconds`.

    The chunks of a shot that is split share its first frame as their `key`. Warm-up never
    crosses a cut: a chunk near the start of its shot gets only the frames the shot has before it.
    The fade is at most the warm-up, and leaves the previous chunk at least one frame of its own.
    """
    if end <= start:
        return ()
    per_chunk = max(1, round(chunk_seconds * fps))
    chunks: list[Chunk] = []
    for shot in shots(start, end, cuts):
        edges = split(shot, per_chunk)
        key = shot[0] if len(edges) > 2 else None
        for i, (a, b) in enumerate(zip(edges, edges[1:])):
            w = min(warmup, a - shot[0])
            f = min(fade, w, a - edges[i - 1] - 1) if i else 0
            if f:
                chunks[-1] = replace(chunks[-1], fade_out=f)
            chunks.append(Chunk(len(chunks), a, b, w, f, key=key))
    return tuple(chunks)
