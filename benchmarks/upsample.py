"""`python -m benchmarks.upsample [--picture docs/dream-size.jpg]`: the dream's residual back at 4K,
edge-aware (`dreamsize.upsample`) against plain bicubic (a quality table, not timing).

The frame is a 3840x2160 view of the bundled photo with sharp lines and text drawn at 4K (the
photo alone is 451x300: no 4K detail of its own). Two residuals are brought up from 960x540:

    operator   a per-pixel colour curve of the frame (what a dream does to an object's colour
               and brightness) computed at 960x540, against the same curve computed at 4K:
               mean |error| in grey levels over all pixels and over edge pixels (the 4K
               frame's gradient in its top 5 %)
    dream      the `default` preset's dream at 960x540: how much of it survives (the upsampled
               residual shrunk back to 960x540 against the original, relative |error|)

With `--picture`, a 4K crop of the dream upsampled both ways, side by side (left bicubic).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks import clips
from pipeline import dreamsize, presets
from pipeline.dream import Dreamer
from pipeline.frames import Frame

W, H = 3840, 2160


def frame_4k() -> np.ndarray:
    img = cv2.resize(clips.photo(), (W, W * 300 // 451), interpolation=cv2.INTER_CUBIC)
    img = np.ascontiguousarray(img[(img.shape[0] - H) // 2:][:H])
    for i in range(12):  # sharp edges at 4K: stripes, a disc, text
        cv2.rectangle(img, (200 + 60 * i, 1500), (225 + 60 * i, 2000), (250, 250, 240) if i % 2 else (20, 30, 40), -1)
    cv2.circle(img, (3100, 600), 300, (200, 40, 40), -1)
    cv2.putText(img, "dreamreel 4K", (1300, 1900), cv2.FONT_HERSHEY_SIMPLEX, 7, (255, 255, 255), 24, cv2.LINE_AA)
    return img


def curve(image: np.ndarray) -> np.ndarray:
    """A strong per-pixel colour change: its residual follows the frame's edges exactly."""
    x = image.astype(np.float32) / 255.0
    return (np.stack([x[..., 1], x[..., 2] ** 0.5, 1 - x[..., 0]], -1) * 255.0 - image).astype(np.float32)


def table(full: np.ndarray, residual_small: np.ndarray) -> None:
    small_wh = residual_small.shape[1::-1]
    truth = curve(full)
    op_small = curve(dreamsize.shrink(full, small_wh))
    grey = cv2.cvtColor(full, cv2.COLOR_RGB2GRAY).astype(np.float32)
    grad = np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1))
    edges = grad > np.percentile(grad, 95)
    print("method | operator error (all) | operator error (edges) | dream lost")
    print("--- | --- | --- | ---")
    for name, edge_aware in (("bicubic", False), ("edge-aware", True)):
        err = np.abs(dreamsize.upsample(op_small, full, edge_aware) - truth).mean(-1)
        back = dreamsize.shrink(dreamsize.upsample(residual_small, full, edge_aware), small_wh)
        lost = np.abs(back - residual_small).mean() / np.abs(residual_small).mean()
        print(f"{name} | {err.mean():.2f} | {err[edges].mean():.2f} | {100 * lost:.1f} %", flush=True)


def picture(full: np.ndarray, residual_small: np.ndarray, path: Path) -> None:
    y, x, h, w = 1700, 1280, 320, 480  # the text's first letters, over the dream
    crops = [np.clip(full + dreamsize.upsample(residual_small, full, e) + 0.5, 0, 255).astype(np.uint8)[y:y + h, x:x + w]
             for e in (False, True)]
    side = np.concatenate([crops[0], np.full((h, 8, 3), 255, np.uint8), crops[1]], 1)
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(side, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {path} (left: bicubic, right: edge-aware; 4K pixels, {w}x{h} crop)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dream-size", type=int, default=540)
    p.add_argument("--picture", type=Path)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    full = frame_4k()
    small = dreamsize.shrink(full, dreamsize.small_size(H, W, a.dream_size))
    dreamer = Dreamer.from_config(presets.load("default").dream, torch.device("cpu"))
    residual = dreamer(Frame(0, small, small)).image.astype(np.float32) - small
    print(f"3840x2160 frame, residual from {small.shape[1]}x{small.shape[0]} (the default preset's dream)")
    table(full, residual)
    if a.picture:
        picture(full, residual, a.picture)


if __name__ == "__main__":
    main()
