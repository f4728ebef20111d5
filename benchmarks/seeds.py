"""`python -m benchmarks.seeds`: the objective ratio (dreamreel / naive) seed by seed, with its mean and spread.

DeepDream is chaotic: the same work from the same start ends a few per cent apart once any
rounding differs, so one seed says little about whether two loops reach the same objective.
This prints the ratio for seeds 0..N-1 (start image and jitter), both loops in this process.
"""

from __future__ import annotations

import argparse
import statistics

import torch

from benchmarks.naive import naive_dream, textbook
from benchmarks.one import ASCENT, LAYER
from pipeline import models, objectives, runtime
from pipeline.ascent import octaves
from pipeline.features import FeatureNet


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--seeds", type=int, default=24)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    runtime.tune_allocator()
    model = models.load()
    obj = objectives.layer(LAYER)
    feats, plain = FeatureNet(model, obj.layers), textbook(model)
    ratios = []
    print("seed | naive | dreamreel | ratio\n--- | --- | --- | ---")
    for seed in range(a.seeds):
        img = torch.rand(1, 3, a.size, a.size, generator=torch.Generator().manual_seed(seed)) * 0.2 + 0.4
        ours = octaves(feats, obj, img, ASCENT, torch.Generator().manual_seed(seed))
        theirs = naive_dream(plain, LAYER, img, ASCENT, seed)
        with torch.no_grad():
            v_ours, v_theirs = obj(feats(ours)).item(), obj(feats(theirs)).item()
        ratios.append(v_ours / v_theirs)
        print(f"{seed} | {v_theirs:.3f} | {v_ours:.3f} | {ratios[-1]:.4f}", flush=True)
    sd = statistics.stdev(ratios) if len(ratios) > 1 else 0.0
    print(f"\nmean ratio {statistics.fmean(ratios):.4f}, sd {sd:.4f}, standard error {sd / len(ratios) ** 0.5:.4f} ({a.size}px, {len(ratios)} seeds)")


if __name__ == "__main__":
    main()
