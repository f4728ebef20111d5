"""Masks end to end: reading, expressions over the picture, feathering, the still and the moving-object
targets at tiny sizes, regions in one ascent, a video's mask carried by the flow, resume, cuts, bad masks."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks import clips
from cli import app
from pipeline import mask, presets
from pipeline.dream import ShotDreamer
from pipeline.errors import DreamreelError
from pipeline.frames import Carry, Frame
from pipeline.motion import SceneCut
from pipeline.renderer import render
from pipeline.sources import SAMPLE, fit, read_image
from tests.conftest import interrupted, make_image, read_rgb

runner = CliRunner()


def write(path: Path, image: np.ndarray) -> Path:
    """An RGB, grey or RGBA array as a PNG."""
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR if image.shape[2] == 3 else cv2.COLOR_RGBA2BGRA)
    cv2.imwrite(str(path), image)
    return path


def disc(h: int, w: int, r: float) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.where(np.hypot(y - (h - 1) / 2, x - (w - 1) / 2) <= r, 255, 0).astype(np.uint8)


def radius(h: int, w: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.hypot(y - (h - 1) / 2, x - (w - 1) / 2)


def change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.float32) - b.astype(np.float32)).mean(-1)


# --- expressions over the picture ------------------------------------------------------------


def test_picture_expressions_read_brightness_colour_and_place():
    img = np.zeros((4, 6, 3), np.uint8)
    img[:, :3] = (255, 255, 255)  # left: white; right: pure blue
    img[:, 3:] = (0, 0, 255)
    on = lambda text: mask.Mask.of(text, "mask").on(img, (4, 6)) / 255  # noqa: E731
    assert on("luma > 0.7").tolist() == [[1, 1, 1, 0, 0, 0]] * 4
    assert on("200 < hue < 260 and saturation > 0.5").tolist() == [[0, 0, 0, 1, 1, 1]] * 4
    assert on("x < 0.5").tolist() == [[1, 1, 1, 0, 0, 0]] * 4
    assert on("not (y < 0.5)")[:, 0].tolist() == [0, 0, 1, 1]
    assert on("luma > 0.7 or blue > 0.9").min() == 1
    assert np.allclose(on("ramp(0.25, 0.75, x)")[0], np.clip(((np.arange(6) + 0.5) / 6 - 0.25) / 0.5, 0, 1), atol=1 / 255)
    assert np.allclose(on("0.5"), 128 / 255)


@pytest.mark.parametrize("text, said", [
    ("lumaa > 0.7", "name 'lumaa' is not allowed"),
    ('__import__("os").system("true")', "neither a file nor a picture expression"),
    ("max(luma, __import__)", "name '__import__' is not allowed"),
    ("luma > " + "9" * 400, "too large"),
    ("luma > 1e999", "too large"),
    ("luma.real", "neither a file nor a picture expression"),
    ("masks/m.png", "neither a file nor a picture expression"),
    ("luma > (", "neither a file nor a picture expression"),
])
def test_a_bad_mask_text_is_one_line(text, said):
    with pytest.raises(DreamreelError, match="mask") as e:
        mask.Mask.of(text, "mask")
    assert said in str(e.value) and "\n" not in str(e.value)


# --- files, feathering, sizes ----------------------------------------------------------------


def test_an_image_gives_its_alpha_else_its_brightness_and_inverts(tmp_path):
    grey = np.zeros((8, 8, 3), np.uint8)
    grey[:, :4] = 255
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 255  # white everywhere, but only the top half is opaque
    rgba[:4, :, 3] = 255
    from_luma = mask.Mask.of(str(write(tmp_path / "g.png", grey)), "mask").on(grey, (8, 8))
    from_alpha = mask.Mask.of(str(write(tmp_path / "a.png", rgba)), "mask").on(grey, (8, 8))
    inverted = mask.Mask.of(str(tmp_path / "g.png"), "mask", invert=True).on(grey, (8, 8))
    assert from_luma[:, :4].min() == 255 and from_luma[:, 4:].max() == 0
    assert from_alpha[:4].min() == 255 and from_alpha[4:].max() == 0
    assert np.array_equal(inverted, 255 - from_luma)


def test_feathering_softens_the_edge_and_reaches_no_further():
    sharp = disc(64, 64, 16)
    soft = mask.feathered(sharp, 6) / 255
    r = radius(64, 64)
    assert soft[r > 16 + 6 + 1].max() == 0 and soft[r < 16 - 6 - 1].min() > 0.999
    edge = soft[(r > 14) & (r < 18)]
    assert 0.05 < edge.min() and edge.max() < 0.95  # a ramp, not a step


def test_a_mask_of_another_size_is_resized_with_a_note(tmp_path, capsys):
    m = mask.Mask.of(str(write(tmp_path / "m.png", disc(40, 40, 10))), "mask")
    out = m.on(np.zeros((20, 30, 3), np.uint8), (20, 30), noted=set())
    err = capsys.readouterr().err
    assert out.shape == (20, 30) and err.count("\n") == 1 and "40x40, the frames 30x20: resized" in err


@pytest.mark.parametrize("case", ["black", "white-inverted", "unreadable", "short-folder"])
def test_bad_masks_are_one_line_errors(case, tmp_path):
    paths = {"black": write(tmp_path / "black.png", np.zeros((8, 8), np.uint8)),
             "white-inverted": write(tmp_path / "white.png", np.full((8, 8), 255, np.uint8)),
             "unreadable": tmp_path / "broken.png"}
    paths["unreadable"].write_bytes(b"not a png")
    folder = tmp_path / "masks"
    folder.mkdir()
    for i in range(3):
        write(folder / f"m{i}.png", disc(8, 8, 3))
    text = str(folder if case == "short-folder" else paths[case])
    cfg = presets.load("default", {"mask": {"mask": text, "invert": case == "white-inverted"}, "output": {"paths": ["x.png"]}})
    with pytest.raises(DreamreelError) as e:
        masks = mask.Masks.of(cfg)
        masks.attach([], count=5)
    said = {"black": "black everywhere", "white-inverted": "black everywhere", "unreadable": "not an image",
            "short-folder": "has 3 mask frame(s) for 5 frames"}[case]
    assert said in str(e.value) and "\n" not in str(e.value)


# --- the still target (tiny): outside the feather unchanged, inside as strong as without a mask ---


def test_a_disc_mask_keeps_the_outside_and_dreams_the_inside_as_strongly(tmp_path, one_thread):
    image = fit(read_image(SAMPLE), 96)
    h, w = image.shape[:2]
    src = write(tmp_path / "in.png", image)
    m = write(tmp_path / "disc.png", disc(h, w, 20))

    def dreamed(name: str, **over) -> np.ndarray:
        out = tmp_path / f"{name}.png"
        render(presets.load("default", {"source": {"input": str(src)}, "dream": {"octaves": 2, "steps": 6},
                                        "threads": one_thread, "output": {"paths": [str(out)]}, **over}), quiet=True)
        return read_rgb(out)

    plain, masked = dreamed("plain"), dreamed("masked", mask={"mask": str(m), "feather": 4})
    r, d0, d1 = radius(h, w), change(plain, image), change(masked, image)
    assert d1[r > 20 + 4 + 1].mean() <= 1.5  # outside past the feather: kept
    inside = r < 20 - 4
    assert d1[inside].mean() >= 0.8 * d0[inside].mean()  # inside: at least 0.8x the unmasked dream


def test_a_mask_expression_and_a_zoom_keep_their_black_in_every_frame(tmp_path, one_thread):
    out = tmp_path / "z"
    render(presets.load("zoom", {"source": {"size": 48, "frames": 3}, "motion": {"zoom": 1.0},
                                 "dream": {"octaves": 1, "steps": 2}, "threads": one_thread, "post": {"drift": 0.0},
                                 "mask": {"mask": "x > 0.5", "feather": 2}, "output": {"paths": [f"{out}/"]}}), quiet=True)
    frames = [read_rgb(p) for p in sorted(out.glob("*.png"))]
    assert len(frames) == 3
    for f in frames:
        assert change(f, frames[0])[:, :20].max() == 0  # the kept half never moves
    assert change(frames[-1], frames[0])[:, 28:].mean() > 1  # the other half dreams on


# --- regions: one ascent, each mask its own objective -----------------------------------------


def test_regions_dream_each_their_objective_at_a_similar_strength(tmp_path, one_thread):
    image = fit(read_image(SAMPLE), 96)
    src = write(tmp_path / "in.png", image)
    out = tmp_path / "r.png"
    render(presets.load("default", {
        "source": {"input": str(src)}, "dream": {"octaves": 1, "steps": 6, "objective": 'layer("blocks.10")'},
        "threads": one_thread, "output": {"paths": [str(out)]},
        "regions": [{"mask": "x < 0.5", "objective": 'layer("blocks.2")', "feather": 2}]}), quiet=True)
    d = change(read_rgb(out), image)
    left, right = d[:, :40].mean(), d[:, -40:].mean()
    assert min(left, right) > 0.5 * max(left, right) > 1  # each region normalised by its own gradient


def test_a_region_with_strength_zero_keeps_its_pixels(tmp_path, one_thread):
    image = fit(read_image(SAMPLE), 64)
    src = write(tmp_path / "in.png", image)
    out = tmp_path / "r.png"
    render(presets.load("default", {
        "source": {"input": str(src)}, "dream": {"octaves": 1, "steps": 3}, "threads": one_thread, "output": {"paths": [str(out)]},
        "regions": [{"mask": "y < 0.5", "objective": 'layer("blocks.4")', "strength": 0.0, "feather": 0}]}), quiet=True)
    d = change(read_rgb(out), image)
    assert d[: image.shape[0] // 2 - 2].max() == 0 and d[image.shape[0] // 2 + 2:].mean() > 1


# --- video: the first frame's mask carried by the flow ----------------------------------------


def frames_folder(folder: Path, clip: list[np.ndarray]) -> Path:
    folder.mkdir()
    for i, f in enumerate(clip):
        write(folder / f"{i:03d}.png", f)
    return folder


@pytest.fixture(scope="module")
def moving(tmp_path_factory) -> tuple[Path, Path, list[np.ndarray], list[np.ndarray]]:
    """A textured square moving 70 px over the photo (128x96, 10 frames) and its first-frame mask."""
    d = tmp_path_factory.mktemp("moving")
    clip, masks = clips.moving(10, 128, 96, travel=70)
    return frames_folder(d / "in", clip), write(d / "mask.png", masks[0]), clip, masks


def video_cfg(src: Path, m: str, out: Path, **over):
    return presets.load("video", {"source": {"input": str(src)}, "threads": 1, "mask": {"mask": m, "feather": 4},
                                  "output": {"paths": [f"{out}/"]}, **over})


def test_a_video_carries_its_first_mask_with_the_moving_object(moving, tmp_path):
    src, m, clip, masks = moving
    out = tmp_path / "out"
    render(video_cfg(src, str(m), out), quiet=True)
    last = read_rgb(sorted(out.glob("*.png"))[-1])
    d = change(last, clip[-1])
    inside = cv2.erode(masks[-1], np.ones((9, 9), np.uint8)) > 0
    path = cv2.dilate(np.maximum.reduce(masks), np.ones((21, 21), np.uint8)) > 0
    assert d[inside].mean() >= 8  # the object is dreamed where it went
    assert d[~path].mean() <= 2  # the background away from its path is kept


def test_an_interrupted_masked_video_resumes_to_the_same_frames(moving, tmp_path, monkeypatch):
    src, m, _, _ = moving
    fast = {"dream": {"octaves": 1, "steps": 2}}
    render(video_cfg(src, str(m), tmp_path / "ref", **fast), quiet=True)
    interrupted(monkeypatch, ShotDreamer, 6, lambda: render(video_cfg(src, str(m), tmp_path / "run", **fast), quiet=True))
    render(video_cfg(src, str(m), tmp_path / "run", **fast), quiet=True, resume=True)
    ref, run = (sorted((tmp_path / d).glob("*.png")) for d in ("ref", "run"))
    assert len(run) == 10 and all(np.array_equal(read_rgb(a), read_rgb(b)) for a, b in zip(ref, run, strict=True))
    assert not [t for t in threading.enumerate() if t.name == "dreamreel-decode"]


def test_a_mask_folder_gives_each_frame_its_own(moving, tmp_path):
    src, _, clip, masks = moving
    folder = frames_folder(tmp_path / "masks", [np.stack([m] * 3, -1) for m in masks])
    cfg = video_cfg(src, str(folder), tmp_path / "o")
    got = [f.masks[..., 0] for f in mask.attached(cfg, [Frame(i, c, c) for i, c in enumerate(clip)], len(clip))]
    assert all(np.array_equal(g, m) for g, m in zip(got, masks, strict=True))


def test_a_scene_cut_keeps_the_last_mask():
    a, b = make_image(48, 0), make_image(48, 1)[::-1, :, ::-1].copy()
    last = np.zeros((48, 48, 1), np.uint8)
    last[10:20, 10:20] = 255
    first = np.full((48, 48, 1), 255, np.uint8)  # what the image gave frame 0
    frame = Frame(5, b, b, Carry(a, a, masks=last), masks=first)
    after = SceneCut(1.0)(mask.Held((0,))(frame))
    assert after.carry is None and np.array_equal(after.masks, last)


def test_fill_gives_uncovered_pixels_the_mask_of_what_they_look_like():
    clip, masks = clips.moving(8, 96, 72, travel=28)
    from pipeline import steady

    for t in range(1, 8):
        r = steady.carried(clip[t], [(clip[t - 1], clip[t - 1])], masks=masks[t - 1][..., None])
        got = mask.fill(r.masks, r.covered, clip[t])[..., 0].astype(np.float32)
        uncovered = (masks[t - 1] > 0) & (masks[t] == 0)
        assert got[uncovered].mean() < 40  # the background the square left is background
        assert got[masks[t] > 0].mean() > 230  # the square, moved, is the square


# --- the command line, guards, engines --------------------------------------------------------


def test_cli_mask_flags_and_one_line_errors(tmp_path):
    src = write(tmp_path / "in.png", make_image(48))
    out = tmp_path / "o.png"
    ok = runner.invoke(app, ["dream", str(src), "-o", str(out), "--mask", "x > 0.5", "--invert-mask", "--feather", "0",
                             "--octaves", "1", "--steps", "2", "--threads", "1", "--quiet"])
    assert ok.exit_code == 0, ok.output
    d = change(read_rgb(out), make_image(48))
    assert d[:, 26:].max() == 0 and d[:, :22].mean() > 0.5  # inverted: the right half kept
    for args, said in [(["--mask", str(tmp_path / "nope.png")], "neither a file nor a picture expression"),
                       (["--invert-mask"], "mask.mask is missing"),
                       (["--mask", str(src)], "is the input")]:
        target = src if said == "is the input" else out
        r = runner.invoke(app, ["dream", str(src), "-o", str(target), *args, "--quiet"])
        assert r.exit_code == 2 and said in r.output and r.output.count("\n") == 1, r.output


def test_an_output_that_is_the_mask_is_refused(tmp_path):
    src = write(tmp_path / "in.png", make_image(48))
    m = write(tmp_path / "m.png", disc(48, 48, 10))
    cfg = presets.load("default", {"source": {"input": str(src)}, "mask": {"mask": str(m)}, "output": {"paths": [str(m)]}})
    with pytest.raises(DreamreelError, match="is the input"):
        render(cfg, quiet=True)
    assert read_rgb(m).max() == 255


def test_chunked_renders_refuse_masks_for_now(moving, tmp_path):
    from pipeline import scaleout

    src, m, _, _ = moving
    with pytest.raises(DreamreelError, match="chunked renders take no"):
        scaleout.render(video_cfg(src, str(m), tmp_path / "c"), "serial", quiet=True)


# --- masks with loops ------------------------------------------------------------------------


def test_a_looping_zoom_keeps_its_mask_through_the_lead_and_the_wrap(tmp_path, one_thread):
    out = tmp_path / "z"
    render(presets.load("zoom", {"source": {"size": 48, "frames": 6}, "motion": {"zoom": 1.0}, "loop": True,
                                 "dream": {"octaves": 1, "steps": 2}, "threads": one_thread, "post": {"drift": 0.0},
                                 "mask": {"mask": "x > 0.5", "feather": 2}, "output": {"paths": [f"{out}/"]}}), quiet=True)
    frames = [read_rgb(p) for p in sorted(out.glob("*.png"))]
    start = frames[0]
    assert len(frames) == 6  # the lead is dreamed, never written
    for f in frames:
        assert change(f, start)[:, :20].max() == 0  # the kept half never moves, the lead's frames included
    assert change(start, fit(read_image(SAMPLE), 48))[:, 28:].mean() > 1  # the other half dreamed (in the lead too)


def test_a_looping_video_with_a_first_frame_mask_is_refused_in_one_line(moving, tmp_path):
    src, m, _, _ = moving
    r = runner.invoke(app, ["video", str(src), "-o", str(tmp_path / "o.mp4"), "--mask", str(m), "--loop", "--quiet"])
    assert r.exit_code == 2 and "a loop starts its chain before it" in r.output and r.output.count("\n") == 1, r.output
    assert not list(tmp_path.glob("o*"))
