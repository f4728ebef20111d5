"""`python -m benchmarks.profile`: where a zoom frame's time goes (the `make bench` zoom: 256 px,
3 octaves x 4 steps on `blocks.9`), as shares of the render, from `cProfile`.

Each row is the cumulative time of the calls that make it (kernels included): the whole ascent
(`ascent.octaves`), within it the hand-written chain's forward and backward (`backprop.Chain`,
called from `FeatureNet`), the objective and its gradient, and the rest of the ascent (jitter,
octave resizes, the step's elementwise work); the zoom crop (`ZoomFeedback`); and the rest of the
frame (sinks and encoding, the chain, resume, set-up). cProfile times the main thread only (the
encoder's and decoder's threads run beside it) and slows Python-heavy parts more than
kernel-heavy ones: compare shares, not seconds.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time

import torch

from benchmarks.zoom import dreamreel_zoom
from pipeline.ascent import Ascent

def cumulative(stats: dict, file: str, name: str, caller_file: str | None = None) -> float:
    """Seconds under the functions `name` defined in `file` (only calls made from `caller_file`, if given)."""
    total = 0.0
    for (filename, _line, fn), (_cc, _nc, _tt, ct, callers) in stats.items():
        if filename.endswith(file) and fn == name:
            total += ct if caller_file is None else sum(c[3] for k, c in callers.items() if k[0].endswith(caller_file))
    return total


def parts(stats: dict, whole: float) -> list[tuple[str, float]]:
    ascent = cumulative(stats, "pipeline/ascent.py", "octaves")
    forward = cumulative(stats, "pipeline/backprop.py", "forward", "pipeline/features.py")
    backward = cumulative(stats, "pipeline/backprop.py", "backward", "pipeline/features.py")
    objective = cumulative(stats, "pipeline/features.py", "_objective_grads")
    zoom = cumulative(stats, "pipeline/motion.py", "__call__")
    return [("ascent, all of it", ascent), ("  network forward (hand chain)", forward),
            ("  network backward (hand chain)", backward), ("  objective and its gradient", objective),
            ("  jitter, octave resizes, the step's elementwise work", ascent - forward - backward - objective),
            ("zoom crop", zoom), ("the rest: sinks and encoding, chain, resume, set-up", whole - ascent - zoom)]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--frames", type=int, default=12)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    asc = Ascent(octaves=3, octave_scale=1.4, steps=4, step_size=0.02, jitter=16)
    with tempfile.TemporaryDirectory() as tmp:
        dreamreel_zoom(64, 2, asc, f"{tmp}/warm.mp4", "cpu", a.threads)  # model load and first calls, unprofiled
        prof = cProfile.Profile()
        t0 = time.perf_counter()
        prof.runcall(dreamreel_zoom, a.size, a.frames, asc, f"{tmp}/z.mp4", "cpu", a.threads)
        whole = time.perf_counter() - t0  # wall time: cProfile's own totals miss time in kernels that free the GIL
    stats = pstats.Stats(prof)
    print(f"zoom {a.size} px, {a.frames} frames, 3 octaves x 4 steps, {a.threads} threads: "
          f"{whole / a.frames * 1000:.0f} ms a frame under cProfile")
    print("part | share | ms a frame")
    print("--- | --- | ---")
    for label, t in parts(stats.stats, whole):
        print(f"{label} | {100 * t / whole:.1f} % | {t / a.frames * 1000:.0f}")


if __name__ == "__main__":
    main()
