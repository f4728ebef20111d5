"""The Dreamer's CUDA-side branches that torch also runs on the CPU: reduced network precision and
`compile = on`. On a GPU machine `pytest --device cuda` runs the same bodies there."""

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline import ascent, load_preset, objectives, sources
from pipeline.dream import Dreamer
from pipeline.features import FeatureNet
from pipeline.frames import Frame, to_tensor
from pipeline.renderer import render
from tests.conftest import make_image, read_rgb

SMALL = {"octaves": 1, "steps": 2, "objective": 'layer("blocks.5")'}


def dreamer(device, **dream) -> Dreamer:
    cfg = load_preset("default", {"dream": {**SMALL, **dream}})
    return Dreamer.from_config(cfg.dream, device, seed=0)


def value(image: np.ndarray) -> float:
    """The objective on the fp32 reference net: how much a dream of `image` achieved."""
    from pipeline import models

    obj = objectives.layer("blocks.5")
    with torch.no_grad():
        return obj(FeatureNet(models.load(), obj.layers)(to_tensor(image))).item()


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_a_reduced_precision_network_dreams_as_far_as_fp32(device, precision, one_thread):
    """The network runs in bf16/fp16, the image and its steps in fp32 (small steps are not rounded away)."""
    image = make_image(32, seed=3)
    frame = Frame(0, image, image)
    ours = dreamer(device, precision=precision)
    assert ours.features.dtype == {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    hand = device.type == "cpu" and precision == "bf16"  # the hand chain runs bf16 on a CPU; the rest takes autograd
    assert (ours.features.hand is not None) == hand
    low, full = ours(frame).image, dreamer(device, precision="fp32")(frame).image
    assert value(low) > 1.2 * value(image)
    assert value(low) > 0.85 * value(full)  # one seed: chaos moves either way by a few per cent


def test_compile_on_dreams_like_eager(device, monkeypatch, one_thread):
    """`compile = on` compiles the cut network in place; FeatureNet's own methods then call the compiled
    forward. Inductor needs 15-60 s per shape on 2 cores, so the CPU run traces with the aot_eager backend:
    the same dynamo graph capture and autograd, without code generation."""
    if device.type == "cpu":
        plain = FeatureNet.compile
        monkeypatch.setattr(FeatureNet, "compile", lambda self, **kw: plain(self, backend="aot_eager", **kw))
    image = make_image(32, seed=4)
    compiled = dreamer(device, precision="bf16", compile="on")
    assert compiled.features._compiled_call_impl is not None
    out = compiled(Frame(0, image, image)).image
    eager = dreamer(device, precision="bf16", compile="off")(Frame(0, image, image)).image
    assert value(out) == pytest.approx(value(eager), rel=0.1)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA GPU is visible")
def test_device_cuda_without_a_gpu_is_one_line(tmp_path):
    src = tmp_path / "in.png"
    import cv2

    cv2.imwrite(str(src), make_image(32))
    result = CliRunner().invoke(app, ["dream", str(src), "-o", str(tmp_path / "o.png"), "--device", "cuda", "--quiet"])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == ["dreamreel: error: --device cuda: no CUDA GPU is visible to torch; "
                                                  "use --device cpu (or auto)"]
    assert not (tmp_path / "o.png").exists()


def test_a_still_renders_on_the_chosen_device(device, tmp_path, monkeypatch):
    cfg = load_preset("default", {"device": device.type, "threads": 1, "dream": SMALL, "source": {"size": 32},
                                  "output": {"paths": [str(tmp_path / "o.png")]}})
    seen = []  # the device of every image the ascent dreamed
    ascend = ascent.ascend
    monkeypatch.setattr(ascent, "ascend", lambda features, objective, x, *a, **kw: seen.append(x.device.type) or
                        ascend(features, objective, x, *a, **kw))
    render(cfg, quiet=True)
    out = read_rgb(tmp_path / "o.png")
    assert max(out.shape[:2]) == 32  # the bundled photo, longest side 32
    assert seen and set(seen) == {device.type}
    assert value(out) > value(sources.fit(sources.read_image(sources.SAMPLE), 32))  # and it dreamed (47 vs 44)
