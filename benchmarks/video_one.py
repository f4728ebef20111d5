"""One timed video render in a fresh process: prints a JSON line (seconds, frames, peak MiB, MB written).

    dreamreel  `pipeline.render` of the `video` preset: decode/encode threads, flow-warped
               carry, warm frames take `steps_warm` steps on the cut network
    naive      the loop a typical script writes: read a frame, dream it from scratch with the
               full network (`benchmarks.naive`), write it; no overlap of I/O and compute

Frames come from a generated camera pan over the bundled photo (`benchmarks.clips`), made in
another process (`--clip PATH`: made there once, then reused). `written_mb` is what the render
wrote to disk: this process's block writes (resume's parts among them) and its ffmpeg
children's (the encoded file), from `getrusage`.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import torch

from benchmarks.naive import naive_dream, textbook
from benchmarks.one import peaks
from pipeline import models, presets
from pipeline.frames import to_image, to_tensor
from pipeline.renderer import render
from pipeline.ascent import Ascent


def dreamreel(src: Path, out: Path, frames: int, threads: int, device: str, dream_size: int | None = None) -> None:
    cfg = presets.load("video", {"source": {"input": str(src), "frames": frames}, "threads": threads, "device": device,
                                 "dream": {"dream_size": dream_size}, "output": {"paths": [str(out)]}})
    render(cfg, quiet=True)


def naive(src: Path, out: Path, frames: int, threads: int, device: str, dream_size: int | None = None) -> None:
    torch.set_num_threads(threads)
    cfg = presets.load("video")
    model = textbook(models.load(device=torch.device(device)))
    reader = imageio_ffmpeg.read_frames(str(src))
    meta = next(reader)
    w, h = meta["size"]
    writer = imageio_ffmpeg.write_frames(str(out), (w, h), fps=meta["fps"], macro_block_size=2)
    writer.send(None)
    for i, raw in zip(range(frames), reader, strict=False):
        img = to_tensor(np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy(), device)
        writer.send(to_image(naive_dream(model, "blocks.9", img, Ascent.of(cfg.dream), seed=i)))
    writer.close()
    reader.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("variant", choices=["naive", "dreamreel"])
    p.add_argument("size", help="W or WxH (H defaults to 3/4 of W)")
    p.add_argument("frames", type=int)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dream-size", type=int, help="dreamreel: dream at this short side (the naive loop ignores it)")
    p.add_argument("--clip", type=Path, help="the source clip: made there if missing (at least `frames` long), else reused")
    p.add_argument("--peak-at", type=int, default=0, help="dreamreel: also the peak host memory once this many frames are "
                   "finished, in the same render (a shorter render never fills the decoder's and encoder's queues)")
    a = p.parse_args()
    w, _, h = a.size.partition("x")
    w, h = int(w), int(h) if h else int(w) * 3 // 4 // 2 * 2
    with tempfile.TemporaryDirectory() as tmp:
        src = a.clip or Path(tmp) / "in.mp4"  # made in another process: its frames must not count in this one's peak memory
        if not src.is_file():
            subprocess.run([sys.executable, "-m", "benchmarks.clips", str(src), "--clip", "pan", "--frames", str(a.frames),
                            "--width", str(w), "--height", str(h)], check=True, capture_output=True)
        blocks = written()
        watch = PeakAt(Path(tmp) / "out.mp4.parts", a.peak_at) if a.peak_at else None
        t0 = time.perf_counter()
        (dreamreel if a.variant == "dreamreel" else naive)(src, Path(tmp) / "out.mp4", a.frames, a.threads, a.device, a.dream_size)
        seconds = time.perf_counter() - t0
        mb = (written() - blocks) * 512 / 1e6
    at = {"peak_at_mib": watch.stop()} if watch else {}
    print(json.dumps({"seconds": seconds, "frames": a.frames, "written_mb": mb, **peaks(torch.device(a.device)), **at}))


class PeakAt:
    """Samples this process's peak host memory (VmHWM) every 20 ms until `frames` finished frames lie in
    resume's `folder`: the peak at that point of the render."""

    def __init__(self, folder: Path, frames: int) -> None:
        self.folder, self.frames, self.peak = folder, frames, None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.wait(0.02):
            if self.folder.is_dir() and len(list(self.folder.glob("*.png"))) >= self.frames:
                self.peak = hwm_mib()
                return

    def stop(self) -> float | None:
        self._done.set()
        self._thread.join()
        return self.peak


def hwm_mib() -> float:
    """This process's peak resident memory so far, MiB (Linux)."""
    line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def written() -> int:
    """512-byte blocks written so far by this process and its waited-for children (ffmpeg)."""
    return sum(resource.getrusage(who).ru_oublock for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))


if __name__ == "__main__":
    main()
