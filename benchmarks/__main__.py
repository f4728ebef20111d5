"""`python -m benchmarks`: dreamreel vs the naive loop, one table.

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--video-sizes", default="256,512", help="video table: frame widths for warm-frame fps")
    p.add_argument("--video-frames", type=int, default=12, help="video table: frames per fps run (1 cold + warm)")
    p.add_argument("--memory-frames", default="50,500", help="video table: the two lengths for peak memory")
    p.add_argument("--memory-size", type=int, default=128)
    p.add_argument("--only", choices=["still", "video"], default=None)
    args = p.parse_args()
    if args.only != "video":
        still_table(args)
    if args.only != "still":
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
    short, long = map(int, args.memory_frames.split(","))
    mem = {k: run_video("dreamreel", args.memory_size, k, args)["peak_mib"] for k in (short, long)}
    print(f"\npeak memory (dreamreel video, {args.memory_size}px): {short} frames {mem[short]:.0f} MiB, "
          f"{long} frames {mem[long]:.0f} MiB, ratio {mem[long] / mem[short]:.2f}")


if __name__ == "__main__":
    main()
