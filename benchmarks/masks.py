"""`python -m benchmarks.masks`: the mask targets, measured through the real pipeline (a quality table, not timing).

still   the bundled photo at `--size` px, the `default` preset, dreamed without a mask and with a
        disc mask (radius a quarter of the short side, `--feather` px): the mean change outside
        the disc past the feather (target <= 1.5 grey levels), and the dream inside the disc
        within the feather as a share of the unmasked dream there (target >= 0.8)
video   `benchmarks.clips.moving`: a textured square that moves 70 px over the photo (`--width`
        x `--height`, `--frames` frames, lossless PNG frames in and out), the `video` preset with
        the square's first-frame mask: the dream inside the square at the last frame (its
        outline eroded by 4 px; target >= 8 grey levels), and the change of the background away
        from its path (the union of its masks, grown by the feather and 6 px; target <= 2)

Pinned to one thread, so a run is repeatable.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch

from benchmarks import clips
from pipeline import presets
from pipeline.renderer import render
from pipeline.sources import SAMPLE, fit, read_image


def _png(path: Path, image: np.ndarray) -> Path:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image)
    return path


def _read(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1)


def still(tmp: Path, size: int, feather: int) -> dict[str, float]:
    image = fit(read_image(SAMPLE), size)
    h, w = image.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot(y - (h - 1) / 2, x - (w - 1) / 2)
    radius = min(h, w) / 4
    src, disc = _png(tmp / "in.png", image), _png(tmp / "disc.png", np.where(r <= radius, 255, 0).astype(np.uint8))

    def dreamed(name: str, **over: object) -> np.ndarray:
        out = tmp / f"{name}.png"
        render(presets.load("default", {"source": {"input": str(src)}, "threads": 1, "output": {"paths": [str(out)]}, **over}),
               quiet=True)
        return _change(_read(out), image)

    plain, masked = dreamed("plain"), dreamed("masked", mask={"mask": str(disc), "feather": feather})
    inside = r < radius - feather
    return {"outside": float(masked[r > radius + feather + 1].mean()), "inside": float(masked[inside].mean()),
            "unmasked": float(plain[inside].mean()), "ratio": float(masked[inside].mean() / plain[inside].mean())}


def video(tmp: Path, frames: int, w: int, h: int, feather: int) -> dict[str, float]:
    clip, masks = clips.moving(frames, w, h, travel=70)
    src = tmp / "clip"
    src.mkdir()
    for i, f in enumerate(clip):
        _png(src / f"{i:04d}.png", f)
    first = _png(tmp / "mask.png", masks[0])
    out = tmp / "out"
    render(presets.load("video", {"source": {"input": str(src)}, "threads": 1, "mask": {"mask": str(first), "feather": feather},
                                  "output": {"paths": [f"{out}/"]}}), quiet=True)
    last = _change(_read(sorted(out.glob("*.png"))[-1]), clip[-1])
    inside = cv2.erode(masks[-1], np.ones((9, 9), np.uint8)) > 0
    grow = 2 * (feather + 6) + 1
    path = cv2.dilate(np.maximum.reduce(masks), np.ones((grow, grow), np.uint8)) > 0
    return {"object": float(last[inside].mean()), "background": float(last[~path].mean()),
            "path": float(last[path & (masks[-1] == 0)].mean())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=256, help="the still's longest side")
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--height", type=int, default=192)
    p.add_argument("--frames", type=int, default=24)
    p.add_argument("--feather", type=int, default=8)
    a = p.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "s").mkdir()
        (Path(d) / "v").mkdir()
        s = still(Path(d) / "s", a.size, a.feather)
        v = video(Path(d) / "v", a.frames, a.width, a.height, a.feather)
    print(f"still {a.size} px, disc mask, feather {a.feather}: outside {s['outside']:.2f} grey levels (<= 1.5); "
          f"inside {s['inside']:.2f} vs {s['unmasked']:.2f} unmasked = {s['ratio']:.2f}x (>= 0.8)")
    print(f"video {a.width}x{a.height}, {a.frames} frames, square moving 70 px: last frame inside {v['object']:.2f} (>= 8); "
          f"background away from its path {v['background']:.2f} (<= 2); its path behind it {v['path']:.2f}")


if __name__ == "__main__":
    main()
