"""`python -m benchmarks.longsource`: a long source streams with flat memory.

A generated 20,000-frame clip (32x24, 100 fps) goes through the real render loop: the decode
thread (`VideoSource`), the chain, an MP4 sink and a frames folder (each with its encoder
thread), and the resume parts (a PNG and the carry per frame). No dreaming: what is measured
is whether anything in the streaming keeps per-frame state. Peak RSS of this process (ffmpeg
children excluded) is read after 2,000 and after 20,000 frames; it must stay within 5 %.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline import media
from pipeline.frames import Frame
from pipeline.plan import Plan, Progress
from pipeline.renderer import run
from pipeline.resume import Parts
from pipeline.sinks import for_path
from pipeline.sources import VideoSource


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


@dataclass
class PeakAt:
    """A sink that notes the process's peak RSS after the given frame counts."""

    at: tuple[int, ...]
    seen: int = 0
    peaks: dict[int, float] = field(default_factory=dict)

    def __enter__(self) -> PeakAt:
        return self

    def write(self, frame: Frame) -> None:
        self.seen += 1
        if self.seen in self.at:
            self.peaks[self.seen] = peak_mib()

    def __exit__(self, *_: object) -> None:
        pass


def clip(path: Path, frames: int, fps: int = 100) -> Path:
    media.run(["-f", "lavfi", "-i", f"testsrc=size=32x24:rate={fps}", "-frames:v", str(frames), "-c:v", "libx264",
               "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], f"cannot write {path}")
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=20_000)
    ap.add_argument("--early", type=int, default=2_000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="dreamreel-long-") as tmp:
        d = Path(tmp)
        source = VideoSource.open(clip(d / "long.mp4", args.frames))
        probe = PeakAt((args.early, args.frames))
        sinks = [for_path(str(d / "out.mp4"), "video", fps=source.fps), for_path(f"{d}/frames/", "video"), probe]
        plan = Plan(source, source.frame_count, [], sinks)
        started = time.monotonic()
        with Parts.open(d / "out.mp4.parts", {"bench": "longsource"}, resume=False) as parts:
            run(plan, parts, Progress(source.frame_count, quiet=True))
        seconds = time.monotonic() - started
    early, late = probe.peaks[args.early], probe.peaks[args.frames]
    growth = late / early - 1
    print(f"| frames | peak RSS after {args.early} | after {args.frames} | growth | ms/frame |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| {probe.seen} | {early:.1f} MiB | {late:.1f} MiB | {growth:+.1%} | {1000 * seconds / probe.seen:.2f} |")
    print(json.dumps({"frames": probe.seen, "early_mib": early, "late_mib": late, "growth": growth, "flat": growth <= 0.05}))


if __name__ == "__main__":
    main()
