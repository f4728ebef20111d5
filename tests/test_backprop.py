"""The hand-written input gradient agrees with autograd on the real Lite0 net."""

import math
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
import torch.nn.functional as F

from pipeline import backprop, guided, models, objectives
from pipeline.ascent import Ascent, octaves
from pipeline.features import FeatureNet
from pipeline.view import WHOLE, View
from pipeline.models.lite import SameConv2d


def autograd_gradient(feats: FeatureNet, fn, x: torch.Tensor, view: View = WHOLE) -> tuple[torch.Tensor, torch.Tensor]:
    x = x.clone().requires_grad_(True)
    value = fn(feats(x, view), view)
    (g,) = torch.autograd.grad(value, x)
    return g, value.detach()


@contextmanager
def by_hand(feats: FeatureNet) -> Iterator[None]:
    """Fails unless the gradients computed inside went through the hand-written chain's backward
    (`value_and_grad` could fall back to autograd, which would then be checked against itself)."""
    assert feats.hand is not None
    calls, backward = [], feats.hand.backward
    feats.hand.backward = lambda *args: calls.append(1) or backward(*args)
    try:
        yield
    finally:
        del feats.hand.backward
    assert calls, "the hand-written backward never ran"


def assert_same_gradient(feats: FeatureNet, fn, x: torch.Tensor, view: View = WHOLE) -> None:
    with by_hand(feats):
        hand, v_hand = feats.value_and_grad(fn, x, view)
    ref, v_ref = autograd_gradient(feats, fn, x, view)
    assert v_hand.item() == pytest.approx(v_ref.item(), rel=1e-5)
    assert (hand - ref).abs().max() <= 1e-4 * ref.abs().max()


@pytest.mark.parametrize("size", [(48, 48), (47, 61), (64, 33)])  # even, odd and mixed: TF padding differs
@pytest.mark.parametrize("spec", ["layer('blocks.9')", "layers({'stem': 1, 'blocks.4': 2, 'blocks.6': 0.5})",
                                  "channel('blocks.3', 5) + layer('blocks.0')"])
def test_hand_gradient_equals_autograd(lite0, spec, size):
    obj = objectives.parse(spec)
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(sum(size)))
    assert_same_gradient(FeatureNet(lite0, obj.layers), obj, x)


def test_hand_gradient_with_the_input_pseudo_layer(lite0):
    """pixel() reads the image itself: its gradient joins the network's at the input."""
    obj = objectives.layer("blocks.5") + guided.pixel(3.0)
    feats = FeatureNet(lite0, obj.layers)
    view = View(reference=torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(1)))
    assert_same_gradient(feats, obj, torch.rand(1, 3, 40, 40, generator=torch.Generator().manual_seed(2)), view)


def test_hand_gradient_of_a_batch(lite0):
    obj = objectives.layer("blocks.7")
    x = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(3))
    assert_same_gradient(FeatureNet(lite0, obj.layers), obj, x)


@pytest.mark.parametrize("missing", [["_LINEAR"], ["_CONV"], ["_CONV_T"], ["_LINEAR", "_CONV", "_CONV_T"]])
def test_plain_fallbacks_give_the_same_gradient(lite0, monkeypatch, missing):
    """Without oneDNN's fused matmul or packed (transposed) convolution, addmm, conv2d, conv_transpose2d
    and clamp compute the same thing."""
    obj = objectives.layer("blocks.8")
    feats = FeatureNet(lite0, obj.layers)
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(4))
    with by_hand(feats):
        fused, _ = feats.value_and_grad(obj, x)
    for name in missing:
        monkeypatch.setattr(backprop, name, None)
    with by_hand(feats):
        plain, _ = feats.value_and_grad(obj, x)
    assert (fused - plain).abs().max() <= 1e-4 * fused.abs().max()


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("size", [(17, 16), (33, 35), (130, 128)])
def test_strided_depthwise_backward_equals_autograd(kernel, size):
    conv = SameConv2d(24, 24, kernel, 2, groups=24, bias=True)
    x = torch.randn(1, 24, *size, generator=torch.Generator().manual_seed(6)).contiguous(memory_format=torch.channels_last)
    x.requires_grad_(True)
    y = conv(x)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(7))
    (ref,) = torch.autograd.grad(y, x, g)
    strided = backprop.Strided(conv)
    assert torch.allclose(strided.forward(x.detach()), y.detach(), atol=1e-5)
    got = strided.backward(g.contiguous(memory_format=torch.channels_last), size)
    assert got.shape == x.shape
    assert torch.allclose(got, ref, atol=1e-5)


