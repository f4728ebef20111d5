import pytest
import torch

from pipeline import objectives
from pipeline.ascent import Ascent, ascend
from pipeline.errors import DreamreelError
from pipeline.features import FeatureNet
from pipeline.frames import to_tensor
from pipeline.view import View


def score(feats, obj, x):
    with torch.no_grad():
        return obj(feats(x)).item()


@pytest.mark.parametrize("name", sorted(objectives.EXAMPLES))
def test_objective_rises_after_two_steps(name, lite0_on_device, tiny_image, device):
    obj = objectives.parse(objectives.EXAMPLES[name])
    feats = FeatureNet(lite0_on_device, obj.layers)
    x = to_tensor(tiny_image, device)
    out = ascend(feats, obj, x, Ascent(jitter=0), torch.Generator().manual_seed(0), steps=2)
    assert score(feats, obj, out) > score(feats, obj, x)


def test_algebra_adds_values_and_unions_layers(lite0, tiny_image):
    a, b = objectives.layer("blocks.3"), objectives.channel("blocks.5", 7)
    combo = a + 0.5 * b
    assert combo.layers == {"blocks.3", "blocks.5"}
    acts = FeatureNet(lite0, combo.layers)(to_tensor(tiny_image))
    assert combo(acts).item() == pytest.approx(a(acts).item() + 0.5 * b(acts).item(), rel=1e-5)
    assert (a - b)(acts).item() == pytest.approx(a(acts).item() - b(acts).item(), rel=1e-5)


@pytest.mark.parametrize("text", ['layer("blocks.9")', 'layers({"blocks.3": 0.5, "blocks.5": 1.0})',
                                  'layer("blocks.5") - 0.25 * layer("blocks.5", 2) + layer("stem")'])
def test_hand_written_gradient_equals_autograd(lite0, text):
    obj = objectives.parse(text)
    acts = {n: a.detach().requires_grad_(True) for n, a in
            FeatureNet(lite0, obj.layers)(torch.rand(1, 3, 40, 52, generator=torch.Generator().manual_seed(0))).items()}
    value, grads = obj.by_hand(acts, View())
    ref = obj(acts)
    expected = torch.autograd.grad(ref, list(acts.values()))
    assert value.item() == pytest.approx(ref.item(), rel=1e-6)
    assert grads.keys() == acts.keys()
    for name, g in zip(acts, expected):
        assert torch.allclose(grads[name], g, rtol=1e-5, atol=1e-9), name


def test_tile_edges_trim_only_the_frame_sides():
    a = torch.zeros(1, 1, 10, 12)
    assert objectives._inner(a).shape[-2:] == (6, 8)
    tile = View().tile(0, 10, 4, 16, 20, 16)  # top-right tile of a 20x16 frame
    assert tile.edges == (True, False, False, True)
    assert objectives._inner(a, tile).shape[-2:] == (8, 10)


def test_objectives_without_a_hand_gradient_keep_autograd():
    assert objectives.layer("blocks.3").by_hand is not None
    assert (objectives.layer("blocks.3") + objectives.channel("blocks.5", 7)).by_hand is None


def test_parsed_expression_equals_the_factories(lite0, tiny_image):
    parsed = objectives.parse('layer("blocks.9") + 0.5*channel("blocks.5", 12)')
    built = objectives.layer("blocks.9") + 0.5 * objectives.channel("blocks.5", 12)
    acts = FeatureNet(lite0, built.layers)(to_tensor(tiny_image))
    assert parsed.layers == built.layers
    assert parsed(acts).item() == pytest.approx(built(acts).item())


@pytest.mark.parametrize("text", [
    '__import__("os").system("true")',
    '().__class__.__bases__',
    'layer("blocks.9").fn',
    '(lambda: 1)()',
    'open("x")',
    'layer("blocks.9"',
    '3',
])
def test_parser_refuses_anything_but_the_language(text):
    with pytest.raises(DreamreelError):
        objectives.parse(text)


def test_layers_shorthand_weighs_each_layer(lite0, tiny_image):
    obj = objectives.parse(objectives.parse_layers("blocks.9=1.0,blocks.5=0.5"))
    assert obj.layers == {"blocks.9", "blocks.5"}
    acts = FeatureNet(lite0, obj.layers)(to_tensor(tiny_image))
    expected = objectives.layer("blocks.9")(acts) + 0.5 * objectives.layer("blocks.5")(acts)
    assert obj(acts).item() == pytest.approx(expected.item(), rel=1e-5)
    with pytest.raises(DreamreelError):
        objectives.parse_layers("blocks.9=x")


