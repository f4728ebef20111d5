"""The naive baseline of SPEC: the loop a typical DeepDream script writes.

Full network forward every step (through the classifier, no truncation), fp32, NCHW, a
forward hook to grab the layer, the same octave schedule, step rule and jitter as
dreamreel, so only the engineering differs.
"""

from __future__ import annotations

import torch

from pipeline.ascent import Ascent, octave_sizes, resize
from pipeline.models import DreamNet


def naive_dream(model: DreamNet, layer: str, img: torch.Tensor, a: Ascent, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    store: dict[str, torch.Tensor] = {}
    hook = model.stage(layer).register_forward_hook(lambda _m, _i, out: store.__setitem__("a", out))
    try:
        sizes = octave_sizes(*img.shape[-2:], a)
        shrunk = resize(img, sizes[0])
        out = shrunk
        for size in sizes:
            out = resize(out, size).clone()
            for _ in range(a.steps):
                dy, dx = torch.randint(-a.jitter, a.jitter + 1, (2,), generator=gen).tolist()
                x = torch.roll(out, (dy, dx), (2, 3)).detach().requires_grad_(True)
                model(x)  # the whole net, classifier included
                loss = store["a"][..., 2:-2, 2:-2].square().mean()
                loss.backward()
                g = torch.roll(x.grad, (-dy, -dx), (2, 3))
                out = (out + a.step_size * g / (g.abs().mean() + 1e-8)).clamp(0, 1)
            out = out + (resize(img, size) - resize(shrunk, size))
            shrunk = resize(img, size)
        return out.clamp(0, 1)
    finally:
        hook.remove()
