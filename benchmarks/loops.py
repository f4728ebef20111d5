"""`python -m benchmarks.loops`: how seamlessly zooms and stylised clips play round, without and with --loop.

Cases: the zoom preset at 128 px, 48 frames, ``--zoom 1.03``; the `zoom-loop` preset at 128 px,
48 frames (its turn and sway are schedules in ``sin(2*pi*t/N)``); the `video` preset on a
window circling once round the bundled photo in 36 frames (128x96, `benchmarks.clips.circle`,
a clip that loops). Each case renders to a frames folder on one thread, then `pipeline.metrics`:

- zoom (`metrics.zoom_wrap`): each pair is frame t-1 moved by the zoom's motion at t against
  frame t (mean |difference|, grey levels); the wrap pair moves the last frame onto the first.
  Targets: wrap <= 1.5x the median pair, no pair above 2x, every frame's fine detail (`detail`)
  >= 0.7x the median frame's.
- video (`metrics.video_wrap`): each pair's excess warping error (Lai et al., flow from the
  inputs); target: wrap <= 1.5x the median pair, as many frames as the input.

The figures are quality, not speed: they hold on a loaded machine (a different thread count
dreams different pixels, chaos, and moves them a little).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from benchmarks import clips
from pipeline import metrics, presets
from pipeline.motion import ZoomFeedback
from pipeline.renderer import render
from pipeline.signals import Signals
from pipeline.sources import open_frames
from pipeline.zoom import schedules

ZOOM = {"size": 128, "frames": 48}
CLIP = {"frames": 36, "w": 128, "h": 96, "fps": 12.0}


def frames_of(path: Path) -> list:
    return [f.source for f in open_frames(path)]


def zoom_case(preset: str, loop: bool, tmp: Path, threads: int, motion: dict | None = None) -> metrics.Wrap:
    out = tmp / f"{preset}-{loop}/"
    cfg = presets.load(preset, {"loop": loop, "threads": threads, "source": ZOOM, "motion": motion or {},
                                "output": {"paths": [str(out) + "/"]}})
    render(cfg, quiet=True)
    frames = frames_of(out)
    h, w = frames[0].shape[:2]
    feedback = ZoomFeedback(**schedules(cfg, range(len(frames) + 1), frames[0].shape, Signals.sample().lasting(len(frames))))
    return metrics.zoom_wrap(frames, lambda t: feedback.matrix(t, w, h))


def video_case(clip: Path, loop: bool, tmp: Path, threads: int) -> tuple[metrics.Wrap, int]:
    out = tmp / f"video-{loop}/"
    render(presets.load("video", {"loop": loop, "threads": threads, "source": {"input": str(clip)},
                                  "output": {"paths": [str(out) + "/"]}}), quiet=True)
    outputs = frames_of(out)
    return metrics.video_wrap(frames_of(clip), outputs), len(outputs)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cases", default="zoom,zoom-loop,video", help="comma list of zoom, zoom-loop, video")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cases = set(a.cases.split(","))
    print("case | --loop | frames | wrap / median pair | worst pair / median | least detail / median frame")
    print("--- | --- | --- | --- | --- | ---", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for preset, motion in (("zoom", {"zoom": 1.03}), ("zoom-loop", None)):
            if preset in cases:
                for loop in (False, True):
                    r = zoom_case(preset, loop, t, a.threads, motion)
                    print(f"{preset} 128 px | {'on' if loop else 'off'} | {len(r.details)} | {r.ratio:.2f} | {r.worst:.2f} | "
                          f"{r.least_detail:.2f}", flush=True)
        if "video" in cases:
            clip = clips.write_mp4(t / "circle.mp4", clips.circle(CLIP["frames"], CLIP["w"], CLIP["h"]), CLIP["fps"])
            for loop in (False, True):
                r, n = video_case(clip, loop, t, a.threads)
                print(f"video, circling window | {'on' if loop else 'off'} | {n} of {CLIP['frames']} | {r.ratio:.2f} (excess) | "
                      f"{r.worst:.2f} | {r.least_detail:.2f}", flush=True)


if __name__ == "__main__":
    main()