def test_channel_out_of_range_is_a_clear_error(lite0, tiny_image):
    obj = objectives.channel("blocks.5", 500)
    with pytest.raises(DreamreelError, match="pick 0..79"):
        obj(FeatureNet(lite0, obj.layers)(to_tensor(tiny_image)))


def test_softmax_class_objective_is_the_class_probability(lite0, tiny_image):
    x = to_tensor(tiny_image)
    obj = objectives.class_logit(107, softmax=True)
    v = obj(FeatureNet(lite0, obj.layers)(x)).item()
    with torch.no_grad():
        logits = lite0(x)[0]  # the whole net, not the cut copy
    assert v == pytest.approx(logits.softmax(0)[107].item(), rel=1e-4)
    assert objectives.class_logit(107)(FeatureNet(lite0, obj.layers)(x)).item() == pytest.approx(logits[107].item(), rel=1e-4)


def _region_view(acts_size: tuple[int, int]) -> View:
    """A tile (rows 8.., columns 4..) of a rolled 60x70 frame with two region masks of another size."""
    masks = torch.rand(1, 2, 33, 41, generator=torch.Generator().manual_seed(3))
    return View(masks=masks, shift=(3, -5), window=(8, 4, 60, 70), edges=(False, True, True, False), size=acts_size)


@pytest.mark.parametrize("text", ['region(1, layer("blocks.5"))',
                                  'region(1, layer("blocks.5")) + region(0, layer("blocks.3", 0.5))',
                                  'region(0, layers({"blocks.3": 0.5, "blocks.5": 1.0})) - 0.25 * region(1, layer("stem"))'])
def test_hand_written_region_gradient_equals_autograd(lite0, text):
    obj = objectives.parse(text)
    acts = {n: a.detach().requires_grad_(True) for n, a in
            FeatureNet(lite0, obj.layers)(torch.rand(1, 3, 41, 53, generator=torch.Generator().manual_seed(0))).items()}
    view = _region_view((41, 53))
    value, grads = obj.by_hand(acts, view)
    ref = obj(acts, view)
    expected = torch.autograd.grad(ref, list(acts.values()))
    assert value.item() == pytest.approx(ref.item(), rel=1e-6)
    for name, g in zip(acts, expected):
        assert torch.allclose(grads[name], g, rtol=1e-5, atol=1e-9), name


@pytest.mark.parametrize("text", ['layer("blocks.5")', 'channel("blocks.5", 3)', 'guide("swirls.png", "blocks.3")'])
def test_regions_that_share_the_picture_add_up_to_the_whole(lite0, text):
    obj = objectives.parse(text)
    parts = objectives.region(0, obj) + objectives.region(1, obj)
    x = torch.rand(1, 3, 48, 56, generator=torch.Generator().manual_seed(1))
    m = torch.rand(1, 1, 48, 56, generator=torch.Generator().manual_seed(2))
    view = View(reference=x, masks=torch.cat([m, 1 - m], 1))
    feats = FeatureNet(lite0, parts.layers)
    _, whole = feats.value_and_grad(obj, x, View(reference=x))
    _, shared = feats.value_and_grad(parts, x, view)
    _, alone = feats.value_and_grad(objectives.region(1, obj), x, view)
    assert shared.item() == pytest.approx(whole.item(), rel=1e-4)
    assert abs(alone.item()) < abs(whole.item())


def test_a_region_weights_the_gradient_where_its_mask_is(lite0):
    obj = objectives.region(1, objectives.layer("blocks.3"))
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    left = torch.zeros(1, 1, 64, 64)
    left[..., :32] = 1
    grad, _ = FeatureNet(lite0, obj.layers).value_and_grad(obj, x, View(masks=torch.cat([1 - left, left], 1)))
    g = grad.abs().mean((0, 1))
    assert g[:, :24].mean() > 10 * g[:, 48:].mean()  # the right half only feels the receptive fields' spill


def test_region_refuses_what_a_mask_cannot_weight_and_bad_indices():
    with pytest.raises(DreamreelError, match="looks at the whole picture"):
        objectives.parse('region(1, class_logit(3))')
    with pytest.raises(DreamreelError, match="looks at the whole picture"):
        objectives.parse('region(1, style("swirls.png", "blocks.2", {"blocks.4": 1}))')
    with pytest.raises(DreamreelError, match="whole number from 0"):
        objectives.parse('region(-1, layer("blocks.3"))')
    with pytest.raises(DreamreelError, match="has 1 region mask"):
        objectives.region(2, objectives.layer("blocks.3"))({"blocks.3": torch.ones(1, 2, 8, 8)}, View(masks=torch.ones(1, 2, 8, 8), size=(8, 8)))
