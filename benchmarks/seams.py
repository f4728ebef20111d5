"""`python -m benchmarks.seams`: do chunk seams show? Warping error of each seam pair vs the median pair.

Renders the generated 3-shot test clip (90 frames) in chunks in one process (engine "serial") (the
cluster engine gives the same frames), with and without the cross-fade, and prints one line
per setting, on the lossless MKV (the chunking alone) and on the H.264 MP4 (where each segment
starting on a key frame adds its own share at these tiny sizes). CPU, 1 thread; a few seconds a row.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from pipeline import load_preset
from pipeline.scaleout import job as job_
from pipeline.scaleout.seams import seam_report


def frames(path: Path) -> list[np.ndarray]:
    gen = imageio_ffmpeg.read_frames(str(path))
    w, h = next(gen)["size"]
    return [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in gen]


def main() -> None:
    from tests.scaleout_clip import make_clip

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--steps", type=int, default=1)
    p.add_argument("--chunk-seconds", type=float, default=1.5)
    p.add_argument("--settings", default="8/0,8/8,15/8", help="warmup/fade pairs, comma separated")
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp))
        src = frames(clip)
        for setting in args.settings.split(","):
            warmup, fade = map(int, setting.split("/"))
            out = Path(tmp) / f"w{warmup}f{fade}.mkv"
            cfg = load_preset("video", {"threads": 1, "seed": 1, "source": {"input": str(clip)},
                                        "output": {"paths": [str(out), str(out.with_suffix(".mp4"))]},
                                        "dream": {"octaves": 1, "steps": args.steps}, "video": {"steps_warm": args.steps},
                                          "scaleout": {"chunk_seconds": args.chunk_seconds, "warmup_frames": warmup,
                                                       "fade_frames": fade}})
            chunks = job_.prepare(cfg).chunks
            job_.render(cfg, quiet=True)
            for path in (out, out.with_suffix(".mp4")):
                print(f"warmup {warmup:>2} fade {fade:>2} {path.suffix}: {seam_report(src, frames(path), chunks).line()}")


if __name__ == "__main__":
    main()
