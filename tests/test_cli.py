"""End to end through the real CLI: tiny generated images, the real network, 1-2 octaves, 2-3 steps."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from tests.conftest import make_image, read_rgb

runner = CliRunner()
FAST = ["--octaves", "1", "--steps", "2", "--seed", "1", "--quiet"]


def dream(*args: str):
    return runner.invoke(app, ["dream", *map(str, args)])


def test_dream_writes_a_dreamed_png_of_the_input_size(tiny_png, tmp_path):
    out = tmp_path / "out.png"
    result = dream(tiny_png, "-o", out, *FAST)
    assert result.exit_code == 0, result.output
    src, got = read_rgb(tiny_png), read_rgb(out)
    assert got.shape == src.shape
    assert np.abs(got.astype(int) - src).mean() > 1.0  # dream strength > 0


def test_same_seed_same_file_other_seed_or_layer_differs(tiny_png, tmp_path):
    args = ["--size", "64", "--octaves", "2", "--steps", "3", "--quiet"]
    paths = {k: tmp_path / f"{k}.png" for k in ("a", "b", "seed", "layer")}
    assert dream(tiny_png, "-o", paths["a"], "--seed", "1", *args).exit_code == 0
    assert dream(tiny_png, "-o", paths["b"], "--seed", "1", *args).exit_code == 0
    assert dream(tiny_png, "-o", paths["seed"], "--seed", "2", *args).exit_code == 0
    assert dream(tiny_png, "-o", paths["layer"], "--seed", "1", "--layers", "blocks.3", *args).exit_code == 0
    assert paths["a"].read_bytes() == paths["b"].read_bytes()
    assert paths["a"].read_bytes() != paths["seed"].read_bytes()
    assert paths["a"].read_bytes() != paths["layer"].read_bytes()


def luma(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(int)


def test_jpeg_output_and_several_outputs_hold_the_same_dream(tiny_png, tmp_path):
    result = dream(tiny_png, "-o", tmp_path / "a.jpg", "-o", tmp_path / "b.png", *FAST)
    assert result.exit_code == 0, result.output
    jpeg, png = read_rgb(tmp_path / "a.jpg"), read_rgb(tmp_path / "b.png")
    assert jpeg.shape == png.shape == (48, 48, 3) and np.abs(luma(png) - luma(read_rgb(tiny_png))).mean() > 1.0
    assert np.abs(luma(jpeg) - luma(png)).mean() < 3  # JPEG's loss only (measured 1.5; the dream moved it 10.5)


def test_render_a_preset_file_with_an_input(tiny_png, tmp_path):
    preset = tmp_path / "mine.toml"
    preset.write_text('description = "tiny"\n[source]\nsize = 32\n[dream]\nobjective = \'channel("blocks.4", 3)\'\n'
                      'octaves = 1\nsteps = 2\n')
    out = tmp_path / "r.png"
    result = runner.invoke(app, ["render", str(preset), "-i", str(tiny_png), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_rgb(out).shape == (32, 32, 3)  # the file's size, the input's square (the sample is 3:2)


def test_layers_and_presets_listings():
    result = runner.invoke(app, ["layers", "efficientnet-lite0"])
    rows = dict(line.split() for line in result.output.splitlines()[1:])  # layer, channels
    assert result.exit_code == 0 and (rows["blocks.9"], rows["blocks.15"], rows["logits"]) == ("112", "320", "1000")
    result = runner.invoke(app, ["presets"])
    assert result.exit_code == 0
    assert {"default", "classic", "eyes", "textures"} <= {line.split()[0] for line in result.output.splitlines()}


def bad_inputs(tmp_path: Path, tiny_png: Path) -> dict[str, list[str]]:
    text = tmp_path / "notes.png"
    text.write_text("this is not an image")
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    key = tmp_path / "key.toml"
    key.write_text("[dream]\nstepz = 3\n")
    value = tmp_path / "value.toml"
    value.write_text("[dream]\noctave_scale = 5.0\n")
    out = str(tmp_path / "out" / "o.png")
    return {
        "missing file": ["dream", str(tmp_path / "nope.png"), "-o", out],
        "text file named .png": ["dream", str(text), "-o", out],
        "unknown layer": ["dream", str(tiny_png), "-o", out, "--layers", "blocks.99"],
        "unknown model": ["dream", str(tiny_png), "-o", out, "--model", "alexnet9"],
        "preset bad key": ["dream", str(tiny_png), "-o", out, "--preset", str(key)],
        "preset bad value": ["dream", str(tiny_png), "-o", out, "--preset", str(value)],
        "unwritable output": ["dream", str(tiny_png), "-o", str(blocker / "o.png")],
        "unknown extension": ["dream", str(tiny_png), "-o", str(tmp_path / "out" / "o.xyz")],
        "bad objective": ["dream", str(tiny_png), "-o", out, "--objective", "layer('blocks.9') +"],
        "bad step size": ["dream", str(tiny_png), "-o", out, "--step-size", "-1"],
        "objective of a list": ["dream", str(tiny_png), "-o", out, "--objective", "layers([1])"],
        "weight past float32": ["dream", str(tiny_png), "-o", out, "--objective", '1e39 * layer("blocks.9")'],
        "weights multiplied past the gain": ["dream", str(tiny_png), "-o", out, "--objective", '1e5 * (1e5 * layer("blocks.9"))'],
    }


BAD_CASES = ["missing file", "text file named .png", "unknown layer", "unknown model", "preset bad key",
             "preset bad value", "unwritable output", "unknown extension", "bad objective", "bad step size",
             "objective of a list", "weight past float32", "weights multiplied past the gain"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, tmp_path, tiny_png):
    args = bad_inputs(tmp_path, tiny_png)[case]
    result = runner.invoke(app, [*args, *FAST])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:"), result.stderr
    assert "Traceback" not in result.output
    out = Path(args[args.index("-o") + 1])
    assert not out.exists()
    assert not list(out.parent.glob(".*partial*")) if out.parent.is_dir() else True


@pytest.mark.parametrize("argv", [["dream", "x.png"], ["dream", "x.png", "-o", "o.png", "--bogus"],
                                  ["dream", "x.png", "-o", "o.png", "--steps", "many"]])
def test_usage_errors_are_one_line_too(argv, capsys):
    from cli import main
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dreamreel: error:") and "--help" in err[0]


def test_a_transparent_png_keeps_its_alpha_and_a_jpeg_of_it_lies_on_the_background(tmp_path):
    from pipeline.sources import BACKGROUND
    rgba = np.dstack([make_image(48)[..., ::-1], np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (48, 1))])
    src = tmp_path / "logo ä.png"  # a space and a non-ASCII letter in the path
    cv2.imwrite(str(src), rgba)
    out, jpg = tmp_path / "dream ö.png", tmp_path / "dream.jpg"
    assert dream(src, "-o", out, "-o", jpg, *FAST).exit_code == 0
    got = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert got.shape == (48, 48, 4) and np.array_equal(got[..., 3], rgba[..., 3])  # alpha untouched
    assert np.abs(got[..., :3].astype(int) - rgba[..., :3]).mean() > 1.0  # the colour was dreamed
    assert np.abs(read_rgb(jpg)[:, 0].astype(int) - BACKGROUND).max() < 12  # column 0 is fully transparent


def test_a_one_pixel_image_is_dreamed(tmp_path):
    cv2.imwrite(str(tmp_path / "dot.png"), np.full((1, 1, 3), 90, np.uint8))
    result = dream(tmp_path / "dot.png", "-o", tmp_path / "out.png", *FAST)
    assert result.exit_code == 0, result.output
    got = read_rgb(tmp_path / "out.png")
    assert got.shape == (1, 1, 3) and got.tolist() != [[[90, 90, 90]]]


# Commands that dream nothing answer without the heavy libraries (torch alone takes 2-3 s on 2 cores).
HEAVY = ("torch", "librosa", "ray", "uvicorn")
LIGHT = [["--help"], ["zoom", "--help"], ["presets"], ["models"], ["layers", "efficientnet-lte0"], ["render", "nope"],
         ["render", "default", "--input", "missing.png"], ["dream", "missing.png", "-o", "x.png"],
         ["zoom", "-o", "x.mp4", "--preset", "zoom", "--objective", 'layer("blocks.9") +'],
         ["zoom", "-o", "x.mp4", "--objective", 'guide("nope.png", "blocks.5")'], ["zoom", "-o", "x.mp4", "--frames", "0"],
         ["video", "missing.mp4", "-o", "x.mp4"], ["audio", "missing.wav"], ["audio", "missing.wav", "--fps", "0"],
         ["carve", "missing.png", "-o", "x.png"], ["studio", "nope"], ["train-digits", "-o", "/proc/no/x.pt"],
         ["dream", "--bogus"]]
PROBE = """
import json, sys
from cli import main
for argv in json.loads(sys.argv[1]):
    rc = main(argv)
    print(json.dumps({"argv": argv, "rc": rc, "heavy": [m for m in %r if m in sys.modules]}))
""" % (HEAVY,)


def test_commands_that_dream_nothing_import_no_torch_librosa_ray_or_uvicorn(tmp_path):
    """Help, listings and every one-line error about arguments, presets or paths, in one fresh process."""
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    run = subprocess.run([sys.executable, "-c", PROBE, json.dumps(LIGHT)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"argv"')]
    assert [r["argv"] for r in lines] == LIGHT, run.stderr[-2000:]
    for r in lines:
        assert r["heavy"] == [], f"`dreamreel {' '.join(r['argv'])}` imported {r['heavy']}"
        assert r["rc"] == (0 if r["argv"][-1] in ("--help", "presets", "models") else 2), r
    assert run.stderr.count("dreamreel: error:") == len(LIGHT) - 4  # one line each
