"""`python -m benchmarks` (`make bench`): dreamreel against the naive loop, and against an earlier
dreamreel (`--before DIR`), in one run on one machine.

Tables, each printed as soon as it is measured:

- start-up: `dreamreel --help`, `presets`, `models` and a mistyped preset's one-line error, whole
  processes (median of `--repeats`), and whether the command imported torch.
- speed: stills (256, 512, 1024 px; Lite0, blocks.9, 4 octaves x 1.4, 10 steps), fractal zoom
  frames (256 px; 3 octaves x 4 steps) and warm video frames (480p; the `video` preset), each
  against the naive loop timed in the same run. The objective columns hold the ratio of mean
  objectives to the naive loop's (stills: the final image's, one seed per repeat; zoom: each
  frame's, over the first frames), so a speed-up is one at equal objective.
- studio: frames/s of the live render thread (`benchmarks.studio_one`) for each preset kind at
  its preview size.
- 4K video with `--dream-size 540` (a generated pan): s/frame, peak RSS at two frame counts and
  its growth, and MB written per frame (resume's parts included: the process's and its ffmpeg
  children's block writes).
- how zooms and stylised clips loop without and with ``--loop`` (`benchmarks.loops`: the wrap pair
  against the median pair; quality, not time, this checkout only).
- on request (`--cases`): peak memory of 50 vs 500 frame renders, the music analysis.

`--before DIR` adds a column for a checkout DIR with its own `.venv` (e.g. a worktree of main
before a change): the same benchmark code (`benchmarks/` of this checkout) runs against DIR's
`pipeline` and `cli.py` under DIR's Python, from a folder that links the two, so both sides
run identical drivers. The naive loop runs once per row, here. Each measurement runs in its own
process, so its peak memory is its own; variants are interleaved (naive, before, now, naive, ...)
and the median kept: drift in the machine hits all alike. Absolute times on a shared CPU drift;
read the ratios, which the variants of a row share.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent  # this checkout: its benchmarks/ drive every side
ZOOM_OCTAVES, ZOOM_STEPS = 3, 4  # as benchmarks.flops.ZOOM
HEAVY = ("torch", "librosa", "ray", "uvicorn")


@dataclass(frozen=True)
class Side:
    """Where a variant runs: its Python, and the folder whose `pipeline` (and `cli.py`) it imports."""

    name: str
    python: str
    root: Path
    env: dict[str, str] | None = None  # None: this process's

    def call(self, args: Sequence[str]) -> subprocess.CompletedProcess:
        return subprocess.run([self.python, *args], cwd=self.root, env=self.env, capture_output=True, text=True)


def sides(before: Path | None, scratch: Path) -> list[Side]:
    """naive and this checkout run here; `before` from a folder linking its pipeline to our benchmarks."""
    now = Side("dreamreel", sys.executable, HERE)
    if before is None:
        return [now]
    python = before / ".venv" / "bin" / "python"
    if not python.is_file() or not (before / "pipeline").is_dir():
        sys.exit(f"--before {before}: needs a checkout with pipeline/ and .venv/bin/python")
    mixed = scratch / "before-root"
    mixed.mkdir()
    for name, target in (("benchmarks", HERE / "benchmarks"), ("pipeline", before / "pipeline"), ("cli.py", before / "cli.py"),
                         ("presets", before / "presets")):
        (mixed / name).symlink_to(target)
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(scratch / "pycache")}  # its compiled files go here, not into DIR
    return [Side("before", str(python), mixed, env), now]


def child(side: Side, module: str, *args: str, device: str | None = None, threads: int | None = None) -> dict:
    """One measurement: `benchmarks.MODULE` in a fresh process on `side`; its last line is JSON."""
    cmd = ["-m", f"benchmarks.{module}", *args]
    cmd += ["--device", device] if device else []
    cmd += ["--threads", str(threads)] if threads else []
    run = side.call(cmd)
    if run.returncode:
        sys.exit(f"{side.name}: {' '.join(cmd)} failed:\n{run.stderr[-3000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def flops(*args: object) -> float:
    """`benchmarks.flops` in a child: this process imports no torch, so children's peaks are their own."""
    cmd = [sys.executable, "-m", "benchmarks.flops", *map(str, args)]
    return float(subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=HERE).stdout.strip().splitlines()[-1])


def med(rs: Sequence[dict], key: str) -> float:
    return statistics.median(r[key] for r in rs)


def mean(rs: Sequence[dict], key: str) -> float:
    return statistics.fmean(r[key] for r in rs)


