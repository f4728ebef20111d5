"""A still rendered twice in a fresh process: prints a JSON line (warm and cold seconds, objective, peak MiB).

`--seed` picks the start image and the jitter, so repeats can average the objective over seeds.
"""

from __future__ import annotations

import argparse
import json
import resource
import time

import torch

from benchmarks.naive import naive_dream, textbook
from pipeline import models, objectives, runtime
from pipeline.ascent import Ascent, octaves
from pipeline.features import FeatureNet

LAYER = "blocks.9"


def peaks(device: torch.device) -> dict:
    """Peak host memory (max RSS) and, on CUDA, peak GPU memory allocated, in MiB."""
    gpu = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None
    return {"peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "gpu_peak_mib": gpu}
ASCENT = Ascent(octaves=4, octave_scale=1.4, steps=10, step_size=0.015, jitter=32)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("variant", choices=["naive", "dreamreel"])
    p.add_argument("size", help="W or WxH")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="the start image and the jitter")
    p.add_argument("--precision", default="fp32", help="dreamreel's network compute type (fp32, bf16)")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.variant == "dreamreel":
        runtime.tune_allocator()  # what `render` does; the naive script keeps glibc's defaults
    device = torch.device(a.device)
    model = models.load(device=device)
    obj = objectives.layer(LAYER)
    feats = FeatureNet(model, obj.layers, precision=a.precision)
    measure = FeatureNet(model, obj.layers)  # the objective is read in fp32 whatever the ascent ran in
    plain = textbook(model)
    w, _, h = a.size.partition("x")
    img = torch.rand(1, 3, int(h or w), int(w), generator=torch.Generator().manual_seed(a.seed)).to(device) * 0.2 + 0.4
    small = Ascent(octaves=1, steps=2)

    def go(x: torch.Tensor, asc: Ascent) -> torch.Tensor:
        if a.variant == "naive":
            return naive_dream(plain, LAYER, x, asc, a.seed)
        return octaves(feats, obj, x, asc, torch.Generator().manual_seed(a.seed))

    def timed() -> tuple[float, torch.Tensor]:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = go(img, ASCENT)
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - t0, out

    go(img, small)  # first calls in a process are slower
    cold, _ = timed()  # still pays for oneDNN's kernels at each new octave size
    seconds, out = timed()  # warm: as every frame after the first
    with torch.no_grad():
        value = obj(measure(out)).item()
    print(json.dumps({"seconds": seconds, "cold_seconds": cold, "objective": value, **peaks(device)}))


if __name__ == "__main__":
    main()
