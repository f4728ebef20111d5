"""A chunked render from start to finish: plan, render what is missing, join, clean up.

The engine only decides where chunks render (`serial`: this process, one after another;
`ray`: actors across a cluster). Planning, the shots' keyframes (dreamed first, once each,
kept for reruns), resume and the join are the same for both, so a cluster render and a serial
one of the same plan give the same file.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import torch
from tqdm import tqdm

from .. import guard, sinks, video
from ..config import RenderConfig
from ..errors import DreamreelError
from ..loop import Survey
from ..media import probe
from ..motion import is_cut
from ..plan import note
from ..renderer import outputs, recipe
from ..sources import open_frames
from ..version import version
from .chunk import ChunkRenderer, Job
from .layout import Chunk, plan
from .segments import FFV1, Audio, Key, Segments, Piece, SegmentKind, fingerprint, join, kind_for, pieces, write_fades

ENGINES = ("serial", "ray")
RENDERER = "video-3"  # bump when the chunk renderer changes what it draws: old segments are not reused


@dataclass(frozen=True)
class Scan:
    """What one pass over the render's range finds: its exact length and its scene cuts."""

    frames: int
    cuts: tuple[int, ...]  # first frames of new shots, counted from the range's start


@dataclass(frozen=True)
class Work:
    job: Job
    scan: Scan
    chunks: tuple[Chunk, ...]
    parts: Segments
    audio: Audio | None

    @property
    def todo(self) -> list[Chunk]:
        return [c for c in self.chunks if not self.parts.is_finished(c, self.job.kinds)]

    def keys(self, todo: Sequence[Chunk], render_keys: Callable[[list[int]], Iterable[Key]]) -> dict[int, Key]:
        """The keyframes the chunks of `todo` start from: those an earlier run kept, and the missing ones
        dreamed by `render_keys` (each once, on the engine's workers) and kept for reruns."""
        wanted = sorted({c.key for c in todo if c.key is not None})
        found = {i: k for i in wanted if (k := self.parts.read_key(i)) is not None}
        for key in render_keys([i for i in wanted if i not in found]):
            self.parts.store_key(key)
            found[key.index] = key
        return found

    def paths(self, chunk: Chunk) -> dict[Piece, Path]:
        return {p: self.parts.path(chunk, p) for p in pieces(chunk, self.job.kinds)}

    def fades(self) -> None:
        """Each seam's missing fade segments: its frames decoded and blended once, then encoded for
        every output kind."""
        for prev, chunk in zip(self.chunks, self.chunks[1:]):
            fades = [(self.parts.path(chunk, ("fade", kind)), kind) for kind in self.job.kinds]
            if chunk.fade_in and (missing := [(path, kind) for path, kind in fades if not path.is_file()]):
                sources = [f.source for f in self.job.frames(chunk.start - chunk.fade_in, chunk.start)]
                write_fades(missing, self.parts.path(prev, ("tail", FFV1)), self.parts.path(chunk, ("head", FFV1)), sources,
                            self.job.fps)

    def segments(self, kind: SegmentKind) -> list[Path]:
        """The join's list for one output kind: each chunk's fade (`fades`), then its main."""
        return [self.parts.path(c, (role, kind))
                for c in self.chunks for role in ("fade", "main") if c.fade_in or role == "main"]


class ChunkProgress:
    """Frames rendered across all workers (warm-up included), with chunks done as a postfix."""

    def __init__(self, todo: Sequence[Chunk], total_chunks: int, quiet: bool) -> None:
        self.done, self.total = total_chunks - len(todo), total_chunks
        self.bar = tqdm(total=sum(c.rendered for c in todo), unit="frame", disable=True if quiet else None,
                        dynamic_ncols=True, desc="chunks")
        self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str(f"{self.done}/{self.total} chunks", refresh=False)

    def frames(self, n: int = 1) -> None:
        self.bar.update(n)

    def chunk(self) -> None:
        self.done += 1
        self._show()
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def recipe_key(cfg: RenderConfig, source: Path) -> str:
    """What decides a segment's pixels: the recipe, the input file and the code that draws it."""
    data = recipe(cfg)
    data.pop("threads", None)
    stat = source.stat()
    return fingerprint(data, str(source.resolve()), stat.st_size, stat.st_mtime_ns, version(), RENDERER)


def scan(job: Job, end: int | None) -> Scan:
    """Read the range once: count its frames exactly and find the cuts the chain will reset at."""
    v = job.cfg.video
    threshold = 0.0 if v.independent else v.cut_threshold
    cuts, prev, count = [], None, 0
    for frame in job.frames(0, end):
        if prev is not None and threshold and is_cut(prev, frame.source, threshold):
            cuts.append(frame.index)
        prev, count = frame.source, count + 1
    if not count:
        raise DreamreelError(f"{job.source} has no frames in the range asked for", "check --start/--end")
    return Scan(count, tuple(cuts))


