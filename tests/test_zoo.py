"""The zoo nets through the real loading path: random weights saved in torchvision's key format."""

from pathlib import Path

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

# name -> (keys in torchvision's file without the aux classifiers, a key with its shape,
#          a layer to dream with its channels, the listed layers expected)
CASES = {
    "googlenet": (344, ("inception4c.branch2.1.conv.weight", (256, 128, 3, 3)), ("inception4c", 512),
                  [f"inception{n}" for n in ("3a", "3b", "4a", "4b", "4c", "4d", "4e", "5a", "5b")]),
    "inception-v3": (566, ("Mixed_6e.branch7x7dbl_5.conv.weight", (192, 192, 1, 7)), ("Mixed_5d", 288),
                     ["Conv2d_1a_3x3", "Mixed_5b", "Mixed_6a", "Mixed_6e", "Mixed_7c"]),
    "vgg16": (32, ("features.28.weight", (512, 512, 3, 3)), ("conv4_3", 512),
              [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 3, 3, 3)) for i in range(1, n + 1)]),
    "vgg19": (38, ("features.34.weight", (512, 512, 3, 3)), ("conv5_4", 512),
              [f"conv{b}_{i}" for b, n in zip(range(1, 6), (2, 2, 4, 4, 4)) for i in range(1, n + 1)]),
    "resnet50": (320, ("layer3.2.conv2.weight", (256, 256, 3, 3)), ("layer3.2", 1024),
                 ["layer1", "layer2", "layer3", "layer4", "layer1.2", "layer3.5", "layer4.0"]),
}
AUX = {"googlenet": {"aux1.fc2.weight": torch.zeros(1000, 1024)}, "inception-v3": {"AuxLogits.fc.weight": torch.zeros(1000, 768)}}


def random_weight(key: str, value: torch.Tensor) -> torch.Tensor:
    """He-initialised convs (activations keep their scale through 50 layers, so gradients do too);
    the huge VGG classifier matrices as one random column broadcast (a few bytes on disk)."""
    if value.ndim == 4:
        return torch.nn.init.kaiming_normal_(torch.empty_like(value), nonlinearity="relu")
    if value.ndim == 2 and value.numel() > 1_000_000:
        return (torch.randn(value.shape[0], 1) * 1e-3).expand(value.shape)
    return value


def torchvision_state_dict(name: str) -> dict[str, torch.Tensor]:
    """A random init of our architecture, keys renamed back to torchvision's (plus its aux classifier keys)."""
    net, _, _, renames = zoo.ZOO[name].architecture()
    back = {ours: theirs for theirs, ours in renames.items()}
    sd = {}
    for key, value in net.state_dict().items():
        prefix = next((p for p in back if key.startswith(p)), None)
        sd[back[prefix] + key[len(prefix):] if prefix else key] = random_weight(key, value)
    return {**sd, **AUX.get(name, {})}


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("zoo")
    paths = {}
    for name in CASES:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            sd = torchvision_state_dict(name)
        paths[name] = folder / zoo.ZOO[name].files[0]
        torch.save(sd, paths[name])
    return paths


@pytest.mark.parametrize("name", CASES)
def test_zoo_net_loads_torchvision_keys_lists_layers_and_dreams_64px(name, weights):
    count, (key, shape), (layer, channels), expected = CASES[name]
    sd = torch.load(weights[name], weights_only=True)
    assert len([k for k in sd if not k.startswith(zoo.DROPPED)]) == count and tuple(sd[key].shape) == shape
    net = zoo.build(zoo.ZOO[name], weights[name])  # the loading path of models.load, without its cache (VGG: 0.5 GB)
    assert set(expected) <= set(net.listed) and net.listed[-1] == "logits"
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
                                 "--layers", CASES[name][2][0], "--quiet"])
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
    sd = torchvision_state_dict("resnet50")
    sd["fc.weight"], sd["fc.bias"] = torch.zeros(7, 2048), torch.zeros(7)
    mine = tmp_path / "finetuned.pth"
    torch.save(sd, mine)
    assert dict(models.load(str(mine)).channels())["logits"] == 7
    assert models.load(f"resnet50:{mine}").name == f"resnet50:{mine}"
    with pytest.raises(DreamreelError, match="unknown architecture"):
        models.load(f"alexnet:{mine}")
