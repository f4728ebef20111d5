"""Loops (`pipeline.loop`): the lead, the closing blend, the strength it keeps, the clip survey, and a
zoom rendered with --loop (48-64 px, 16 frames, one thread): its wrap, its GIF, its resume."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks import clips
from cli import app
from pipeline import loop, metrics, presets, signals
from pipeline.chain import keep_last
from pipeline.errors import DreamreelError
from pipeline.frames import Carry, Frame
from pipeline.loop import Close, Keep, Lap, Loop, Survey, blend, motion_note
from pipeline.media import probe
from pipeline.motion import zoom_matrix
from pipeline.renderer import render
from pipeline.schedule import Schedule, uses_time
from pipeline.signals import Signals
from pipeline.sources import open_frames
from tests.conftest import interrupted, make_image, read_rgb

FRAMES, ZOOM = 16, 1.03


def texture(seed: int, size: int = 64) -> np.ndarray:
    """Busy colour noise at several scales: two of them are unrelated dreams as far as a blend can tell."""
    rng = np.random.default_rng(seed)
    layers = [cv2.resize(rng.uniform(0, 255, (size // k, size // k, 3)).astype(np.float32), (size, size),
                         interpolation=cv2.INTER_CUBIC) for k in (1, 2, 4, 8)]
    return np.clip(sum(layers) / len(layers), 0, 255).astype(np.uint8)


# --- the pieces, without a net ------------------------------------------------------------


def test_a_loop_closes_on_a_quarter_of_its_frames_and_refuses_a_tiny_one():
    assert (Loop.of(48).closing, Loop.of(48).lead) == (12, 12)
    assert Loop.of(8).closing == 2 and Loop.of(400).closing == loop.CLOSING[1]
    assert Loop.video(36).lead == 36 and Loop.video(300).lead == loop.VIDEO_LEAD
    with pytest.raises(DreamreelError, match="at least 4 frames"):
        Loop.of(3)
    assert loop.OFF.stages([keep_last]) == [keep_last] and loop.OFF.carry_of(keep_last) is keep_last


def test_the_carry_keeps_the_last_lead_frames_and_the_closing_ends_on_the_last():
    lp = Loop.of(8)  # closing 2, lead 2
    keep, close = lp.carry_of(keep_last), Close(lp)
    carry = None
    for i in range(-3, 8):  # one lead frame more than is kept
        image = np.full((4, 4, 3), 10 * (i + 3), np.uint8)
        frame = close(Frame(i, image, image, carry))
        if i == 6:
            assert np.array_equal(frame.image, np.full((4, 4, 3), 50, np.uint8))  # halfway from 90 to lead frame -2's 10
        if i == 7:
            assert np.array_equal(frame.image, np.full((4, 4, 3), 20, np.uint8))  # the last frame *is* frame -1
        if 0 <= i < 6:
            assert frame.image is image  # before the closing, frames pass untouched
        carry = keep(frame)
        if i < -2 or i >= -1:
            assert carry.lead is None if i < -2 else [int(f[0, 0, 0]) for f in carry.lead] == [10, 20]


def test_without_its_lead_the_closing_leaves_the_frame_alone():
    image = make_image(16)
    cut = Frame(7, image, image, carry=None)  # a scene cut dropped the carry, and the lead with it
    assert Close(Loop.of(8))(cut) is cut
    assert Close(Loop.of(8))(Frame(7, image, image, Carry(image, image))).image is image


def test_the_blend_keeps_each_band_s_detail_where_a_plain_mix_sags():
    a, b = texture(1), texture(2)
    plain = np.clip(0.5 * a.astype(np.float32) + 0.5 * b + 0.5, 0, 255).astype(np.uint8)
    both = (metrics.detail(a) + metrics.detail(b)) / 2
    assert metrics.detail(plain) < 0.6 * both  # two unrelated dreams mixed half and half lose their fine detail
    assert 0.9 * both < metrics.detail(blend(a, b, 0.5)) < 1.1 * both
    assert np.array_equal(blend(a, b, 1.0), b)
    assert np.abs(blend(a, a, 0.3).astype(int) - a).max() <= 1  # what both sides share is not brightened


def test_a_video_blends_the_residuals_over_the_shared_input():
    source = make_image(64)
    a, b = (np.clip(source.astype(np.int16) + texture(s).astype(np.int16) // 4 - 32, 0, 255).astype(np.uint8) for s in (3, 4))
    mixed = blend(a, b, 0.5, source)
    strength = (metrics.dream_strength(a, source) + metrics.dream_strength(b, source)) / 2
    assert 0.85 * strength < metrics.dream_strength(mixed, source) < 1.15 * strength


def test_a_lap_runs_the_clip_s_end_before_its_start():
    clip = [Frame(i, np.full((2, 2, 3), i, np.uint8), np.full((2, 2, 3), i, np.uint8)) for i in range(5)]
    read = lambda k: iter(clip[k:])  # noqa: E731 - frames from k on, numbered from k
    lap = Lap(read, 5, 3)
    assert [(f.index, int(f.source[0, 0, 0])) for f in lap] == [(-3, 2), (-2, 3), (-1, 4), (0, 0), (1, 1), (2, 2), (3, 3), (4, 4)]
    assert [int(f.source[0, 0, 0]) for f in Lap(read, 5, 7)][:7] == [3, 4, 0, 1, 2, 3, 4]  # longer than the clip: round twice
    assert [f.index for f in lap.iter_from(2)] == [2, 3, 4]  # resume skips the lead
    with pytest.raises(DreamreelError, match="ended before"):
        list(Lap(lambda k: iter(clip[k:3]), 5, 3))  # a clip shorter than counted is named, never a hang


def test_the_survey_counts_a_clip_and_tells_a_loop_from_a_pan():
    circling = Survey.of(Frame(i, f, f) for i, f in enumerate(clips.circle(16, 64, 48)))
    assert circling.frames == 16 and circling.loops and circling.note("c.mp4") is None
    pan = Survey.of(Frame(i, f, f) for i, f in enumerate(clips.CLIPS["pan"](8, 64, 48)))
    assert not pan.loops and "p.mp4 does not loop" in pan.note("p.mp4") and "\n" not in pan.note("p.mp4")


def test_schedules_that_end_where_they_start_loop_and_others_are_named():
    n = Signals.sample().lasting(24)
    parse = lambda text: Schedule.parse(text, signals=n)  # noqa: E731
    assert motion_note({"zoom": parse("1.03"), "angle": parse("2*sin(2*pi*t/N)")}, 24) is None
    line = motion_note({"zoom": parse("0:(1.02), 24:(1.05)")}, 24)
    assert "motion.zoom is 1.02 at frame 0 but 1.05 at frame N = 24" in line


def test_n_is_the_frame_count_in_schedules_and_objectives():
    assert Schedule.parse("t/N", signals=Signals.sample().lasting(40))(10) == 0.25
    assert Schedule.parse("N")(0) == signals.SAMPLE_N  # a recipe checked before its length is known reads a typical N
    presets.load("zoom", {"source": {"frames": 40}, "dream": {"objective": 'layer("blocks.4") * (1 + t/N)'}})
    assert uses_time('layer("blocks.4") * N / 100')  # re-read by the builder, which knows N
    assert not signals.audio_names(["N", "s"])  # the frame count needs no soundtrack


def test_loop_is_refused_on_a_still_in_one_line():
    with pytest.raises(DreamreelError, match="loop = true is for zoom and video"):
        presets.load("default", {"loop": True})


# --- a zoom rendered with --loop -----------------------------------------------------------


def zoom_args(out: Path, *extra: str) -> list[str]:
    return ["zoom", "-o", f"{out}/", "--frames", str(FRAMES), "--size", "64", "--zoom", str(ZOOM), "--threads", "1",
            "--quiet", *extra]


@pytest.fixture(scope="module")
def zooms(tmp_path_factory) -> dict[str, Path]:
    """The same zoom without and with --loop (PNG frames; the loop also as a GIF)."""
    root = tmp_path_factory.mktemp("zooms")
    runner = CliRunner()
    for name, extra in (("plain", ()), ("loop", ("--loop", "-o", str(root / "loop.gif")))):
        result = runner.invoke(app, zoom_args(root / name, *extra))
        assert result.exit_code == 0, result.output
    return {"plain": root / "plain", "loop": root / "loop", "gif": root / "loop.gif"}


def wrap_of(folder: Path) -> metrics.Wrap:
    frames = [f.source for f in open_frames(folder)]
    h, w = frames[0].shape[:2]
    return metrics.zoom_wrap(frames, lambda _t: zoom_matrix(w, h, ZOOM))


def test_a_looping_zoom_wraps_like_any_other_pair(zooms):
    plain, looped = wrap_of(zooms["plain"]), wrap_of(zooms["loop"])
    assert plain.ratio > 2.5  # the seam --loop is for: the last frame zoomed onto the first jumps
    assert looped.ratio <= 1.5 and looped.worst <= 2.0, looped.line()  # no jump at the wrap, none moved into the closing
    assert looped.least_detail >= 0.7, looped.line()  # the blend kept every frame's detail


def test_a_loop_gif_plays_round_with_each_frame_once(zooms):
    data = zooms["gif"].read_bytes()
    assert b"NETSCAPE2.0\x03\x01\x00\x00" in data  # the loop flag: repeat for ever
    assert probe(zooms["gif"]).frames == FRAMES  # no first frame repeated at the end
    gif = [f.source for f in open_frames(zooms["gif"])]
    pngs = [f.source for f in open_frames(zooms["loop"])]
    nearest = [int(np.argmin([np.abs(g.astype(int) - p).mean() for p in pngs])) for g in gif]
    assert nearest == list(range(FRAMES))


@pytest.mark.parametrize("at", [-2, FRAMES - 2])  # in the pre-roll (nothing kept yet), in the closing (the lead in the carry)
def test_an_interrupted_loop_resumes_bit_exact(zooms, tmp_path, monkeypatch, at):
    def cfg() -> object:
        return presets.load("zoom", {"loop": True, "threads": 1, "source": {"frames": FRAMES, "size": 64},
                                     "motion": {"zoom": ZOOM}, "output": {"paths": [f"{tmp_path / 'run'}/"]}})

    interrupted(monkeypatch, Close, at, lambda: render(cfg(), quiet=True))
    render(cfg(), quiet=True, resume=True)
    ref, run = (sorted(d.glob("*.png")) for d in (zooms["loop"], tmp_path / "run"))
    assert len(run) == FRAMES and all(np.array_equal(read_rgb(a), read_rgb(b)) for a, b in zip(ref, run, strict=True))
