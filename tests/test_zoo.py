"""The zoo nets through the real loading path, checked against torchvision itself: files with
torchvision's own keys (written out in `data/torchvision_zoo.json`) and seeded weights load, and
each net's logits equal torchvision's for those weights (`data/torchvision_zoo.py` made them)."""

import functools
import json
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline import models, objectives
from pipeline.models import files, zoo
from pipeline.ascent import Ascent, ascend
from pipeline.errors import DreamreelError
from pipeline.features import FeatureNet

runner = CliRunner()


@functools.cache
def torchvision(name: str) -> dict:
    """torchvision's facts for one net: "keys" ([key, shape] in its state dict's order), "logits" (index ->
    value for the reference weights and image), "std" (the spread of all 1000)."""
    return json.loads((Path(__file__).parent / "data" / "torchvision_zoo.json").read_text())[name]

# name -> (a layer to dream with its channels, the listed layers expected)
CASES = {
    "googlenet": (("inception4c", 512), [f"inception{n}" for n in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]),
    "inception-v3": (("Mixed_5d", 288), ["Conv2d_1a_3x3", "Mixed_5b", "Mixed_6a", "Mixed_6e", "Mixed_7c"]),
    "vgg16": (("conv4_3", 512), [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)]),
    "vgg19": (("conv5_4", 512), [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4)) for i in range(1, n + 1)]),
    "resnet50": (("layer3.2", 1024), ["layer1", "layer2", "layer3", "layer4", "layer1.2", "layer3.5", "layer4.0"]),
}


def reference_value(key: str, shape: list[int], rng: np.random.Generator) -> torch.Tensor:
    """He-scaled convs and linears (activations keep their scale through 50 layers), BatchNorm
    statistics and affines away from identity (so a BatchNorm loaded into the wrong place shows); the
    huge VGG classifier matrices as one random column broadcast (a few bytes on disk)."""
    if key.endswith("num_batches_tracked"):
        return torch.zeros((), dtype=torch.long)
    if len(shape) >= 2:
        std = (2.0 / int(np.prod(shape[1:]))) ** 0.5
        if np.prod(shape) > 5_000_000:
            return torch.from_numpy(rng.normal(0, std, (shape[0], 1)).astype(np.float32)).expand(shape)
        return torch.from_numpy(rng.normal(0, std, shape).astype(np.float32))
    if key.endswith(("running_var", "weight")):  # 1-D weights are BatchNorm scales
        return torch.from_numpy(rng.uniform(0.5, 1.5, shape).astype(np.float32))
    return torch.from_numpy(rng.normal(0, 0.1, shape).astype(np.float32))  # biases, running means


def reference_weights(name: str, keys: list) -> dict[str, torch.Tensor]:
    """The state dict for torchvision's `keys` ([key, shape] pairs), the same on every machine."""
    return {key: reference_value(key, shape, np.random.default_rng([zlib.crc32(name.encode()), i]))
            for i, (key, shape) in enumerate(keys)}


def reference_image() -> torch.Tensor:
    """A 96 px RGB image in [0, 1] (InceptionV3 needs 75 px at least)."""
    return torch.from_numpy(np.random.default_rng(0).random((1, 3, 96, 96), dtype=np.float32))


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zoo")
    paths = {}
    for name in CASES:
        paths[name] = folder / zoo.ZOO[name].files[0]
        torch.save(reference_weights(name, torchvision(name)["keys"]), paths[name])
    return paths


@pytest.mark.parametrize("name", CASES)
def test_zoo_net_loads_torchvision_keys_computes_torchvisions_logits_and_dreams_64px(name, weights):
    (layer, channels), expected = CASES[name]
    net = zoo.build(zoo.ZOO[name], weights[name])  # the loading path of models.load, without its cache (VGG: 0.5 GB)
    assert set(expected) <= set(net.listed) and net.listed[-1] == "logits"
    reference = torchvision(name)
    with torch.no_grad():
        logits = net(reference_image())[0]  # the raw image: each net normalises it as its weights expect
    got = [logits[int(i)].item() for i in reference["logits"]]
    assert got == pytest.approx(list(reference["logits"].values()), abs=1e-3 * reference["std"])
    feats = FeatureNet(net, {layer})
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 0.5 + 0.25
    assert feats(x)[layer].shape[1] == channels
    obj = objectives.layer(layer)
    out = ascend(feats, obj, x, Ascent(jitter=4), torch.Generator().manual_seed(0), steps=2)
    assert out.shape == x.shape and (out - x).abs().mean() > 1e-3
    feats.close()


def test_layers_command_lists_a_zoo_net_with_channel_counts(weights):
    result = runner.invoke(app, ["layers", "googlenet", "--weights", str(weights["googlenet"])])
    assert result.exit_code == 0, result.output
    rows = dict(line.split() for line in result.output.splitlines()[1:])
    assert rows["inception3a"] == "256" and rows["inception5b"] == "1024" and rows["logits"] == "1000"


def test_weights_found_in_the_torch_hub_cache(weights, monkeypatch, tmp_path):
    hub = tmp_path / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    (hub / "resnet50-11ad3fa6.pth").symlink_to(weights["resnet50"])  # the V2 file name works too
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert zoo.weights_file(zoo.ZOO["resnet50"]) == hub / "resnet50-11ad3fa6.pth"


@pytest.mark.parametrize("name", ["googlenet", "vgg16", "resnet50"])
def test_missing_weights_exit_2_and_name_the_file(name, monkeypatch, tmp_path, tiny_png):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    result = runner.invoke(app, ["dream", str(tiny_png), "-o", str(tmp_path / "o.png"), "--model", name,
                                 "--layers", CASES[name][0][0], "--quiet"])
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and zoo.ZOO[name].files[0] in line and str(tmp_path / "hub" / "checkpoints") in line


def test_a_state_dict_that_does_not_fit_is_a_clear_error(tmp_path):
    bad = tmp_path / "vgg16-397923af.pth"
    torch.save({"features.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(DreamreelError, match="do not fit vgg16"):
        zoo.build(zoo.ZOO["vgg16"], bad)


@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")
def test_user_files_torchscript_and_state_dicts(tmp_path, weights):
    chain = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3, stride=2))
    scripted = tmp_path / "mine.pt"
    torch.jit.script(chain).save(str(scripted))
    net = models.load(str(scripted))
    assert net.listed == ("0", "1", "2") and dict(net.channels())["2"] == 4
    # a state dict: the architecture is detected, or named as ARCH:FILE; the class count follows the file
    sd = reference_weights("resnet50", torchvision("resnet50")["keys"])
    sd["fc.weight"], sd["fc.bias"] = torch.zeros(7, 2048), torch.zeros(7)
    mine = tmp_path / "finetuned.pth"
    torch.save(sd, mine)
    assert dict(models.load(str(mine)).channels())["logits"] == 7
    named = models.load(f"resnet50:{mine}")
    assert named.name == f"resnet50:{mine}" and dict(named.channels())["logits"] == 7
    with pytest.raises(DreamreelError, match="unknown architecture"):
        models.load(f"alexnet:{mine}")