def cached_scan(parts: Segments, find: Callable[[], Scan]) -> Scan:
    """The scan, done once per recipe and kept in ``OUT.parts/plan.json`` for reruns."""
    path = parts.root / "plan.json"
    try:
        saved = json.loads(path.read_text())
        if saved["key"] == parts.key:
            return Scan(int(saved["frames"]), tuple(saved["cuts"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    found = find()
    path.parent.mkdir(parents=True, exist_ok=True)
    with sinks.committed(path) as partial:
        partial.write_text(json.dumps({"key": parts.key, "frames": found.frames, "cuts": found.cuts}))
    return found


def prepare(cfg: RenderConfig) -> Work:
    """Check outputs and input, then plan (every choice made here, before any rendering)."""
    paths = outputs(cfg)
    kinds = tuple(dict.fromkeys(kind_for(p, cfg.output.crf) for p in paths))
    for p in paths:
        sinks.check_writable(p)
    s = cfg.source
    if not s.input:
        raise DreamreelError("no input video", "dreamreel video IN.mp4 -o OUT.mp4 --engine ray")
    path = Path(s.input).expanduser()
    source = open_frames(path, s.size, s.start_time, s.end_time, s.start_frame, s.end_frame, s.frames, s.fps)
    job = Job(cfg, path, source.fps, source.start_frame, kinds)
    parts = Segments(guard.parts_dir(paths[0]), recipe_key(cfg, path))
    end = None if source.end_frame is None else source.end_frame - source.start_frame
    found = cached_scan(parts, lambda: scan(job, end))
    job = replace(job, length=found.frames)
    sc = cfg.scaleout
    if cfg.loop:  # one chunk, led in by the range's end run round: its closing blends toward that lead (`loop`)
        if line := Survey.of(job.frames(0, end)).note(path.name):
            note(line)
        chunks: tuple[Chunk, ...] = (Chunk(0, 0, found.frames, video.looping(cfg, found.frames).lead),)
    else:
        chunks = plan(0, found.frames, found.cuts, job.fps, sc.chunk_seconds, sc.warmup_frames, sc.fade_frames)
    if cfg.audio.file:  # --audio: that track from its start, re-encoded (codec None: never copied)
        audio = Audio(Path(cfg.audio.file).expanduser(), None, 0.0, found.frames / job.fps)
    else:
        codec = probe(source.audio).audio_codec if getattr(source, "audio", None) else None
        audio = Audio(source.audio, codec, job.start / job.fps, found.frames / job.fps) if codec else None
    return Work(job, found, chunks, parts, audio)


def run_serial(work: Work, todo: Sequence[Chunk], progress: ChunkProgress) -> list[str]:
    """The in-process engine: one renderer, the shots' keys, then chunks in order. Same pieces as the cluster's."""
    threads = torch.get_num_threads()
    try:
        renderer = ChunkRenderer(work.job)
        keys = work.keys(todo, lambda wanted: map(renderer.key, wanted))
        for chunk in todo:
            renderer(chunk, work.paths(chunk), progress.frames, keys.get(chunk.key))
            progress.chunk()
    finally:
        torch.set_num_threads(threads)  # the renderer pins cfg.threads; this process goes on as it was
    return []


def finish(work: Work) -> None:
    """Join each output from its segments, with the source audio of the rendered range."""
    work.fades()
    for path in outputs(work.job.cfg):
        join(work.segments(kind_for(path, work.job.cfg.output.crf)), path, work.audio)


@guard.guarded
def render(cfg: RenderConfig, engine: str = "serial", *, address: str | None = None, gpus_per_task: float | None = None,
           workers: int | None = None, quiet: bool = False, keep_parts: bool = False, verbose: bool = False) -> list[Path]:
    """Render a video in chunks on `engine`; finished chunks of an earlier run are reused.
    `verbose`: Ray's own log lines too (the engine's, silenced otherwise)."""
    if engine not in ENGINES:
        raise DreamreelError(f"unknown engine {engine!r}", f"use one of {', '.join(ENGINES)}")
    if cfg.mask is not None or cfg.regions:  # a chunk starts mid-video, where a carried mask is known only by the frames before
        raise DreamreelError("chunked renders take no [mask] or [[regions]] yet", "render masks with --engine local")
    if engine == "ray":
        try:
            from . import ray_engine  # the only place Ray is imported
        except ImportError as e:
            raise DreamreelError(f"--engine ray needs Ray ({e})", 'pip install "dreamreel[ray]"') from None
        ray_engine.connect(address, quiet=quiet, verbose=verbose)  # a cluster that is not there fails before the scan
    work = prepare(cfg)
    todo = work.todo
    progress = ChunkProgress(todo, len(work.chunks), quiet)
    try:
        if todo and engine == "ray":
            errors = ray_engine.run(work, todo, progress, address=address, gpus_per_task=gpus_per_task, workers=workers)
        else:
            errors = run_serial(work, todo, progress)
    except DreamreelError:
        if not work.parts.has_segments():
            work.parts.remove()  # refused before any chunk finished (bad flags, no cluster): leave nothing
        raise
    finally:
        progress.close()
    if missing := work.todo:
        why = f": {errors[0]}" if errors else ""
        raise DreamreelError(f"{len(missing)} of {len(work.chunks)} chunks failed (first: {missing[0].name}{why})",
                             "rerun the same command: finished chunks are kept and only these render")
    finish(work)
    if not keep_parts:
        work.parts.remove()
    return outputs(cfg)
