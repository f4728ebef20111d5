"""Carving: tiny images, the digits CNN (native 28), 1-2 outer iterations."""

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli import app
from pipeline import carving, models
from pipeline.frames import to_tensor
from tests.conftest import make_image, read_rgb

runner = CliRunner()


def carve_cli(src: Path, out: Path, *args: str):
    return runner.invoke(app, ["carve", str(src), "-o", str(out), "--size", "64", "--seed", "1", "--quiet", *args])


@pytest.fixture
def card(tmp_path) -> Path:
    import cv2

    path = tmp_path / "card.png"
    cv2.imwrite(str(path), cv2.cvtColor(make_image(64), cv2.COLOR_RGB2BGR))
    return path


def seam_ratio(img: np.ndarray) -> float:
    """Mean step across the quadrant borders over the mean step between neighbours elsewhere."""
    g = img.astype(float).mean(2)
    dx, dy = np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0))
    h, w = g.shape
    seam = (dx[:, w // 2 - 1].mean() + dy[h // 2 - 1].mean()) / 2
    return seam / ((dx.mean() + dy.mean()) / 2)


def quadrants(img: np.ndarray) -> list[np.ndarray]:
    h, w = img.shape[0] // 2, img.shape[1] // 2
    return [img[:h, :w], img[:h, w:], img[h:, :w], img[h:, w:]]


def test_carve_command_runs_and_changes_the_image(card, tmp_path):
    out = tmp_path / "out.png"
    result = carve_cli(card, out, "--model", "digits", "--map", "5", "--tiles", "2x2", "--iterations", "2")
    assert result.exit_code == 0, result.output
    src, got = read_rgb(card), read_rgb(out)
    assert got.shape == src.shape
    assert np.abs(got.astype(int) - src).mean() > 5
    assert (got[..., 0] == got[..., 1]).all()  # the digits net carves in grey
    # tiles are dreamed independently, so their patterns meet out of phase at the seam (1.0-2.1x
    # the mean step elsewhere, measured); a level step from a tile's own standardisation would add to it
    assert seam_ratio(got) < 2.5


def test_quadrants_with_different_maps_differ(card, tmp_path):
    same, mixed = tmp_path / "same.png", tmp_path / "mixed.png"
    common = ["--model", "digits", "--tiles", "2x2", "--iterations", "1", "--steps", "10"]
    assert carve_cli(card, same, "--map", "5,5,5,5", *common).exit_code == 0
    assert carve_cli(card, mixed, "--map", "5,40,5,20", *common).exit_code == 0
    diff = [np.abs(a.astype(int) - b).mean() for a, b in zip(quadrants(read_rgb(same)), quadrants(read_rgb(mixed)))]
    assert diff[1] > 2 * diff[0] and diff[3] > 2 * diff[2], diff  # the quadrants given other maps changed most
    assert seam_ratio(read_rgb(mixed)) < 4  # different dreams meet at the seam; no extra step from the paste


def test_pipeline_is_lossless_when_the_ascent_does_nothing():
    """Downscale, upscale, the tiles' own standardisation and the correction tensors give the
    standardised original back (what a low-contrast tile's standardisation pushes past [0, 1]
    is kept aside from the ascent's clamp)."""
    x = to_tensor(make_image(64, seed=2))
    c = carving.Carving("conv3", maps=(5, 7), tiles=(2, 4), iterations=1, steps=1, step_size=1e-9, jitter=0, gray=True)
    out = carving.carve(models.load("digits"), x, c, torch.Generator().manual_seed(0))
    expected = carving.standardise(carving.gray(x), c.spread)[0].clamp(0, 1)
    assert (out - expected).abs().max() < 1e-4


def test_convergence_stops_early():
    model = models.load("digits")
    from pipeline.features import FeatureNet
    from pipeline.objectives import channel

    feats = FeatureNet(model, {"conv3"})
    x = torch.rand(1, 3, 28, 28, generator=torch.Generator().manual_seed(0))
    c = carving.Carving("conv3", steps=40, tol=10.0)  # any gain under 10x the value counts as converged
    _, done = carving.converge(feats, channel("conv3", 5), x, c, torch.Generator().manual_seed(0))
    assert done == 2 * c.chunk


def test_animate_steps_writes_a_gif_of_the_outer_iterations(card, tmp_path):
    import imageio_ffmpeg

    gif = tmp_path / "steps.gif"
    result = carve_cli(card, tmp_path / "o.png", "--map", "5", "--iterations", "2", "--steps", "5",
                       "--animate-steps", str(gif))
    assert result.exit_code == 0, result.output
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(gif))
    assert frames == 3  # the input, then each outer iteration


def test_carving_with_an_imagenet_net_in_colour(card, tmp_path):
    out = tmp_path / "lite.png"
    result = carve_cli(card, out, "--model", "efficientnet-lite0", "--layer", "blocks.5", "--map", "3,9",
                       "--iterations", "1", "--steps", "2", "--color")
    assert result.exit_code == 0, result.output
    got = read_rgb(out)
    assert got.shape == (64, 64, 3) and not (got[..., 0] == got[..., 1]).all()


@pytest.mark.parametrize("args, message", [
    (["--layer", "conv9"], "unknown layer 'conv9'"),
    (["--map", "99"], "channel 99 is out of range"),
    (["--tiles", "2x3"], "--tiles"),
    (["--map", "a,b"], "--map"),
])
def test_bad_carve_input_is_one_line_exit_2(card, tmp_path, args, message):
    out = tmp_path / "bad.png"
    result = carve_cli(card, out, "--iterations", "1", "--steps", "1", *args)
    assert result.exit_code == 2 and message in result.stderr and not out.exists(), result.output
