"""Useful work per frame, counted once with torch's FlopCounterMode, and the device's limit.

A frame's FLOPs are what the ascent must compute (forward to the cut layer and the input
gradient, per step, summed over octave levels); dividing by the measured time gives the
achieved GFLOP/s. The limit is a large fp32 matmul measured in the same process (bf16 on
CUDA, where the network runs in bf16): the best rate this device reaches on dense math.
"""

from __future__ import annotations

import time
from functools import cache

import torch
from torch.utils.flop_counter import FlopCounterMode

from pipeline import models, objectives
from pipeline.ascent import Ascent, octave_sizes
from pipeline.features import FeatureNet


@cache
def _features(objective: str) -> tuple[FeatureNet, objectives.Objective]:
    obj = objectives.parse(objective)
    return FeatureNet(models.load(), obj.layers), obj


@cache
def step_flops(height: int, width: int, objective: str) -> float:
    """FLOPs of one ascent step (forward to the cut layer + input gradient) at this size."""
    feats, obj = _features(objective)
    x = torch.rand(1, 3, height, width, requires_grad=True)
    with FlopCounterMode(display=False) as counter:
        obj(feats(x)).backward()  # FlopCounterMode does not see through autograd.grad
    return float(counter.get_total_flops())


def ascent_flops(height: int, width: int, a: Ascent, objective: str) -> float:
    """FLOPs of a full octave ascent of an image this size."""
    return sum(a.steps * step_flops(h, w, objective) for h, w in octave_sizes(height, width, a))


def device_limit(device: str) -> float:
    """GFLOP/s of a large matmul (fp32 on CPU, bf16 on CUDA), best of a few and, on CPU, of
    `torch.mm` and oneDNN's matmul (which the CPU ascent uses; ~1.5x `torch.mm` here)."""
    from pipeline.backprop import matmul

    dev = torch.device(device)
    dtype = torch.bfloat16 if dev.type == "cuda" else torch.float32
    n = 4096 if dev.type == "cuda" else 2048
    a, b = torch.randn(n, n, device=dev, dtype=dtype), torch.randn(n, n, device=dev, dtype=dtype)
    kernels = [lambda: a @ b] + ([lambda: matmul(a, b, None, False)] if dev.type == "cpu" else [])
    best = float("inf")
    for kernel in kernels:
        for _ in range(5):
            if dev.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
            for _ in range(10):
                kernel()
            if dev.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, (time.perf_counter() - t) / 10)
    return 2 * n**3 / best / 1e9


STILL = Ascent(octaves=4, octave_scale=1.4, steps=10, step_size=0.015, jitter=32)  # as benchmarks.one
ZOOM = Ascent(octaves=3, octave_scale=1.4, steps=4)  # as benchmarks.zoom
LAYER = 'layer("blocks.9")'


def case_flops(case: str, height: int, width: int) -> float:
    """FLOPs per dreamreel frame of a benchmark row: a still, a zoom frame, a warm video frame."""
    if case == "video":  # the `video` preset: carried frames take steps_warm steps at full size
        from pipeline import presets

        cfg = presets.load("video")
        return ascent_flops(height, width, Ascent(octaves=cfg.video.octaves_warm, steps=cfg.video.steps_warm), cfg.dream.objective)
    return ascent_flops(height, width, STILL if case == "still" else ZOOM, LAYER)


def main() -> None:
    """`python -m benchmarks.flops still|zoom|video H W` or `... limit DEVICE`: prints one number.

    Run as a process of its own: Linux carries a parent's peak RSS into the children it
    starts, so the table's parent stays free of torch and of counting passes, and each
    child's peak memory is its own.
    """
    import sys

    case, *rest = sys.argv[1:]
    print(device_limit(rest[0]) if case == "limit" else case_flops(case, int(rest[0]), int(rest[1])))


if __name__ == "__main__":
    main()
