"""`dreamreel video` and `dreamreel quality` end to end on tiny generated clips (64x48, 1 octave, few steps)."""

import json
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks import clips
from cli import app
from pipeline import metrics, presets
from pipeline.dream import ShotDreamer
from pipeline.renderer import render
from pipeline.sinks import probe
from pipeline.sources import VideoSource
from tests.conftest import interrupted, lavfi, read_rgb

runner = CliRunner()
FAST = ["--octaves", "1", "--steps", "3", "--seed", "1", "--quiet", "--threads", "2"]


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    return {"pan": clips.write_mp4(d / "pan.mp4", clips.CLIPS["pan"](8, 64, 48), fps=12, audio=True),
            "cut": clips.write_mp4(d / "cut.mp4", clips.cut(8, 64, 48, at=4), fps=10)}


def video(*args) -> object:
    result = runner.invoke(app, ["video", *map(str, args), *FAST])
    assert result.exit_code == 0, result.output
    return result


def test_keeps_frame_count_fps_and_audio_and_dreams(media, tmp_path):
    out = tmp_path / "out.mp4"
    video(media["pan"], "-o", out, "-o", f"{tmp_path}/frames/")
    info = probe(out)
    assert (info.frames, info.has_audio, info.codec) == (8, True, "h264")
    assert VideoSource.open(out).fps == 12
    q = metrics.measure(media["pan"], out)
    assert q.frames == 8 and q.strength > 3
    assert len(list((tmp_path / "frames").glob("*.png"))) == 8 and not list(tmp_path.glob(".*partial*"))


