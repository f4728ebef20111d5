"""The studio's render thread in a fresh process: prints a JSON line (frames/s, seconds per frame).

A `Session` is made as `dreamreel studio PRESET --size N` makes it, and its render thread's own
loop (`render_one`: the chain, the plot's figures, whatever it publishes to the page) is timed
over `frames` frames after two warm-up frames. A still renders one frame, so its row is 1 / its
time. A video preset reads a generated pan (`benchmarks.clips`) made in another process.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from benchmarks.one import peaks
from pipeline import presets
from pipeline.studio.session import Session

PRESETS = {"zoom": "zoom", "video": "video", "still": "default"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=sorted(PRESETS))
    p.add_argument("size", type=int, help="the preview's longest side (dreamreel studio --size)")
    p.add_argument("frames", type=int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--clip", type=Path, help="video: the source clip (made there if missing)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    with tempfile.TemporaryDirectory() as tmp:
        flags: dict = {"source": {"size": a.size}, "device": a.device, "threads": a.threads}
        if a.kind == "video":
            clip = a.clip or Path(tmp) / "in.mp4"
            if not clip.is_file():
                w, h = a.size, a.size * 3 // 4 // 2 * 2
                subprocess.run([sys.executable, "-m", "benchmarks.clips", str(clip), "--clip", "pan", "--frames",
                                str(a.frames + 4), "--width", str(w), "--height", str(h)], check=True, capture_output=True)
            flags["source"]["input"] = str(clip)
        session = Session(presets.load(PRESETS[a.kind], flags), Path(tmp))
        try:
            if a.kind == "still":
                session.render_one()  # model load, first calls
                session = Session(presets.load(PRESETS[a.kind], flags), Path(tmp))
                t0 = time.perf_counter()
                session.render_one()
                seconds, frames = time.perf_counter() - t0, 1
            else:
                for _ in range(2):
                    session.render_one()
                t0 = time.perf_counter()
                for _ in range(a.frames):
                    session.render_one()
                seconds, frames = time.perf_counter() - t0, a.frames
        finally:
            session.stop()
    print(json.dumps({"seconds": seconds / frames, "fps": frames / seconds, **peaks(torch.device(a.device))}))


if __name__ == "__main__":
    main()
