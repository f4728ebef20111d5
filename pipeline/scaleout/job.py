"""A chunked render from start to finish: plan, render what is missing, join, clean up.

The engine only decides where chunks render (`local`: this process, one after another;
`ray`: actors across a cluster). Planning, resume and the join are the same for both, so a
cluster render and a local one of the same plan give the same file.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch
from tqdm import tqdm

from .. import sinks
from ..config import RenderConfig
from ..errors import DreamreelError
from ..render import outputs
from . import interim
from .chunk import ChunkRenderer, Job
from .plan import Chunk, plan
from .segments import FFV1, Audio, Parts, Piece, SegmentKind, fingerprint, join, kind_for, pieces, write_fade

ENGINES = ("local", "ray")
RENDERER = "interim-1"  # bump when the chunk renderer changes what it draws: old segments are not reused


@dataclass(frozen=True)
class Work:
    job: Job
    chunks: tuple[Chunk, ...]
    parts: Parts
    audio_codec: str | None

    @property
    def todo(self) -> list[Chunk]:
        return [c for c in self.chunks if not self.parts.is_finished(c, self.job.kinds)]

    def paths(self, chunk: Chunk) -> dict[Piece, Path]:
        return {p: self.parts.path(chunk, p) for p in pieces(chunk, self.job.kinds)}

    def segments(self, kind: SegmentKind) -> list[Path]:
        """The join's list for one output kind: each chunk's fade (made here if missing), then its main."""
        out: list[Path] = []
        for prev, chunk in zip((None, *self.chunks), self.chunks):
            if chunk.fade_in:
                fade = self.parts.path(chunk, ("fade", kind))
                if not fade.is_file():
                    write_fade(fade, self.parts.path(prev, ("tail", FFV1)), self.parts.path(chunk, ("head", FFV1)), kind,
                               self.job.fps)
                out.append(fade)
            out.append(self.parts.path(chunk, ("main", kind)))
        return out


class Progress:
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
    recipe = cfg.model_dump(exclude={"output", "description", "threads"})
    stat = source.stat()
    return fingerprint(recipe, str(source.resolve()), stat.st_size, stat.st_mtime_ns, _version(), RENDERER)


def _version() -> str:
    try:
        return metadata.version("dreamreel")
    except metadata.PackageNotFoundError:
        return "dev"


def cached_cuts(parts: Parts, find) -> list[int]:
    """Scene cuts, found once per recipe and kept in ``OUT.parts/plan.json`` for reruns."""
    path = parts.root / "plan.json"
    try:
        saved = json.loads(path.read_text())
        if saved.get("key") == parts.key:
            return [int(c) for c in saved["cuts"]]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    cuts = find()
    path.parent.mkdir(parents=True, exist_ok=True)
    with sinks.committed(path) as partial:
        partial.write_text(json.dumps({"key": parts.key, "cuts": cuts}))
    return cuts


def prepare(cfg: RenderConfig) -> Work:
    """Check outputs and input, then plan (every choice made here, before any rendering)."""
    paths = outputs(cfg)
    kinds = tuple(dict.fromkeys(kind_for(p) for p in paths))
    for p in paths:
        sinks.check_writable(p)
    if not cfg.source.input:
        raise DreamreelError("no input video given", "dreamreel video IN.mp4 -o OUT.mp4")
    source = Path(cfg.source.input).expanduser()
    meta = interim.probe(source)
    parts = Parts.beside(paths[0], recipe_key(cfg, source))
    cuts = cached_cuts(parts, lambda: interim.scene_cuts(source, meta.fps, meta.frame_count))
    chunks = plan(0, meta.frame_count, cuts, meta.fps, cfg.scaleout.chunk_seconds, cfg.scaleout.warmup_frames,
                  cfg.scaleout.fade_frames)
    return Work(Job(cfg, source, meta.fps, kinds), chunks, parts, meta.audio_codec)


def run_local(work: Work, todo: Sequence[Chunk], progress: Progress) -> None:
    """The in-process engine: one renderer, chunks in order. Same segments as the cluster's."""
    threads = torch.get_num_threads()
    try:
        renderer = ChunkRenderer(work.job)
        for chunk in todo:
            renderer(chunk, work.paths(chunk), progress.frames)
            progress.chunk()
    finally:
        torch.set_num_threads(threads)  # the renderer pins cfg.threads; this process goes on as it was


def finish(work: Work) -> None:
    """Join each output from its segments, with the source audio of the rendered range."""
    fps, first = work.job.fps, work.chunks[0].start
    seconds = (work.chunks[-1].end - first) / fps
    for path in outputs(work.job.cfg):
        kind = kind_for(path)
        audio = Audio(work.job.source, work.audio_codec, first / fps, seconds) if work.audio_codec else None
        join(work.segments(kind), path, audio)


def render(cfg: RenderConfig, engine: str = "local", *, address: str | None = None, gpus_per_task: float | None = None,
           workers: int | None = None, quiet: bool = False, keep_parts: bool = False) -> list[Path]:
    """Render a video in chunks on `engine`; finished chunks of an earlier run are reused."""
    if engine not in ENGINES:
        raise DreamreelError(f"unknown engine {engine!r}", f"use one of {', '.join(ENGINES)}")
    work = prepare(cfg)
    todo = work.todo
    progress = Progress(todo, len(work.chunks), quiet)
    errors: list[str] = []
    try:
        if todo and engine == "ray":
            from . import ray_engine  # the only place Ray is imported

            errors = ray_engine.run(work, todo, progress, address=address, gpus_per_task=gpus_per_task, workers=workers)
        elif todo:
            run_local(work, todo, progress)
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
