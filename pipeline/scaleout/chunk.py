"""The one interface the engines use: build a renderer once per worker, then render chunks.

`ChunkRenderer(job)` loads the model once and builds the video chain (`video.stages`, the very
list a local render runs: scene cut, flow feedback, shot dreamer, post, strength hold). `renderer(chunk, paths)`
reads frames ``[chunk.first, chunk.end)`` straight from the source (`open_frames` seeks
exactly), runs them through the chain, drops the early warm-up frames and writes each other
frame to the piece its role names (`Chunk.role`: head, main or tail; `segments.pieces`).

A chunk of a shot that is one chunk starts cold at `chunk.first`, as `render()` starts a shot.
The chunks of a split shot start from the shot's `Key` instead (its first frame dreamed once,
`renderer.key`, by whichever worker, before the chunks): the chunk that starts the shot takes it
as its first frame; the others carry the key's dream along the flow to their first frame (the
pixels followed frame by frame, the dream warped once: cheap, nothing dreamed) and keep it where
it holds, the cold dream of that frame where it does not, so a fixed camera's background is the key's
dream in every chunk and the warm-up dreams only what moved or is new. Frame ``i``'s randomness depends only
on the seed and ``i``, and the chain's only state is `frame.carry`, so a chunk renders the same
frames on any worker (same device, same threads).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .. import chain, flow, steady, video
from ..config import RenderConfig
from ..dream import Dreamer
from ..frames import Carry, Followed, Frame, Stage
from ..loop import Lap
from ..motion import FlowFeedback
from ..plan import make_music, pin_threads, resolve_device
from ..post import HoldStrength
from ..signals import Signals
from ..sources import open_frames
from .layout import Chunk
from .segments import Key, Piece, SegmentKind, SegmentWriter

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

    def key(self, index: int) -> Key:
        """Frame `index` dreamed cold, as a shot's first frame is: the key its chunks share."""
        frame = chain.advance(next(self.job.frames(index, index + 1)), None, self.stages)
        return Key(index, frame.source, frame.image)

    def frames(self, chunk: Chunk, key: Key | None = None) -> Iterator[Frame]:
        """The chunk's finished frames, warm-up included, starting from the shot's `key` if it has one."""
        frames, carry = self.job.frames(chunk.first, chunk.end), None
        if key is not None:
            first = next(frames)
            first = replace(first, image=key.dream) if key.index == chunk.first else self.keyed(first, key)
            yield first
            carry = self.carry_of(first)
        for frame, _carry in chain.run(frames, self.stages, carry, self.carry_of):
            yield frame

    def keyed(self, frame: Frame, key: Key) -> Frame:
        """A chunk's first frame inside its shot: the key's dream carried along the flow to it (the
        pixels followed frame by frame, `steady.along`, the dream warped once) where it holds and the
        input still agrees (or, lost by the flow, is the same in place), the frame's cold dream where
        the key has nothing (what moved, or came into view since): one or the other, never a mix
        (weaker than either)."""
        feedback = next(s for s in self.stages if isinstance(s, FlowFeedback))
        h, w = frame.source.shape[:2]
        wh = steady.flow_shape(h, w, feedback.flow_size)  # followed at flow size, as the render's own frames are
        small = lambda x: steady.at_size(x, wh[1], wh[0])  # noqa: E731
        inputs = (small(f.source) for f in self.job.frames(key.index + 1, frame.index + 1))
        _, field_s, trust_s, camera_s = steady.along(itertools.chain([small(key.source)], inputs), feedback.method)
        field, trust = field_s, trust_s
        if wh != (w, h):
            field = cv2.resize(field_s, (w, h), interpolation=cv2.INTER_LINEAR) * np.float32(w / wh[0])
            trust = cv2.resize(trust_s, (w, h), interpolation=cv2.INTER_LINEAR)
        base = flow.warp(key.source, field, True).astype(np.float32)
        followed = trust * steady.fits(base.astype(np.uint8), frame.source, np.zeros_like(field)) >= 0.5
        still = steady.unchanged(key.source, frame.source) >= 0.5  # lost by the flow, the same in place: kept in place
        if camera_s is not None and np.abs(camera_s).max() >= steady.SLOW[0]:
            still[:] = False  # the camera moved: nothing is where it was
        src = frame.source.astype(np.float32)
        carried = np.where(followed[..., None], flow.warp(key.dream, field, True) - base, key.dream.astype(np.float32) - key.source)
        cold = chain.advance(frame, None, self.stages)
        image = np.where((followed | still)[..., None], np.clip(src + carried + 0.5, 0, 255).astype(np.uint8), cold.image)
        image = self.at_key_strength(replace(cold, image=image), key, ~(followed | still))
        return replace(cold, image=image, followed=None if camera_s is None else Followed(key.source, key.dream, field_s, trust_s, camera_s))

    def at_key_strength(self, frame: Frame, key: Key, new: np.ndarray) -> np.ndarray:
        """The keyed frame's image brought to the shot's strength, as `post.HoldStrength` brings every
        frame of a one-process render (by induction from the key): the lift on the `new` pixels alone.
        A dream warped once softens a little, and without this the chunk held itself at that lower
        level for good (the strength target is the previous frame's)."""
        hold = next((s for s in self.stages if isinstance(s, HoldStrength)), None)
        if hold is None:
            return frame.image
        return hold(replace(frame, carry=Carry(key.source, key.dream), weight=new.astype(np.float32))).image

    def __call__(self, chunk: Chunk, paths: Mapping[Piece, Path], on_frame: OnFrame | None = None,
                 key: Key | None = None) -> None:
        with ExitStack() as stack:
            writers = [(role, stack.enter_context(SegmentWriter(path, kind, self.job.fps))) for (role, kind), path in paths.items()]
            for frame in self.frames(chunk, key):
                role = chunk.role(frame.index)  # None: a warm-up frame that only primes the chain
                for r, w in writers:
                    if r == role:
                        w.write(frame.image)
                if on_frame:
                    on_frame()
