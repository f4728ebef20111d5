"""The Ray Core engine: one actor per GPU (or CPU worker) loads the model once and renders
chunks handed out by an `ActorPool`; Ray retries a chunk whose actor raised or died. The
shots' keyframes go first, through the same pool (one cold frame each, shots in parallel);
then every chunk at once, each given its shot's key: no chunk waits for another.

Workers need the same dreamreel version and read access to the input path. They need no
access to the output folder: a finished segment comes back as bytes and the driver commits
it under ``OUT.parts/`` (atomically, so a segment on disk is always a whole chunk).
Imported only for ``--engine ray``: nothing else in dreamreel imports Ray.
"""

from __future__ import annotations

import socket
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import ray
from ray.util import ActorPool

from ..errors import DreamreelError
from .chunk import ChunkRenderer, Job
from .layout import Chunk
from .segments import Key, Piece, pieces

RETRIES = 2  # per chunk, on an exception or a lost worker
POLL_S = 0.5  # how often the driver refreshes progress while chunks render


@ray.remote
class Tally:
    """Frames rendered so far across the cluster (workers add, the driver reads)."""

    def __init__(self) -> None:
        self.frames = 0

    def add(self, n: int = 1) -> None:
        self.frames += n

    def total(self) -> int:
        return self.frames


class ChunkWorker:
    """A Ray actor around one `ChunkRenderer` (built by `make`, once per actor)."""

    def __init__(self, job: Job, tally: str, make: Callable[[Job], Callable] = ChunkRenderer) -> None:
        # the tally comes by name: an actor handle among the constructor's arguments would
        # not survive this actor's restart (ray-project/ray#53727)
        self.job, self.tally = job, ray.get_actor(tally)
        self.renderer = make(job)

    @ray.method(max_task_retries=RETRIES, retry_exceptions=True)
    def key(self, index: int) -> Key:
        """A shot's keyframe (its first frame, dreamed cold)."""
        return self.renderer.key(index)

    @ray.method(max_task_retries=RETRIES, retry_exceptions=True)
    def render(self, chunk: Chunk, key: Key | None = None) -> tuple[Chunk, list[tuple[Piece, bytes]]]:
        """Render `chunk` (from its shot's `key`) to local temporary files and return their bytes, piece by piece."""
        with tempfile.TemporaryDirectory(prefix="dreamreel-chunk-") as tmp:
            paths = {(role, kind): Path(tmp) / f"{role}{kind.ext}" for role, kind in pieces(chunk, self.job.kinds)}
            self.renderer(chunk, paths, lambda: self.tally.add.remote(1), key)
            return chunk, [(piece, path.read_bytes()) for piece, path in paths.items()]


def connect(address: str | None, *, quiet: bool = False, verbose: bool = False) -> None:
    """Join the cluster at `address` ("auto": $RAY_ADDRESS or the one `ray start` made here);
    none: that cluster if there is one, else a new local instance.

    Ray's own lines reach stderr only when `verbose` (its INFO log, and what workers print);
    otherwise only its errors, and under `quiet` nothing. The level must be set by `ray.init`
    itself: its "Token authentication is enabled" warning is logged inside `ray.init`, after
    it configures the ``ray`` logger.
    """
    if ray.is_initialized():
        return
    reachable(address)
    level = "INFO" if verbose else "CRITICAL" if quiet else "ERROR"
    try:
        ray.init(address=address, include_dashboard=False, logging_level=level, log_to_driver=verbose)
    except (ConnectionError, RuntimeError, ValueError) as e:
        where = address or "this machine"
        raise DreamreelError(f"cannot reach a Ray cluster at {where} ({str(e).splitlines()[0][:100]})",
                             "start one with `ray start --head`, or leave out --address for a local one") from None


def reachable(address: str | None, timeout: float = 5.0) -> None:
    """Fail in seconds on a HOST:PORT nobody answers (Ray itself would retry for minutes)."""
    if not address or address in ("auto", "local") or "://" in address:
        return
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as e:
        raise DreamreelError(f"no Ray cluster answers at {address} ({getattr(e, 'strerror', None) or e})",
                             "check HOST:PORT (`ray status` on the head shows it), or leave out --address for a local one") from None


def sizing(chunks: int, gpus_per_task: float | None, workers: int | None, cpus_per_worker: int) -> tuple[float, int]:
    """(GPUs per actor, actor count): one actor per GPU share when the cluster has GPUs, else per CPU share."""
    res = ray.cluster_resources()
    gpus = float(res.get("GPU", 0))
    gpt = (1.0 if gpus else 0.0) if gpus_per_task is None else gpus_per_task
    if gpt > gpus:
        raise DreamreelError(f"--gpus-per-task {gpt:g} but the cluster has {gpus:g} GPUs", "use --gpus-per-task 0 for CPU workers")
    fits = int(gpus // gpt) if gpt else int(res.get("CPU", 1) // cpus_per_worker)
    if workers and workers > fits:
        raise DreamreelError(f"--workers {workers} but the cluster has room for {fits} "
                             f"({'GPU' if gpt else 'CPU'}s {gpus if gpt else res.get('CPU', 0):g})",
                             f"use --workers {fits} or fewer, or add machines with `ray start --address ...`")
    return gpt, max(1, min(workers or fits, chunks))


def run(work, todo: Sequence[Chunk], progress, *, address: str | None = None, gpus_per_task: float | None = None,
        workers: int | None = None, make: Callable[[Job], Callable] = ChunkRenderer) -> list[str]:
    """Render `todo` on the cluster; each finished chunk is committed as soon as it arrives.

    Returns the errors of chunks that failed after their retries (they stay missing).
    """
    connect(address)  # usually done already by `job.render`, before the scan
    cpus = work.job.cfg.threads or 1
    gpt, n = sizing(len(todo), gpus_per_task, workers, cpus)
    name = f"dreamreel-tally-{uuid.uuid4().hex}"
    tally = Tally.options(name=name).remote()
    actor = ray.remote(ChunkWorker).options(num_cpus=cpus, num_gpus=gpt, max_restarts=RETRIES, max_task_retries=RETRIES)
    actors = [actor.remote(work.job, name, make) for _ in range(n)]
    pool = ActorPool(actors)
    shown, errors = 0, []
    try:
        try:
            keys = {i: ray.put(k) for i, k in work.keys(todo, lambda wanted: pool.map_unordered(
                lambda a, i: a.key.remote(i), wanted)).items()}
        except ray.exceptions.RayError as e:  # a key out of retries: its chunks cannot start, nothing renders
            return [str(e).strip().splitlines()[-1][:200]]
        for chunk in todo:
            pool.submit(lambda a, c: a.render.remote(c, keys.get(c.key)), chunk)
        while pool.has_next():
            try:
                chunk, blobs = pool.get_next_unordered(timeout=POLL_S)
            except TimeoutError:
                pass
            except ray.exceptions.RayError as e:  # out of retries: the chunk stays missing
                errors.append(str(e).strip().splitlines()[-1][:200])
            else:
                for piece, data in blobs:
                    work.parts.commit(work.parts.path(chunk, piece), data)
                progress.chunk()
            frames = ray.get(tally.total.remote())
            progress.frames(frames - shown)
            shown = frames
    finally:
        for a in [*actors, tally]:
            ray.kill(a)
    return errors
