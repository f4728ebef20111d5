import copy

import pytest
import torch

from pipeline import objectives
from pipeline.ascent import Ascent, octaves
from pipeline.features import FeatureNet
from pipeline.models import fold_batchnorm


def test_folded_channels_last_copy_computes_the_same_activations(lite0):
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    plain, fast = FeatureNet(lite0, {"blocks.4", "blocks.9"}, fast=False), FeatureNet(lite0, {"blocks.4", "blocks.9"})
    a, b = plain(x), fast(x)
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=1e-4), k


def test_folding_leaves_the_shared_model_untouched(lite0):
    before = {k: v.clone() for k, v in lite0.state_dict().items()}
    FeatureNet(lite0, {"blocks.9"})
    assert all(torch.equal(before[k], v) for k, v in lite0.state_dict().items())
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in lite0.modules()) > 40


def test_fold_batchnorm_removes_every_declared_pair_and_computes_the_same(lite0):
    plain = lite0.stage("blocks.3")
    folded = fold_batchnorm(copy.deepcopy(plain))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.randn(1, 24, 16, 16, generator=torch.Generator().manual_seed(0))  # blocks.3 takes blocks.2's 24 channels
    with torch.no_grad():
        assert torch.allclose(folded(x), plain(x), atol=1e-4, rtol=1e-4)  # folded into the conv, not dropped


def test_gradients_match_between_plain_and_fast(lite0):
    obj = objectives.layer("blocks.6")
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    grads = []
    for fast in (False, True):
        xx = x.clone().requires_grad_(True)
        obj(FeatureNet(lite0, obj.layers, fast=fast)(xx)).backward()
        grads.append(xx.grad)
    assert torch.nn.functional.cosine_similarity(grads[0].flatten(), grads[1].flatten(), dim=0) > 0.999


@pytest.mark.parametrize("precision", ["bf16", "fp32"])
def test_mixed_precision_dreams_as_well(lite0_on_device, device, precision):
    """bf16 on the network (image kept fp32) reaches a comparable objective value."""
    obj = objectives.layer("blocks.5")
    x = (torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)) * 0.4 + 0.3).to(device)
    feats = FeatureNet(lite0_on_device, obj.layers, precision=precision)
    assert {p.dtype for p in feats.stages.parameters()} == {{"bf16": torch.bfloat16, "fp32": torch.float32}[precision]}
    ref = FeatureNet(lite0_on_device, obj.layers)
    out = octaves(feats, obj, x, Ascent(octaves=1, steps=3), torch.Generator().manual_seed(0))
    assert out.dtype == torch.float32
    with torch.no_grad():
        gain = obj(ref(out)).item() / obj(ref(x)).item()
    assert gain > 1.2


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_compiled_bf16_matches_cpu_objective(lite0):
    obj = objectives.layer("blocks.5")
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(3)) * 0.4 + 0.3
    a = Ascent(octaves=2, steps=4)
    cpu = octaves(FeatureNet(lite0, obj.layers), obj, x, a, torch.Generator().manual_seed(0))
    feats = FeatureNet(copy.deepcopy(lite0).to("cuda"), obj.layers, precision="bf16")  # a copy: the shared net stays
    feats.compile(dynamic=False)
    gpu = octaves(feats, obj, x.cuda(), a, torch.Generator().manual_seed(0)).cpu()
    ref = FeatureNet(lite0, obj.layers)
    with torch.no_grad():
        assert obj(ref(gpu)).item() == pytest.approx(obj(ref(cpu)).item(), rel=0.1)
