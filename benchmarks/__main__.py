"""`python -m benchmarks` (`make bench`): dreamreel against the naive loop, one table.

Rows: stills (256 px, 512 px, 1080p; Lite0, blocks.9, 4 octaves x 1.4, 10 steps), fractal
zoom frames (256 and 512 px; 3 octaves x 4 steps), and warm video frames (480p and 1080p; the
`video` preset, whose carried frames take 2 steps; the naive loop dreams each frame from
scratch with that preset's octaves and steps). Then peak memory of 50 vs 500 frame renders,
the music analysis behind audio-reactive schedules (`benchmarks.audio_one`: seconds per
minute of audio, decode and analysis apart; the first analysis in a process also imports librosa),
and 4K video with `--dream-size` 540 and 720 beside native 960x540 (whole renders, s/frame, peak RSS).
Last, how zooms and stylised clips loop without and with ``--loop`` (`benchmarks.loops`: the wrap
pair against the median pair; quality, not time).

Each measurement runs in its own process (`benchmarks.one`, `.zoom`, `.video_one`), so its
peak memory is its own; naive and dreamreel runs are interleaved and the median kept. Stills
are timed warm (the second render in the process); a second table gives the first render.
Still repeat i dreams seed i on both sides; the objective ratio is that of the mean objectives.
Absolute times on a shared CPU drift: read the ratio, which both sides of a row share.
GFLOP/s is the useful work (`benchmarks.flops`) over dreamreel's time; the limit is a large
matmul measured here (fp32 on CPU, bf16 on CUDA).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

ZOOM_OCTAVES, ZOOM_STEPS = 3, 4  # as benchmarks.flops.ZOOM


@dataclass
class Row:
    name: str
    naive: float  # s/frame
    ours: float  # s/frame
    peak: tuple[float, float]  # host MiB: naive, dreamreel
    gpu_peak: float | None  # MiB, dreamreel
    flop: float  # per dreamreel frame
    objective: float | None = None  # dreamreel / naive (stills)
    cold: tuple[float, float] | None = None  # stills: s for the first render in a process, naive and dreamreel
    seeds: int = 0  # stills: seeds the objective ratio averages over


def child(module: str, *args: str, device: str, threads: int) -> dict:
    cmd = [sys.executable, "-m", f"benchmarks.{module}", *args, "--device", device, "--threads", str(threads)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def flops(*args: object) -> float:
    """`benchmarks.flops` in a child: this process imports no torch, so children's peaks are their own."""
    cmd = [sys.executable, "-m", "benchmarks.flops", *map(str, args)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])


def interleaved(repeats: int, run: Callable[[str, int], dict]) -> dict[str, list[dict]]:
    """`repeats` runs of each variant, alternating, so drift in the machine hits both alike;
    `run` gets the variant and the repeat's index (the seed, where a case takes one)."""
    runs: dict[str, list[dict]] = {"naive": [], "dreamreel": []}
    for i in range(repeats):
        for variant in runs:
            runs[variant].append(run(variant, i))
    return runs


def med(rs: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rs)


def peaks(runs: dict[str, list[dict]]) -> tuple[tuple[float, float], float | None]:
    gpu = [r["gpu_peak_mib"] for r in runs["dreamreel"] if r.get("gpu_peak_mib") is not None]
    return (max(r["peak_mib"] for r in runs["naive"]), max(r["peak_mib"] for r in runs["dreamreel"])), max(gpu, default=None)


