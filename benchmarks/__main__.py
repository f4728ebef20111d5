"""`python -m benchmarks`: dreamreel vs the naive loop: stills, zoom frames/s and memory, video warm frames/s and memory.

Each (variant, size) runs in its own subprocess so peak memory (max RSS) is its own; the
two variants are interleaved and repeated, and the table reports the median time. Figures
are ratios against the naive loop of the same run: absolute times on a shared CPU drift.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

CASES = [("still", 256), ("still", 512)]


def run_one(variant: str, size: int, device: str, threads: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.one", variant, str(size), "--device", device, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_zoom(variant: str, size: int, frames: int, args: argparse.Namespace, octaves: int, steps: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.zoom", variant, str(size), str(frames), "--octaves", str(octaves),
           "--steps", str(steps), "--device", args.device, "--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def zoom_table(args: argparse.Namespace) -> None:
    """Frames per second of a zoom (3 octaves x 4 steps), then peak memory at two frame counts."""
    runs: dict[str, list[dict]] = {"naive": [], "dreamreel": []}
    for _ in range(args.repeats):
        for variant in runs:  # interleaved: drift hits both alike
            runs[variant].append(run_zoom(variant, args.zoom_size, args.zoom_frames, args, 3, 4))
    fps = {v: statistics.median(r["fps"] for r in rs) for v, rs in runs.items()}
    print(f"\nzoom {args.zoom_size}px, {args.zoom_frames} frames, Lite0 {args.threads} threads, 3 octaves x 4 steps, blocks.9, "
          f"median of {args.repeats}")
    print("case | naive fps | dreamreel fps | speed-up")
    print("--- | --- | --- | ---")
    print(f"zoom {args.zoom_size}px | {fps['naive']:.2f} | {fps['dreamreel']:.2f} | {fps['dreamreel'] / fps['naive']:.2f}x")
    small, large = args.mem_frames
    print(f"\npeak memory (MiB, max RSS) of a {args.mem_size}px zoom to MP4, 1 octave x 1 step")
    print("variant | frames | peak MiB")
    print("--- | --- | ---")
    for variant in ("naive", "dreamreel"):
        for n in (small, large):
            r = run_zoom(variant, args.mem_size, n, args, 1, 1)
            print(f"{variant} | {n} | {r['peak_mib']:.0f}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cases", default="still,zoom,video", help="comma list: still (one image), zoom (fps and memory), "
                   "video (warm-frame fps and memory)")
    p.add_argument("--zoom-size", type=int, default=256)
    p.add_argument("--zoom-frames", type=int, default=24)
    p.add_argument("--mem-size", type=int, default=256)
    p.add_argument("--mem-frames", type=lambda s: tuple(map(int, s.split(","))), default=(50, 500), help="two counts, e.g. 50,500")
    p.add_argument("--video-sizes", default="256,512", help="video: frame widths for warm-frame fps")
    p.add_argument("--video-frames", type=int, default=12, help="video: frames per fps run (1 cold + warm)")
    args = p.parse_args()
    if "still" in args.cases:
        still_table(args)
    if "zoom" in args.cases:
        zoom_table(args)
    if "video" in args.cases:
        video_table(args)


def still_table(args: argparse.Namespace) -> None:
    rows = []
    for case, size in CASES:
        runs: dict[str, list[dict]] = {"naive": [], "dreamreel": []}
        for _ in range(args.repeats):
            for variant in runs:  # interleaved: drift hits both alike
                runs[variant].append(run_one(variant, size, args.device, args.threads))
        med = {v: statistics.median(r["seconds"] for r in rs) for v, rs in runs.items()}
        obj = {v: statistics.median(r["objective"] for r in rs) for v, rs in runs.items()}
        mem = {v: max(r["peak_mib"] for r in rs) for v, rs in runs.items()}
        rows.append((f"{case} {size}px", med["naive"], med["dreamreel"], med["naive"] / med["dreamreel"],
                     obj["dreamreel"] / obj["naive"], mem["naive"], mem["dreamreel"]))
    head = ("case", "naive s", "dreamreel s", "speed-up", "objective ratio", "naive peak MiB", "dreamreel peak MiB")
    print(f"device={args.device} threads={args.threads} repeats={args.repeats} (Lite0, blocks.9, 4 octaves x 1.4, 10 steps)")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for r in rows:
        print(f"{r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.2f}x | {r[4]:.3f} | {r[5]:.0f} | {r[6]:.0f}")


# --- video (issue 6) ------------------------------------------------------------------------


def run_video(variant: str, size: int, frames: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.video_one", variant, str(size), str(frames), "--device", args.device,
           "--threads", str(args.threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def video_table(args: argparse.Namespace) -> None:
    """Warm-frame fps of `dreamreel video` vs the naive per-frame loop, and peak memory vs length.

    Warm fps = (n - 1) / (T(n) - T(1)) for dreamreel (the cold first frame and the model load
    cancel out); the naive loop dreams every frame from scratch, fps = n / T(n) after the same
    subtraction of its one-frame run.
    """
    n = args.video_frames
    print(f"\nvideo: device={args.device} threads={args.threads} repeats={args.repeats} (preset video, {n} frames, pan clip)")
    head = ("case", "naive fps", "dreamreel warm fps", "speed-up")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head))
    for size in map(int, args.video_sizes.split(",")):
        fps: dict[str, list[float]] = {"naive": [], "dreamreel": []}
        for _ in range(args.repeats):
            for variant in fps:  # interleaved: drift hits both alike
                t1 = run_video(variant, size, 1, args)["seconds"]
                tn = run_video(variant, size, n, args)["seconds"]
                fps[variant].append((n - 1) / max(tn - t1, 1e-9))
        med = {v: statistics.median(x) for v, x in fps.items()}
        print(f"warm frames {size}px | {med['naive']:.3f} | {med['dreamreel']:.3f} | {med['dreamreel'] / med['naive']:.1f}x")
    short, long = args.mem_frames
    mem = {k: run_video("dreamreel", args.mem_size, k, args)["peak_mib"] for k in (short, long)}
    print(f"\npeak memory (dreamreel video, {args.mem_size}px): {short} frames {mem[short]:.0f} MiB, "
          f"{long} frames {mem[long]:.0f} MiB, ratio {mem[long] / mem[short]:.2f}")


if __name__ == "__main__":
    main()
