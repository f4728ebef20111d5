"""`python -m benchmarks.profile`: where a zoom frame's time goes (the `make bench` zoom: 256 px,
3 octaves x 4 steps on `blocks.9`), as shares of the render, from `cProfile`.

Each function's own time (cProfile's tottime) is put in one bucket by where it is defined: the
network's forward (`features`, the nets, `torch.nn`), the hand-written backward (`backprop`),
the rest of the ascent (`ascent`, `view`, `objectives`: jitter, octave resizes, the step's
elementwise work), motion (`motion`: the zoom crop), the sinks (encoding, ffmpeg pipes), resume
and everything else. A built-in's time (a torch kernel, a cv2 call) counts toward the Python
function that called it, so "forward" includes oneDNN's convolutions. A profile, not a timing: compare shares, not seconds
(cProfile slows Python-heavy parts more than kernel-heavy ones).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
from collections import defaultdict

import torch

from benchmarks.zoom import dreamreel_zoom
from pipeline.ascent import Ascent

BUCKETS = (  # (label, path fragments), first match wins
    ("network forward", ("pipeline/features", "pipeline/models/", "torch/nn/")),
    ("hand-written backward", ("pipeline/backprop",)),
    ("ascent: jitter, octaves, step", ("pipeline/ascent", "pipeline/view", "pipeline/objectives", "pipeline/dream")),
    ("motion (zoom crop)", ("pipeline/motion", "pipeline/zoom")),
    ("sinks, encoding", ("pipeline/sinks", "pipeline/media", "pipeline/mux", "subprocess")),
    ("resume", ("pipeline/resume",)),
    ("chain, renderer", ("pipeline/chain", "pipeline/renderer", "pipeline/plan")),
)


def bucket(filename: str) -> str:
    return next((label for label, parts in BUCKETS if any(p in filename for p in parts)), "other (torch ops, numpy, cv2)")


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
        prof.runcall(dreamreel_zoom, a.size, a.frames, asc, f"{tmp}/z.mp4", "cpu", a.threads)
    stats = pstats.Stats(prof)
    shares: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), (_cc, _nc, tottime, _ct, callers) in stats.stats.items():
        if filename == "~" and callers:  # a built-in (a torch kernel, a cv2 call): its time goes to its callers
            for (caller, _l, _n), (_c, _k, tt, _t) in callers.items():
                shares[bucket(caller)] += tt
        else:
            shares[bucket(filename)] += tottime
    total = sum(shares.values())
    print(f"zoom {a.size} px, {a.frames} frames, 3 octaves x 4 steps, {a.threads} threads: "
          f"{total / a.frames * 1000:.0f} ms a frame under cProfile")
    print("part | share | ms a frame")
    print("--- | --- | ---")
    for label, t in sorted(shares.items(), key=lambda kv: -kv[1]):
        print(f"{label} | {100 * t / total:.1f} % | {t / a.frames * 1000:.0f}")


if __name__ == "__main__":
    main()
