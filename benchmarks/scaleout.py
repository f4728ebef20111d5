"""`python -m benchmarks.scaleout`: frames/s of `--engine ray` with 1, 2, ... workers on this machine.

A camera pan over the bundled photo (one long shot, so every chunk but the first pays the
warm-up) is rendered with the `video` preset on a local Ray instance, once per worker count,
each worker pinned to `--threads` CPU threads. Reported: kept frames per second of wall time
(the model load in each actor included, Ray's own start not), the speed-up over one worker,
and the share of rendered frames that were warm-up. From a per-GPU rate (`--gpu-fps`, e.g.
measured with `--device cuda --workers 1` on one GPU) it prints the figure expected for N
GPUs on paper: N x rate x kept/rendered.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.clips import camera, write_mp4
from pipeline import load_preset
from pipeline.scaleout import job as job_


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--frames", type=int, default=96)
    p.add_argument("--size", type=int, default=128, help="longest side of the clip in pixels")
    p.add_argument("--fps", type=float, default=12.0)
    p.add_argument("--workers", default="1,2", help="worker counts to try, comma separated")
    p.add_argument("--threads", type=int, default=1, help="CPU threads per worker")
    p.add_argument("--chunk-seconds", type=float, default=2.0)
    p.add_argument("--warmup", type=int, default=16)
    p.add_argument("--device", default="cpu")
    p.add_argument("--gpu-fps", type=float, default=None, help="a measured per-GPU rate to extrapolate from")
    p.add_argument("--gpus", type=int, default=8)
    p.add_argument("--fast", action="store_true", help="1 octave, 1 step (a smoke run)")
    a = p.parse_args()
    counts = [int(n) for n in a.workers.split(",")]

    import ray

    ray.init(num_cpus=max(counts) * a.threads, include_dashboard=False, logging_level="WARNING")
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_mp4(Path(tmp) / "pan.mp4", camera(a.frames, a.size, a.size * 3 // 4, pan=1.0), fps=a.fps)
        rows = []
        for n in counts:
            out = Path(tmp) / f"w{n}.mp4"
            over = {"threads": a.threads, "device": a.device, "source": {"input": str(clip)}, "output": {"paths": [str(out)]},
                    "scaleout": {"chunk_seconds": a.chunk_seconds, "warmup_frames": a.warmup}}
            if a.fast:
                over |= {"dream": {"octaves": 1, "steps": 1}, "video": {"steps_warm": 1}}
            cfg = load_preset("video", over)
            work = job_.prepare(cfg)
            rendered = sum(c.rendered for c in work.chunks)
            t0 = time.perf_counter()
            job_.render(cfg, "ray", workers=n, quiet=True)
            rows.append((n, len(work.chunks), a.frames / (time.perf_counter() - t0), rendered))
    ray.shutdown()
    base = rows[0][2] / rows[0][0]
    print(f"clip {a.frames} frames {a.size}px, chunks of {a.chunk_seconds:g} s, warm-up {a.warmup}, "
          f"{a.threads} thread(s)/worker, device {a.device}{', fast' if a.fast else ''}")
    print("workers | chunks | frames/s | speed-up vs 1 | warm-up share")
    print("--- | --- | --- | --- | ---")
    for n, chunks, fps, rendered in rows:
        print(f"{n} | {chunks} | {fps:.2f} | {fps / base:.2f}x | {1 - a.frames / rendered:.0%}")
    if a.gpu_fps:
        kept = a.frames / rows[0][3]
        print(f"on paper: {a.gpus} GPUs x {a.gpu_fps:g} frames/s x {kept:.2f} kept/rendered = {a.gpus * a.gpu_fps * kept:.1f} frames/s")


if __name__ == "__main__":
    main()
