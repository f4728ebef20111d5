"""One fractal-zoom render in a fresh process: prints a JSON line (seconds, fps, objective, peak MiB).

`naive` is the zoom loop a typical script writes: crop-and-resize the last frame, run the
naive DeepDream of `benchmarks.naive` on it (full network, fp32, NCHW), keep every frame in a
list and encode them at the end (as `imageio.mimsave` does). `dreamreel` is `render()` of the
same zoom (same layer, octaves, steps, zoom, start image) writing an MP4 as it goes.

`objective` is the mean over the first `--objective-frames` frames of the objective each frame
reaches (measured on the frame as written, 8-bit, fp32 forward): the naive side's kept frames,
and for dreamreel the same frames rendered again, untimed, as PNGs (a render is deterministic,
so they are the timed render's frames).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import torch

from benchmarks.naive import naive_dream, textbook
from benchmarks.one import peaks
from pipeline import models, objectives
from pipeline.ascent import Ascent
from pipeline.config import RenderConfig
from pipeline.features import FeatureNet
from pipeline.frames import to_image, to_tensor
from pipeline.renderer import render
from pipeline.sources import read_image
from pipeline.zoom import noise_image

LAYER = "blocks.9"
ZOOM = 1.02


def zoom_crop(image: np.ndarray, k: float) -> np.ndarray:
    """The script way: cut the centre 1/k and scale it back up."""
    h, w = image.shape[:2]
    ch, cw = round(h / k), round(w / k)
    y, x = (h - ch) // 2, (w - cw) // 2
    return cv2.resize(image[y:y + ch, x:x + cw], (w, h), interpolation=cv2.INTER_CUBIC)


def naive_zoom(size: int, frames: int, a: Ascent, out: Path, device: torch.device) -> list[np.ndarray]:
    model = textbook(models.load(device=device))
    frame = noise_image(size, 0)
    kept = []
    for t in range(frames):
        if t:
            frame = zoom_crop(frame, ZOOM)
        frame = to_image(naive_dream(model, LAYER, to_tensor(frame, device), a, seed=t))
        kept.append(frame)
    writer = imageio_ffmpeg.write_frames(str(out), (size, size), fps=25, macro_block_size=2)
    writer.send(None)
    for f in kept:
        writer.send(f)
    writer.close()
    return kept


def objective(frames: list[np.ndarray], device: str) -> float:
    """Mean objective the frames reach (fp32 forward to the layer)."""
    obj = objectives.layer(LAYER)
    feats = FeatureNet(models.load(device=torch.device(device)), obj.layers)
    with torch.no_grad():
        return float(np.mean([obj(feats(to_tensor(f, device))).item() for f in frames]))


def dreamreel_zoom(size: int, frames: int, a: Ascent, out: str, device: str, threads: int) -> None:
    cfg = RenderConfig(kind="zoom", seed=0, device=device, threads=threads,
                       source={"size": size, "frames": frames, "start": "noise"}, motion={"zoom": ZOOM},
                       dream={"objective": f'layer("{LAYER}")', "octaves": a.octaves, "octave_scale": a.octave_scale,
                              "steps": a.steps, "step_size": a.step_size, "jitter": a.jitter},
                       output={"paths": [str(out)]})
    render(cfg, quiet=True)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("variant", choices=["naive", "dreamreel"])
    p.add_argument("size", type=int)
    p.add_argument("frames", type=int)
    p.add_argument("--octaves", type=int, default=3)
    p.add_argument("--steps", type=int, default=4)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--objective-frames", type=int, default=0, help="measure the objective of this many first frames")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    asc = Ascent(octaves=a.octaves, octave_scale=1.4, steps=a.steps, step_size=0.02, jitter=16)
    with tempfile.TemporaryDirectory() as tmp:
        def go(frames: int, size: int, out: str) -> list[np.ndarray]:
            if a.variant == "naive":
                return naive_zoom(size, frames, asc, Path(tmp) / out, torch.device(a.device))
            dreamreel_zoom(size, frames, asc, f"{tmp}/{out}", a.device, a.threads)  # a string: "frames/" keeps its slash
            return []

        go(2, 64, "warm.mp4")  # warm-up: model load and first calls
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        kept = go(a.frames, a.size, "z.mp4")
        seconds = time.perf_counter() - t0
        memory = peaks(torch.device(a.device))  # before the objective's own pass
        value = None
        if n := min(a.objective_frames, a.frames):
            if a.variant == "dreamreel":
                go(n, a.size, "frames/")
                kept = [read_image(Path(tmp) / "frames" / f"{i:06d}.png") for i in range(n)]
            value = objective(kept[:n], a.device)
    # (ffmpeg's own peak is not reported: RUSAGE_CHILDREN counts the forked copy of this process)
    print(json.dumps({"seconds": seconds, "fps": a.frames / seconds, "objective": value, **memory}))


if __name__ == "__main__":
    main()