def test_a_part_of_a_video_and_a_folder_of_frames(media, tmp_path):
    video(media["pan"], "-o", tmp_path / "part.mp4", "-o", f"{tmp_path}/part/", "--start", "0.25", "--max-frames", "3")
    assert (probe(tmp_path / "part.mp4").frames, probe(tmp_path / "part.mp4").has_audio) == (3, True)
    sources = [f.image.astype(int) for f in VideoSource.open(media["pan"])]
    nearest = [int(np.argmin([np.abs(read_rgb(p) - s).mean() for s in sources])) for p in sorted((tmp_path / "part").glob("*.png"))]
    assert nearest == [3, 4, 5]  # 0.25 s at 12 fps: each dream lies over its own frame (9 grey levels off, 26 from the next)
    folder = tmp_path / "in"
    folder.mkdir()
    for i, f in enumerate(clips.CLIPS["zoom"](3, 64, 48)):
        cv2.imwrite(str(folder / f"frame{i}.png"), cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    video(folder, "-o", tmp_path / "folder.mp4")
    assert probe(tmp_path / "folder.mp4").frames == 3 and not probe(tmp_path / "folder.mp4").has_audio


def test_a_cut_restarts_the_dream(media, tmp_path, monkeypatch):
    cold = []
    original = ShotDreamer.__call__
    monkeypatch.setattr(ShotDreamer, "__call__", lambda self, f: cold.append(f.carry is None) or original(self, f))
    video(media["cut"], "-o", tmp_path / "cut.mp4")
    assert [i for i, c in enumerate(cold) if c] == [0, 4]


def test_stable_far_below_independent_at_a_similar_strength(tmp_path):
    clip = clips.write_mp4(tmp_path / "pan.mp4", clips.CLIPS["pan"](8, 64, 48), fps=12)
    video(clip, "-o", tmp_path / "steady.mp4")
    video(clip, "-o", tmp_path / "ind.mp4", "--independent")
    steady, ind = metrics.measure(clip, tmp_path / "steady.mp4"), metrics.measure(clip, tmp_path / "ind.mp4")
    excess = (steady.e_out - steady.e_in) / (ind.e_out - ind.e_in)
    assert excess < 0.35 and steady.strength > 0.7 * ind.strength, (excess, steady, ind)


@pytest.mark.parametrize("dream_size", [None, 32])  # 32: the earlier frames kept smaller, upsampled when used
def test_an_interrupted_video_resumes_to_the_same_frames(media, tmp_path, monkeypatch, dream_size):
    def cfg(folder: str):
        return presets.load("video", {"source": {"input": str(media["pan"])}, "threads": 2,
                                      "dream": {"octaves": 1, "steps": 2, "dream_size": dream_size},
                                      "output": {"paths": [str(tmp_path / folder) + "/"]}})

    render(cfg("ref"), quiet=True)
    interrupted(monkeypatch, ShotDreamer, 5, lambda: render(cfg("run"), quiet=True))
    assert not (tmp_path / "run").exists()
    assert not [t for t in threading.enumerate() if t.name == "dreamreel-decode"]  # the decoder was stopped
    render(cfg("run"), quiet=True, resume=True)
    ref, run = (sorted((tmp_path / d).glob("*.png")) for d in ("ref", "run"))
    assert len(run) == 8 and all(np.array_equal(read_rgb(a), read_rgb(b)) for a, b in zip(ref, run, strict=True))


def test_quality_prints_a_table_and_json(media, tmp_path):
    result = runner.invoke(app, ["quality", str(media["pan"]), str(media["pan"]), "--json"])
    assert result.exit_code == 0, result.output
    q = json.loads(result.stdout)
    assert q["frames"] == 8 and q["dream_strength"] == 0 and q["warp_error"] == q["warp_error_input"]
    result = runner.invoke(app, ["quality", str(media["pan"]), str(media["pan"])])
    assert "warping error (input)" in result.stdout
    result = runner.invoke(app, ["quality", str(media["pan"]), str(media["pan"]), "--max-frames", "3"])
    assert result.exit_code == 2 and "more frames" in result.stderr


def bad_inputs(tmp_path: Path) -> dict[str, Path]:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for i, s in enumerate([32, 32, 40]):
        cv2.imwrite(str(mixed / f"{i}.png"), np.zeros((s, s, 3), np.uint8))
    audio_only = clips.sine_wav(tmp_path / "tone.wav", 0.5)
    return {"empty": empty, "corrupt": corrupt, "mixed sizes": mixed, "no video stream": audio_only}


@pytest.mark.parametrize("case", ["empty", "corrupt", "mixed sizes", "no video stream"])
def test_bad_input_is_one_line_exit_2_and_leaves_nothing(case, tmp_path):
    out = tmp_path / "out" / "o.mp4"
    result = runner.invoke(app, ["video", str(bad_inputs(tmp_path)[case]), "-o", str(out), *FAST])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:") and "Traceback" not in result.output
    assert not out.exists() and not list(out.parent.glob("*")) if out.parent.exists() else True


# --- real-camera and odd inputs, each generated here: read, rendered, frame count and audio kept ---

ODD = {  # name: (how lavfi makes it, extra flags) -> expected (width, height, frames; a float: its last frame's time)
    "rotation metadata": (dict(video="testsrc=size=64x48:rate=10:d=0.4", then=("-display_rotation", "90")), ["--size", "32"],
                          (24, 32, 4)),
    "variable frame rate": (dict(video="testsrc=size=64x48:rate=10:d=1,setpts='N*N*0.02/TB'",
                                 vargs=("-fps_mode", "vfr", "-pix_fmt", "yuv420p")), [], (64, 48, 1.62)),
    "10-bit": (dict(video="testsrc=size=64x48:rate=10:d=0.4", vargs=("-pix_fmt", "yuv420p10le")), [], (64, 48, 4)),
    "odd size": (dict(video="testsrc=size=63x47:rate=10:d=0.4", vargs=("-pix_fmt", "yuv444p")), [], (62, 46, 4)),
    "one frame": (dict(video="testsrc=size=64x48:rate=10:d=0.1"), [], (64, 48, 1)),
    "audio first, longer": (dict(video="testsrc=size=64x48:rate=10:d=0.4", audio="sine=d=5,adelay=67:all=1",
                                 audio_first=True, acodec="libmp3lame"), [], (64, 48, 4)),
    "audio shorter": (dict(video="testsrc=size=64x48:rate=10:d=0.4", audio="sine=d=0.1"), [], (64, 48, 4)),
}


@pytest.mark.parametrize("case", ODD)
def test_odd_and_real_camera_videos_render(case, tmp_path):
    made, flags, (w, h, n) = ODD[case]
    clip = lavfi(tmp_path / "in clip é.mp4", **made)  # a space and a non-ASCII letter in the path too
    out = tmp_path / "out put ü.mp4"
    video(clip, "-o", out, "--steps", "1", *flags)
    info, source = probe(out), VideoSource.open(clip)
    assert (info.size[0], info.size[1], info.has_audio) == (w, h, "audio" in made)
    if isinstance(n, float):  # read at one constant rate: the last frame still shows, at its time
        assert n < info.seconds <= n + 2 / source.fps
    else:
        assert info.frames == n and abs(info.seconds - n / source.fps) < 0.06


# --- --loop: a clip whose end flows into its start ------------------------------------------


def test_a_looping_clip_plays_round_with_as_many_frames(tmp_path, one_thread):
    """A window circling once round the photo: without --loop the dream comes nearly round by itself (the
    shot's key, followed back along the circle, is taken again: the wrap 1.6x the median pair's excess
    warping error; ~14x when each frame was carried from the last alone); with it the wrap is one more pair."""
    clip = clips.write_mp4(tmp_path / "circle.mp4", clips.circle(24, 80, 60), fps=12)
    sources = [f.source for f in VideoSource.open(clip)]
    wraps = {}
    for name, extra in (("plain", ()), ("loop", ("--loop",))):
        result = runner.invoke(app, ["video", str(clip), "-o", f"{tmp_path / name}/", "--octaves", "1", "--steps", "3",
                                     "--quiet", "--threads", "1", *extra])
        assert result.exit_code == 0 and "note" not in result.output, result.output
        outputs = [read_rgb(p) for p in sorted((tmp_path / name).glob("*.png"))]
        assert len(outputs) == 24
        wraps[name] = metrics.video_wrap(sources, outputs)
    assert wraps["loop"].ratio <= 1.5 and wraps["loop"].ratio < wraps["plain"].ratio, (wraps["plain"].line(), wraps["loop"].line())
    assert wraps["loop"].least_detail > 0.8  # the closing blend kept the dream


def test_a_clip_that_does_not_loop_gets_a_note_and_its_frames(media, tmp_path, one_thread):
    result = runner.invoke(app, ["video", str(media["pan"]), "-o", tmp_path / "out.gif", "--loop", "--octaves", "1",
                                 "--steps", "1", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if "note" in line]
    assert len(notes) == 1 and "pan.mp4 does not loop" in notes[0] and "wrap will show" in notes[0]
    assert probe(tmp_path / "out.gif").frames == 8
