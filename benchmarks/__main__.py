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
    args = p.parse_args()
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


if __name__ == "__main__":
    main()
