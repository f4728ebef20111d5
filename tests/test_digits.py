"""The digits CNN: the shipped weights, the training command, the MNIST reader."""

import gzip
import struct

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline import models
from pipeline.models import digits

runner = CliRunner()


@pytest.fixture(scope="module")
def split() -> digits.Split:
    return digits.uci_digits(seed=0)


def test_shipped_weights_reach_95_percent_on_the_held_out_split(split):
    net = models.load("digits")
    assert digits.SHIPPED.stat().st_size < 100_000
    assert len(split.y_test) == 359  # 20 % of the 1,797 digits, never trained on
    acc = digits.accuracy(net, split.x_test, split.y_test)
    assert acc >= 0.95, acc  # README: 98.05 % with `dreamreel train-digits -o pipeline/data/digits.pt`


def test_layers_and_grey_input(split):
    net = models.load("digits")
    assert dict(net.channels()) == {"conv1": 16, "pool1": 16, "conv2": 32, "pool2": 32, "conv3": 64, "logits": 10}
    grey = split.x_test[:8].expand(-1, 3, -1, -1)
    luma = (grey * torch.tensor(digits.LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True)
    with torch.no_grad():  # RGB is reduced to luma first: grey RGB and one grey channel agree
        assert torch.allclose(net.normalise(grey), (luma - 0.5) / 0.5)


def test_training_is_seeded(split):
    small = digits.Split(split.x_train[:200], split.y_train[:200], split.x_test[:50], split.y_test[:50], "subset")
    a, acc_a = digits.train(small, epochs=1, seed=3)
    b, acc_b = digits.train(small, epochs=1, seed=3)
    assert acc_a == acc_b and all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))


@pytest.mark.slow
def test_the_training_recipe_reproduces_95_percent(split, one_thread):
    """What `dreamreel train-digits` runs (12 epochs, seed 0, one thread): ~5-20 s."""
    net, acc = digits.train(split)
    assert acc >= 0.95, acc
    shipped = models.load("digits")
    same = all(torch.equal(p, q) for p, q in zip(net.parameters(), shipped.parameters()))
    print(f"held-out accuracy {acc:.2%}; identical to the shipped weights: {same}")


def test_train_digits_command_writes_a_loadable_file(tmp_path):
    out = tmp_path / "d.pt"
    result = runner.invoke(app, ["train-digits", "-o", str(out), "--epochs", "1"])
    assert result.exit_code == 0, result.output
    assert "held-out accuracy" in result.output and out.is_file()
    assert digits.build(out).listed[-1] == "logits"


def write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_mnist_idx_files_are_read(tmp_path):
    rng = np.random.default_rng(0)
    for kind, n in (("train", 12), ("t10k", 5)):
        write_idx(tmp_path / f"{kind}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx(tmp_path / f"{kind}-labels-idx1-ubyte.gz", rng.integers(0, 10, n))
    s = digits.mnist(tmp_path)
    assert s.x_train.shape == (12, 1, 28, 28) and s.y_test.shape == (5,) and s.x_train.max() <= 1.0
    result = runner.invoke(app, ["train-digits", "-o", str(tmp_path / "m.pt"), "--mnist", str(tmp_path / "nope")])
    assert result.exit_code == 2 and "MNIST folder not found" in result.stderr
