import pytest
import torch

from pipeline import objectives
from pipeline.ascent import Ascent, add_noise, ascend, gradient, octave_sizes, octaves
from pipeline.features import FeatureNet
from pipeline.frames import to_tensor

OBJ = objectives.layer("blocks.5")


@pytest.fixture
def feats(lite0):
    return FeatureNet(lite0, OBJ.layers)


def test_octaves_count_levels_in_all_smallest_first():
    sizes = octave_sizes(200, 300, Ascent(octaves=4, octave_scale=1.4, min_size=32))
    assert len(sizes) == 4 and sizes[-1] == (200, 300) and sizes[0] == (round(200 / 1.4**3), round(300 / 1.4**3))
    assert octave_sizes(48, 48, Ascent(octaves=5, min_size=32)) == [(34, 34), (48, 48)]  # too small ones skipped
    assert octave_sizes(48, 48, Ascent(octaves=1)) == [(48, 48)]


def test_same_seed_same_dream_other_seed_other_dream(feats, tiny_image):
    x = to_tensor(tiny_image)
    a = Ascent(octaves=2, steps=2, min_size=24)
    run = lambda seed: octaves(feats, OBJ, x, a, torch.Generator().manual_seed(seed))
    first, again, other = run(1), run(1), run(2)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert (first - x).abs().mean() > 0.01  # it dreamed something


def test_tiled_gradient_agrees_with_the_whole_frame(lite0):
    obj = objectives.layer("blocks.1")  # receptive field small against the 64 px tile
    feats = FeatureNet(lite0, obj.layers)
    x = torch.rand(1, 3, 128, 128, generator=torch.Generator().manual_seed(0))
    whole, v_whole = gradient(feats, obj, x, tile=512)
    tiled, v_tiled = gradient(feats, obj, x, tile=64)
    cos = torch.nn.functional.cosine_similarity(whole.flatten(), tiled.flatten(), dim=0)
    assert cos > 0.9  # same direction: seams keep their border (0.86 when every tile trimmed its own)
    assert v_tiled.item() == pytest.approx(v_whole.item(), rel=0.2)


def test_tiled_ascent_dreams_a_frame_larger_than_the_tile(feats):
    x = torch.rand(1, 3, 100, 80, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    out = ascend(feats, OBJ, x, Ascent(tile=48), torch.Generator().manual_seed(0), steps=2)
    assert out.shape == x.shape and (out - x).abs().mean() > 0.005
    whole = ascend(feats, OBJ, x, Ascent(tile=512), torch.Generator().manual_seed(0), steps=2)
    assert not torch.equal(out, whole)  # it was dreamed in tiles (their seams trim differently)


def test_max_loss_stops_early(feats, tiny_image):
    calls = []
    ascend(feats, OBJ, to_tensor(tiny_image), Ascent(max_loss=-1.0), torch.Generator().manual_seed(0),
           steps=5, on_step=lambda img, v: calls.append(v))
    assert len(calls) == 1


def test_step_keeps_the_image_in_range(feats, tiny_image):
    out = ascend(feats, OBJ, to_tensor(tiny_image), Ascent(step_size=0.5), torch.Generator().manual_seed(0), steps=3)
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_noise_is_seeded_and_bounded():
    x = torch.full((1, 3, 32, 32), 0.5)
    a = Ascent(noise=0.05, salt_pepper=0.02)
    n1, n2 = add_noise(x, a, torch.Generator().manual_seed(3)), add_noise(x, a, torch.Generator().manual_seed(3))
    assert torch.equal(n1, n2) and not torch.equal(n1, x)
    assert n1.min() >= 0 and n1.max() <= 1
    flipped = ((n1 == 0) | (n1 == 1)).all(1).float().mean().item()
    assert 0.005 < flipped < 0.05


def test_one_region_over_the_frame_is_the_plain_normalisation_and_each_region_its_own(feats, tiny_image):
    from pipeline.ascent import by_region

    grad = torch.randn(1, 3, 20, 30, generator=torch.Generator().manual_seed(0))
    plain = 1 / (grad.abs().sum() / grad.numel() + 1e-8)
    assert torch.allclose(by_region(grad, torch.ones(1, 1, 20, 30)), plain.expand(1, 1, 20, 30), rtol=1e-5)
    grad[..., :15] *= 10  # the left region's gradients are ten times the right's
    left = torch.zeros(1, 1, 20, 30)
    left[..., :15] = 1
    scale = by_region(grad, torch.cat([left, 1 - left], 1))
    step = (grad * scale).abs()
    assert step[..., :15].mean().item() == pytest.approx(step[..., 15:].mean().item(), rel=1e-4)  # both step alike
    assert by_region(grad, torch.cat([left, torch.zeros_like(left)], 1))[..., 15:].abs().max() == 0  # an empty region: no step