@pytest.mark.parametrize("kernel", [3, 2])
@pytest.mark.parametrize("size", [(32, 32), (33, 35), (17, 16)])
def test_space_to_depth_backward_equals_the_strided_backward(kernel, size):
    conv = SameConv2d(3, 8, kernel, 2, bias=True)
    s2d = backprop.SpaceToDepth(conv)
    x = torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(5))
    y = s2d.forward(x)
    assert tuple(y.shape[-2:]) == tuple(math.ceil(n / 2) for n in size)
    assert torch.allclose(y, conv(x), atol=1e-5)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(6))
    assert torch.allclose(s2d.backward(g, size), backprop.Strided(conv).backward(g, size), atol=1e-5)


def test_space_to_depth_refuses_what_it_cannot_unshuffle():
    with pytest.raises(ValueError):
        backprop.SpaceToDepth(SameConv2d(4, 4, 3, 2, groups=4))


def test_autograd_serves_what_the_hand_chain_does_not_know(lite0):
    """Other nets, fp16 and the plain (unfolded) copy take the autograd path (bf16 has the hand chain)."""
    digits = models.load("digits")
    assert FeatureNet(digits, {digits.order[1]}).hand is None
    assert FeatureNet(lite0, {"blocks.3"}, precision="fp16").hand is None
    assert FeatureNet(lite0, {"blocks.3"}, fast=False).hand is None
    pixel_only = guided.pixel()
    feats = FeatureNet(lite0, pixel_only.layers)
    view = View(reference=torch.zeros(1, 3, 16, 16))
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(7))
    g, _ = feats.value_and_grad(pixel_only, x, view)
    ref, _ = autograd_gradient(feats, pixel_only, x, view)
    assert torch.allclose(g, ref)


def test_a_hand_ascent_is_deterministic_and_dreams(lite0):
    obj = objectives.layer("blocks.6")
    x = torch.rand(1, 3, 48, 48, generator=torch.Generator().manual_seed(8)) * 0.4 + 0.3
    feats = FeatureNet(lite0, obj.layers)
    a = Ascent(octaves=1, steps=2)
    with by_hand(feats):
        one, two = (octaves(feats, obj, x, a, torch.Generator().manual_seed(0)) for _ in range(2))
    assert torch.equal(one, two)
    with torch.no_grad():
        assert obj(feats(one)).item() > obj(feats(x)).item()
    assert F.l1_loss(one, x).item() > 0.005


@pytest.mark.parametrize("size", [(48, 48), (47, 61)])
def test_bf16_on_the_cpu_runs_the_hand_chain_close_to_its_own_autograd_and_to_fp32(lite0, size):
    """`precision = "bf16"` on a CPU: the same hand-written chain with bf16 weights and activations
    (the strided depthwise gradients in fp32), not autograd. bf16 keeps ~3 significant digits, so
    the gradient's direction, not its bits, is what must agree."""
    obj = objectives.parse("layers({'blocks.4': 1, 'blocks.9': 1})")
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(3))
    bf16 = FeatureNet(lite0, obj.layers, precision="bf16")
    with by_hand(bf16):
        hand, value = bf16.value_and_grad(obj, x)
    assert hand.dtype == torch.float32 and value.dtype == torch.float32

    def cosine(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a * b).sum() / a.norm() / b.norm())

    ref, ref_value = autograd_gradient(bf16, obj, x)  # bf16 through autograd
    fp32, fp32_value = FeatureNet(lite0, obj.layers).value_and_grad(obj, x)
    assert cosine(hand, ref.float()) > 0.9 and cosine(hand, fp32) > 0.9
    assert value.item() == pytest.approx(fp32_value.item(), rel=0.03)
