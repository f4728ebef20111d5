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
