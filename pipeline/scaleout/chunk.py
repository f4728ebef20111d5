"""The one interface the engines use: build a renderer once per worker, then render chunks.

`ChunkRenderer(job)` loads the model once and builds the video chain (`video.stages`, the very
list a local render runs: scene cut, flow feedback, shot dreamer, post, strength hold). `renderer(chunk, paths)`
reads frames ``[chunk.first, chunk.end)`` straight from the source (`open_frames` seeks
exactly), runs them through the chain starting cold at `chunk.first`, drops the early
warm-up frames and writes each other frame to the piece its role names (`Chunk.role`: head,
main or tail; `segments.pieces`). Frame ``i``'s randomness depends only on the seed and
``i``, and the chain's only state is `frame.carry`, so a chunk renders the same frames on any
worker (same device, same threads).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from .. import chain, video
from ..config import RenderConfig
from ..dream import Dreamer
from ..frames import Frame, Stage
from ..loop import Lap
from ..plan import make_music, pin_threads, resolve_device
from ..signals import Signals
from ..sources import open_frames
from .layout import Chunk
from .segments import Piece, SegmentKind, SegmentWriter

OnFrame = Callable[[], None]


@dataclass(frozen=True)
class Job:
    """Everything a worker needs to render any chunk: small and picklable (sent to Ray actors)."""

    cfg: RenderConfig
    source: Path
    fps: float  # the rate the source is read (and the output written) at
    start: int  # the render's first frame in the source (at `fps`); chunks count from here
    kinds: tuple[SegmentKind, ...]
    length: int | None = None  # frames in the render: music curves are scaled over it, as in a one-process render

    def frames(self, first: int, end: int | None) -> Iterator[Frame]:
        """Frames ``[first, end)`` of the render, seeking straight to `first`, scaled like the render's.

        Indices count from the render's first frame, as in a one-process render of the same
        range (a frame's randomness follows its index).
        """
        if first < 0:  # a loop's lead: the range's last frames, run round (`loop.Lap`)
            yield from itertools.islice(Lap(lambda k: self.frames(k, self.length), self.length, -first).iter_from(first),
                                        None if end is None else end - first)
            return
        stop = None if end is None else self.start + end
        for f in open_frames(self.source, self.cfg.source.size, start_frame=self.start + first, end_frame=stop, fps=self.fps):
            yield replace(f, index=first + f.index)


class ChunkRenderer:
    """Model loaded once; renders chunk after chunk (one per Ray actor, or one in-process)."""

    def __init__(self, job: Job) -> None:
        self.job = job
        cfg = job.cfg
        pin_threads(cfg)
        dreamer = Dreamer.from_config(cfg.dream, resolve_device(cfg.device), cfg.seed, signals=Signals.sample(cfg.audio.stems))
        music, _ = make_music(cfg, job.fps, job.source if job.source.is_file() else None, job.start / job.fps,
                              job.length)  # indices count from `start`
        loop = video.looping(cfg, job.length or 0)
        self.stages: list[Stage] = video.stages(cfg, dreamer, music, loop)  # the very list a local render runs
        self.carry_of = video.carry_of(cfg.video, loop, cfg.dream.dream_size)

    def __call__(self, chunk: Chunk, paths: Mapping[Piece, Path], on_frame: OnFrame | None = None) -> None:
        with ExitStack() as stack:
            writers = [(role, stack.enter_context(SegmentWriter(path, kind, self.job.fps))) for (role, kind), path in paths.items()]
            for frame, _carry in chain.run(self.job.frames(chunk.first, chunk.end), self.stages, carry_of=self.carry_of):
                role = chunk.role(frame.index)  # None: a warm-up frame that only primes the chain
                for r, w in writers:
                    if r == role:
                        w.write(frame.image)
                if on_frame:
                    on_frame()