def mean(rs: list[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rs)


def still_row(name: str, w: int, h: int, repeats: int, a: argparse.Namespace) -> Row:
    """Repeat i renders seed i on both sides. DeepDream is chaotic: one seed's objective ratio
    swings by ~4 % (sd over 24 seeds at 256 px) either way, so the row compares mean objectives."""
    runs = interleaved(repeats, lambda v, i: child("one", v, f"{w}x{h}", "--seed", str(i), device=a.device, threads=a.threads))
    peak, gpu = peaks(runs)
    return Row(name, med(runs["naive"], "seconds"), med(runs["dreamreel"], "seconds"), peak, gpu,
               flops("still", h, w), mean(runs["dreamreel"], "objective") / mean(runs["naive"], "objective"),
               (med(runs["naive"], "cold_seconds"), med(runs["dreamreel"], "cold_seconds")), repeats)


def zoom_row(size: int, frames: int, repeats: int, a: argparse.Namespace) -> Row:
    runs = interleaved(repeats, lambda v, _i: child("zoom", v, str(size), str(frames), "--octaves", str(ZOOM_OCTAVES),
                                                "--steps", str(ZOOM_STEPS), device=a.device, threads=a.threads))
    peak, gpu = peaks(runs)
    return Row(f"zoom {size}px", med(runs["naive"], "seconds") / frames, med(runs["dreamreel"], "seconds") / frames,
               peak, gpu, flops("zoom", size, size))


def video_row(name: str, w: int, h: int, frames: int, repeats: int, a: argparse.Namespace) -> Row:
    """Warm s/frame = (T(n) - T(1)) / (n - 1): the cold first frame, model load and start-up cancel."""
    def run(variant: str, _i: int) -> dict:
        one, many = (child("video_one", variant, f"{w}x{h}", str(n), device=a.device, threads=a.threads) for n in (1, frames))
        return {**many, "per_frame": (many["seconds"] - one["seconds"]) / (frames - 1)}

    runs = interleaved(repeats, run)
    peak, gpu = peaks(runs)
    return Row(name, med(runs["naive"], "per_frame"), med(runs["dreamreel"], "per_frame"), peak, gpu,
               flops("video", h, w))


def header(limit: float, a: argparse.Namespace) -> None:
    gpu = a.device.startswith("cuda")
    head = ["case", "naive s/frame", "dreamreel s/frame", "speed-up", "frames/s", "objective ratio", "host peak MiB (naive / dreamreel)"]
    head += ["GPU peak MiB"] if gpu else []
    head += ["GFLOP/s", "share of limit"]
    print(f"device={a.device} threads={a.threads}; limit {limit:.0f} GFLOP/s ({'bf16' if gpu else 'fp32'} matmul, measured now)")
    print(" | ".join(head))
    print(" | ".join("---" for _ in head), flush=True)


def line(r: Row, limit: float, a: argparse.Namespace) -> None:
    """One row, printed as soon as it is measured (the large rows take minutes on a CPU)."""
    rate = r.flop / r.ours / 1e9
    cells = [r.name, f"{r.naive:.3f}", f"{r.ours:.3f}", f"{r.naive / r.ours:.2f}x", f"{1 / r.ours:.2f}",
             f"{r.objective:.3f} ({r.seeds} seed{'s' * (r.seeds > 1)})" if r.objective else "-", f"{r.peak[0]:.0f} / {r.peak[1]:.0f}"]
    if a.device.startswith("cuda"):
        cells.append(f"{r.gpu_peak:.0f}" if r.gpu_peak is not None else "-")
    cells += [f"{rate:.0f}", f"{rate / limit:.0%}"]
    print(" | ".join(cells), flush=True)


def cold(rows: list[Row]) -> None:
    """Stills are timed warm (a second render in the process, as every frame after the first);
    the first render also pays for oneDNN building its kernels at each new octave size."""
    rows = [r for r in rows if r.cold]
    if rows:
        print("\nstills, first render in a fresh process (s)")
        print("case | naive | dreamreel | speed-up\n--- | --- | --- | ---")
        for r in rows:
            print(f"{r.name} | {r.cold[0]:.3f} | {r.cold[1]:.3f} | {r.cold[0] / r.cold[1]:.2f}x", flush=True)


def memory(a: argparse.Namespace) -> None:
    """Peak host memory at two frame counts: flat for dreamreel (frames stream to the encoder)."""
    short, long = a.mem_frames
    print(f"\npeak host memory (MiB, max RSS) vs frame count, {a.mem_size}px")
    print(f"render | {short} frames | {long} frames | ratio")
    print("--- | --- | --- | ---")
    cases = [("zoom, naive script (keeps its frames)", "zoom", "naive"), ("zoom, dreamreel", "zoom", "dreamreel"),
             ("video, dreamreel", "video_one", "dreamreel")]
    for label, module, variant in cases:
        extra = ["--octaves", "1", "--steps", "1"] if module == "zoom" else []
        mib = [child(module, variant, str(a.mem_size), str(n), *extra, device=a.device, threads=a.threads)["peak_mib"]
               for n in (short, long)]
        print(f"{label} | {mib[0]:.0f} | {mib[1]:.0f} | {mib[1] / mib[0]:.2f}", flush=True)


def dream_size(a: argparse.Namespace) -> None:
    """4K video with `--dream-size` beside the same clip at 960x540 rendered natively: whole renders
    (decode, flow, dream, upsampling, encode; the cold first frame included), s/frame and peak RSS,
    and the peak at two frame counts (flat: frames stream)."""
    short, long = a.dream_frames
    print(f"\nvideo preset, whole renders of a generated pan ({short} and {long} frames)")
    print(f"case | s/frame ({long} frames) | vs native | peak MiB ({short} frames) | peak MiB ({long} frames)")
    print("--- | --- | --- | --- | ---")
    cases = [("960x540 native", "960x540", []), ("3840x2160, dream size 540", "3840x2160", ["--dream-size", "540"]),
             ("3840x2160, dream size 720", "3840x2160", ["--dream-size", "720"])]
    native = None
    for label, size, extra in cases:
        runs = [child("video_one", "dreamreel", size, str(n), *extra, device=a.device, threads=a.threads) for n in (short, long)]
        per_frame = runs[1]["seconds"] / long
        native = native or per_frame
        print(f"{label} | {per_frame:.2f} | {per_frame / native:.2f}x | {runs[0]['peak_mib']:.0f} | {runs[1]['peak_mib']:.0f}",
              flush=True)


def audio_table(repeats: int) -> None:
    """Seconds per minute of audio: decode, analysis (steady), first analysis in a process."""
    cmd = [sys.executable, "-m", "benchmarks.audio_one", "--seconds", "60"]
    runs = [json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
            for _ in range(repeats)]
    print("\naudio analysis, s per minute of audio (60 s track, 25 fps; median of", repeats, "processes)")
    print("decode | analysis | first analysis in a process | bpm found\n--- | --- | --- | ---")
    print(f"{med(runs, 'decode'):.2f} | {med(runs, 'analyse'):.2f} | {med(runs, 'first'):.2f} | {runs[0]['bpm']:.1f}",
          flush=True)


def loops_table() -> None:
    """`benchmarks.loops` in a child (one thread: the figures are quality, not speed)."""
    print("\nloops: the wrap pair (last frame onto the first) against the median pair")
    out = subprocess.run([sys.executable, "-m", "benchmarks.loops"], check=True, capture_output=True, text=True).stdout
    print(out.strip(), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=5, help="runs per variant for the small zoom and video rows (large rows: 1)")
    p.add_argument("--seeds", type=int, default=8, help="runs per variant, one seed each, for the 256 and 512 px stills")
    p.add_argument("--cases", default="still,zoom,video,memory,audio,dreamsize,loop",
                   help="comma list of still, zoom, video, memory, audio, dreamsize, loop")
    p.add_argument("--dream-frames", type=lambda s: tuple(map(int, s.split(","))), default=(4, 12),
                   help="frame counts of the dream-size renders, e.g. 4,12")
    p.add_argument("--mem-size", type=int, default=256)
    p.add_argument("--mem-frames", type=lambda s: tuple(map(int, s.split(","))), default=(50, 500), help="e.g. 50,500")
    a = p.parse_args()
    cases = set(a.cases.split(","))
    few = max(1, a.repeats - 1)
    rows: list[Callable[[], Row]] = []
    gpu = a.device == "cuda"  # a GPU's rows start where a CPU's end (SPEC: Performance)
    if "still" in cases:
        rows += [lambda: still_row("still 512px", 512, 512, a.seeds, a), lambda: still_row("still 1080p", 1920, 1080, 2, a),
                 lambda: still_row("still 4K", 3840, 2160, 1, a)] if gpu else [
                 lambda: still_row("still 256px", 256, 256, a.seeds, a), lambda: still_row("still 512px", 512, 512, a.seeds, a),
                 lambda: still_row("still 1080p", 1920, 1080, 1, a)]
    if "zoom" in cases:
        rows += [lambda: zoom_row(512, 48, few, a), lambda: zoom_row(1080, 16, 1, a)] if gpu else [
                 lambda: zoom_row(256, 24, a.repeats, a), lambda: zoom_row(512, 8, few, a)]
    if "video" in cases:
        rows += [lambda: video_row("video 1080p warm", 1920, 1080, 24, few, a),
                 lambda: video_row("video 4K warm", 3840, 2160, 8, 1, a)] if gpu else [
                 lambda: video_row("video 480p warm", 854, 480, 6, few, a),
                 lambda: video_row("video 1080p warm", 1920, 1080, 3, 1, a)]
    if rows:
        limit = flops("limit", a.device)
        header(limit, a)
        done = []
        for row in rows:
            done.append(row())
            line(done[-1], limit, a)
        cold(done)
    if "memory" in cases:
        memory(a)
    if "audio" in cases:
        audio_table(min(a.repeats, 3))
    if "dreamsize" in cases:
        dream_size(a)
    if "loop" in cases:
        loops_table()


if __name__ == "__main__":
    main()
