"""The one interface the engines use: build a renderer once per worker, then render chunks.

`ChunkRenderer(job)` loads the model once; `renderer(chunk, paths)` renders frames
``[chunk.first, chunk.end)`` with the dream chain starting cold at `chunk.first`, drops the
early warm-up frames and writes each other frame to the piece its role names (`Chunk.role`:
head, main or tail; `segments.pieces`). Frame ``i``'s
randomness depends only on the seed and ``i``, so a chunk renders the same frames on any
worker (same device, same threads).

SWAP (issue 6): the loop below is the interim one; with the video branch's infrastructure
the source becomes its `VideoSource(start=chunk.first, end=chunk.end)` and the stages its
`kind="video"` builder; the warm-up drop stays here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from ..config import RenderConfig
from ..dream import Dreamer
from ..frames import Carry, Frame, Stage
from ..post import Blend
from ..render import resolve_device
from . import interim
from .plan import Chunk
from .segments import Piece, SegmentKind, SegmentWriter

OnFrame = Callable[[], None]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to render any chunk: small and picklable (sent to Ray actors)."""

    cfg: RenderConfig
    source: Path
    fps: float
    kinds: tuple[SegmentKind, ...]


def chain(frames: Iterator[Frame], stages: Sequence[Stage]) -> Iterator[Frame]:
    """The feedback loop: each frame gets the last finished one as its carry."""
    carry: Carry | None = None
    for frame in frames:
        frame = replace(frame, carry=carry)
        for stage in stages:
            frame = stage(frame)
        carry = Carry(frame.source, frame.image)
        yield frame


class ChunkRenderer:
    """Model loaded once; renders chunk after chunk (one per Ray actor, or one in-process)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        cfg = job.cfg
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        dreamer = Dreamer.from_config(cfg.dream, resolve_device(cfg.device), cfg.seed)
        self.stages: list[Stage] = [interim.WarpCarry(), dreamer]
        if cfg.post.blend:
            self.stages.append(Blend(cfg.post.blend))

    def frames(self, chunk: Chunk) -> Iterator[Frame]:
        return interim.read_range(self.job.source, self.job.fps, chunk.first, chunk.end, self.job.cfg.source.size)

    def __call__(self, chunk: Chunk, paths: Mapping[Piece, Path], on_frame: OnFrame | None = None) -> None:
        with ExitStack() as stack:
            writers = [(role, stack.enter_context(SegmentWriter(path, kind, self.job.fps))) for (role, kind), path in paths.items()]
            for frame in chain(self.frames(chunk), self.stages):
                role = chunk.role(frame.index)  # None: a warm-up frame that only primes the chain
                for r, w in writers:
                    if r == role:
                        w.write(frame.image)
                if on_frame:
                    on_frame()