def interleaved(variants: Sequence[str], repeats: int, run: Callable[[str, int], dict]) -> dict[str, list[dict]]:
    """`repeats` runs of each variant, alternating, so drift in the machine hits all alike;
    `run` gets the variant and the repeat's index (the seed, where a case takes one)."""
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(repeats):
        for v in variants:
            runs[v].append(run(v, i))
    return runs


def table(title: str, head: Sequence[str]) -> None:
    print(f"\n{title}\n" + " | ".join(head) + "\n" + " | ".join("---" for _ in head), flush=True)


def row(cells: Sequence[object]) -> None:
    print(" | ".join(map(str, cells)), flush=True)


class Bench:
    def __init__(self, a: argparse.Namespace, scratch: Path) -> None:
        self.a, self.scratch = a, scratch
        self.sides = sides(a.before, scratch)
        self.names = [s.name for s in self.sides]
        self.naive = Side("naive", sys.executable, HERE)

    def side(self, name: str) -> Side:
        return self.naive if name == "naive" else next(s for s in self.sides if s.name == name)

    def run(self, name: str, module: str, *args: str) -> dict:
        return child(self.side(name), module, *args, device=self.a.device, threads=self.a.threads)

    def clip(self, w: int, h: int, frames: int) -> str:
        """A generated pan, made once by this checkout (`benchmarks.clips` needs its media layer) and
        read by every side."""
        path = self.scratch / f"pan-{w}x{h}-{frames}.mp4"
        if not path.is_file():
            subprocess.run([sys.executable, "-m", "benchmarks.clips", str(path), "--clip", "pan", "--frames", str(frames),
                            "--width", str(w), "--height", str(h)], check=True, capture_output=True, cwd=HERE)
        return str(path)

    # --- start-up ---------------------------------------------------------------------------

    def startup(self) -> None:
        """Whole `python -m cli ...` processes, as the console script runs them."""
        commands = [["--help"], ["presets"], ["models"], ["render", "no-such-preset"]]
        table("start-up: whole process, s (median of %d)" % self.a.repeats,
              ["command", *(f"{n} s" for n in self.names), *(f"{n} imports torch" for n in self.names)])
        probe = ("import sys; from cli import main; main(sys.argv[1:]); "
                 f"print('HEAVY', [m for m in {HEAVY!r} if m in sys.modules])")
        for argv in commands:
            times: dict[str, list[float]] = {s.name: [] for s in self.sides}
            heavy = []
            for s in self.sides:  # the first run compiles and caches: untimed
                line = next((x for x in s.call(["-c", probe, *argv]).stdout.splitlines() if x.startswith("HEAVY")), "HEAVY ?")
                heavy.append("yes" if "torch" in line else "no")
            for _ in range(self.a.repeats):
                for s in self.sides:
                    t0 = time.perf_counter()
                    s.call(["-m", "cli", *argv])
                    times[s.name].append(time.perf_counter() - t0)
            row([f"dreamreel {' '.join(argv)}", *(f"{statistics.median(t):.2f}" for t in times.values()), *heavy])

    # --- speed against the naive loop -------------------------------------------------------

    def speed(self, cases: set[str]) -> None:
        a = self.a
        variants = ["naive", *self.names]
        head = ["case", *(f"{v} s/frame" for v in variants), *(f"{n} speed-up" for n in self.names),
                *(f"{n} objective / naive" for n in self.names), "host peak MiB (" + " / ".join(variants) + ")",
                "GFLOP/s (" + " / ".join(self.names) + ")"]
        limit = flops("limit", a.device)
        table(f"speed against the naive loop (device={a.device}, threads={a.threads}; the device's limit: "
              f"{limit:.0f} GFLOP/s, a {'bf16' if a.device.startswith('cuda') else 'fp32'} matmul measured now)", head)
        gpu = a.device.startswith("cuda")  # a GPU's rows start where a CPU's end (SPEC: Performance)
        stills = [(512, 512, a.seeds), (1920, 1080, 2), (3840, 2160, 1)] if gpu else [(256, 256, a.seeds), (512, 512, a.seeds),
                                                                                     (1024, 1024, 1)]
        zooms = [(512, 48), (1080, 16)] if gpu else [(256, 24)]
        videos = [(1920, 1080, 24), (3840, 2160, 8)] if gpu else [(854, 480, 6)]
        for w, h, seeds in stills if "still" in cases else []:
            self.still(w, h, seeds, variants)
        for size, frames in zooms if "zoom" in cases else []:
            self.zoom(size, frames, variants)
        for w, h, frames in videos if "video" in cases else []:
            self.video(w, h, frames, variants)

    def _line(self, name: str, runs: dict[str, list[dict]], key: str, per: float, flop: float,
              objective: str | None) -> None:
        secs = {v: med(rs, key) / per for v, rs in runs.items()}
        ratio = [f"{secs['naive'] / secs[n]:.2f}x" for n in self.names]
        obj = [f"{mean(runs[n], objective) / mean(runs['naive'], objective):.3f}" if objective else "-" for n in self.names]
        peak = " / ".join(f"{max(r['peak_mib'] for r in rs):.0f}" for rs in runs.values())
        rate = " / ".join(f"{flop / secs[n] / 1e9:.0f}" for n in self.names)
        row([name, *(f"{s:.3f}" for s in secs.values()), *ratio, *obj, peak, rate])

    def still(self, w: int, h: int, seeds: int, variants: list[str]) -> None:
        """Repeat i renders seed i on every side: one seed's objective ratio swings by ~4 % either
        way (sd over 24 seeds at 256 px), so the row compares mean objectives."""
        runs = interleaved(variants, seeds, lambda v, i: self.run(v, "one", v if v == "naive" else "dreamreel",
                                                                   f"{w}x{h}", "--seed", str(i)))
        name = f"still {w}px" if w == h else f"still {w}x{h}"
        self._line(f"{name} ({seeds} seed{'s' * (seeds > 1)})", runs, "seconds", 1, flops("still", h, w), "objective")

    def zoom(self, size: int, frames: int, variants: list[str]) -> None:
        runs = interleaved(variants, self.a.repeats, lambda v, _i: self.run(
            v, "zoom", v if v == "naive" else "dreamreel", str(size), str(frames), "--octaves", str(ZOOM_OCTAVES),
            "--steps", str(ZOOM_STEPS), "--objective-frames", str(self.a.zoom_objective_frames)))
        self._line(f"zoom {size}px ({frames} frames)", runs, "seconds", frames, flops("zoom", size, size), "objective")

    def video(self, w: int, h: int, frames: int, variants: list[str]) -> None:
        """Warm s/frame = (T(n) - T(1)) / (n - 1): the cold first frame, model load and start-up cancel."""
        def run(v: str, _i: int) -> dict:
            variant = v if v == "naive" else "dreamreel"
            one, many = (self.run(v, "video_one", variant, f"{w}x{h}", str(n), "--clip", self.clip(w, h, frames))
                         for n in (1, frames))
            return {**many, "per_frame": (many["seconds"] - one["seconds"]) / (frames - 1)}

        runs = interleaved(variants, max(1, self.a.repeats - 2), run)
        self._line(f"video {h}p warm", runs, "per_frame", 1, flops("video", h, w), None)

    # --- the studio -------------------------------------------------------------------------

    def studio(self) -> None:
        table(f"studio: the render thread's frames/s at the preview size (threads={self.a.threads})",
              ["preset kind @ preview px", *(f"{n} frames/s" for n in self.names)])
        for kind, size, frames in (("zoom", 128, 24), ("zoom", 192, 16), ("video", 192, 12), ("still", 192, 1)):
            clip = ["--clip", self.clip(size, size * 3 // 4 // 2 * 2, frames + 4)] if kind == "video" else []
            fps = [f"{med([self.run(n, 'studio_one', kind, str(size), str(frames), *clip) for _ in range(max(1, self.a.repeats - 2))], 'fps'):.2f}"
                   for n in self.names]
            row([f"{kind} @ {size}", *fps])

    # --- 4K -------------------------------------------------------------------------------

    def dream_size(self) -> None:
        """Whole renders of a generated 4K pan with the `video` preset at dream size 540 (decode, cut
        check, flow, dream, upsampling, post, encode, resume's parts; the cold first frame included)."""
        short, long = self.a.dream_frames
        clip = self.clip(3840, 2160, long)
        table(f"4K video, dream size 540: a render of {long} frames, its peak after {short} and after {long} (and a "
              f"whole render of {short}: its queues never fill)",
              ["side", f"s/frame ({long})", f"peak MiB at {short}", f"peak MiB at {long}", "growth",
               f"peak MiB, {short}-frame render", f"MB written/frame ({long})"])
        for n in self.names:
            run = self.run(n, "video_one", "dreamreel", "3840x2160", str(long), "--dream-size", "540", "--clip", clip,
                           "--peak-at", str(short))
            alone = self.run(n, "video_one", "dreamreel", "3840x2160", str(short), "--dream-size", "540", "--clip", clip)
            at = run.get("peak_at_mib")  # None: a side whose video_one has no --peak-at
            row([n, f"{run['seconds'] / long:.2f}", "-" if at is None else f"{at:.0f}", f"{run['peak_mib']:.0f}",
                 "-" if at is None else f"{run['peak_mib'] / at - 1:+.1%}", f"{alone['peak_mib']:.0f}",
                 f"{run['written_mb'] / long:.1f}"])

    # --- on request ---------------------------------------------------------------------------

    def memory(self) -> None:
        """Peak host memory at two frame counts: flat for dreamreel (frames stream to the encoder)."""
        short, long = self.a.mem_frames
        table(f"peak host memory (MiB, max RSS) vs frame count, {self.a.mem_size}px",
              ["render", f"{short} frames", f"{long} frames", "ratio"])
        cases = [("zoom, naive script (keeps its frames)", "zoom", "naive"), ("zoom, dreamreel", "zoom", "dreamreel"),
                 ("video, dreamreel", "video_one", "dreamreel")]
        for label, module, variant in cases:
            extra = ["--octaves", "1", "--steps", "1"] if module == "zoom" else []
            extra += ["--clip", self.clip(self.a.mem_size, self.a.mem_size * 3 // 4 // 2 * 2, long)] if module == "video_one" else []
            mib = [self.run(variant, module, variant, str(self.a.mem_size), str(k), *extra)["peak_mib"] for k in (short, long)]
            row([label, f"{mib[0]:.0f}", f"{mib[1]:.0f}", f"{mib[1] / mib[0]:.2f}"])

    def audio(self) -> None:
        """Seconds per minute of audio: decode, analysis (steady), first analysis in a process."""
        runs = [child(self.side("dreamreel"), "audio_one", "--seconds", "60") for _ in range(min(self.a.repeats, 3))]
        table(f"audio analysis, s per minute of audio (60 s track, 25 fps; median of {len(runs)} processes)",
              ["decode", "analysis", "first analysis in a process", "bpm found"])
        row([f"{med(runs, 'decode'):.2f}", f"{med(runs, 'analyse'):.2f}", f"{med(runs, 'first'):.2f}", f"{runs[0]['bpm']:.1f}"])


CASES = ("startup", "still", "zoom", "video", "studio", "dreamsize", "loop", "memory", "audio")


def loops_table() -> None:
    """`benchmarks.loops` in a child (one thread: the figures are quality, not speed)."""
    print("\nloops: the wrap pair (last frame onto the first) against the median pair")
    out = subprocess.run([sys.executable, "-m", "benchmarks.loops"], check=True, capture_output=True, text=True).stdout
    print(out.strip(), flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=lambda s: Path(s).expanduser().resolve(), help="a checkout with its own .venv to compare with")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3, help="runs per variant (start-up, zoom, studio; video: 1 fewer)")
    p.add_argument("--seeds", type=int, default=3, help="runs per variant, one seed each, for the 256 and 512 px stills")
    p.add_argument("--cases", default="startup,still,zoom,video,studio,dreamsize,loop", help=f"comma list of {', '.join(CASES)}")
    p.add_argument("--zoom-objective-frames", type=int, default=8, help="zoom frames whose objective is measured")
    p.add_argument("--dream-frames", type=lambda s: tuple(map(int, s.split(","))), default=(6, 18),
                   help="frame counts of the 4K dream-size renders, e.g. 6,18")
    p.add_argument("--mem-size", type=int, default=256)
    p.add_argument("--mem-frames", type=lambda s: tuple(map(int, s.split(","))), default=(50, 500), help="e.g. 50,500")
    a = p.parse_args()
    cases = set(a.cases.split(","))
    if unknown := cases - set(CASES):
        sys.exit(f"unknown cases: {', '.join(sorted(unknown))} (known: {', '.join(CASES)})")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dreamreel-bench-") as scratch:
        bench = Bench(a, Path(scratch))
        print(f"device={a.device} threads={a.threads}; sides: naive loop, {', '.join(f'{s.name} ({s.root})' for s in bench.sides)}; "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        if "startup" in cases:
            bench.startup()
        if cases & {"still", "zoom", "video"}:
            bench.speed(cases)
        for case, measure in (("studio", bench.studio), ("dreamsize", bench.dream_size), ("loop", loops_table),
                              ("memory", bench.memory), ("audio", bench.audio)):
            if case in cases:
                measure()
    print(f"\n({time.perf_counter() - start:.0f} s in all; load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
