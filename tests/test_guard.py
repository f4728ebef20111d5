"""Outputs that are inputs are refused before any work; a second render of one output stops at once."""

import json
import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import guard
from pipeline.errors import DreamreelError
from tests.conftest import make_image

runner = CliRunner()
TINY = ["--size", "48", "--octaves", "1", "--steps", "1", "--threads", "1", "--quiet"]


def one_line_exit_2(result) -> str:
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "Traceback" not in result.output, result.output
    return result.output


def test_dreaming_a_photo_onto_itself_is_refused_and_the_photo_kept(tiny_png):
    before = tiny_png.read_bytes()
    out = one_line_exit_2(runner.invoke(app, ["dream", str(tiny_png), "-o", str(tiny_png), *TINY]))
    assert "is the input" in out and "-o dream-tiny.png" in out
    assert tiny_png.read_bytes() == before and sorted(p.name for p in tiny_png.parent.iterdir()) == ["tiny.png"]


def test_a_video_onto_itself_and_a_frames_folder_given_as_both_are_refused(tmp_path):
    from benchmarks import clips
    clip = clips.write_mp4(tmp_path / "a.mp4", clips.CLIPS["pan"](3, 32, 32), fps=10)
    before = clip.read_bytes()
    assert "is the input" in one_line_exit_2(runner.invoke(app, ["video", str(clip), "-o", str(clip), *TINY]))
    assert clip.read_bytes() == before
    frames = tmp_path / "frames"
    frames.mkdir()
    (frames / "0.png").write_bytes(b"")  # never read: refused before any work
    for spelling in (f"{frames}/", str(frames), f"{tmp_path}/./frames/"):
        assert "is the input" in one_line_exit_2(runner.invoke(app, ["video", str(frames), "-o", spelling, *TINY]))
    assert [p.name for p in frames.iterdir()] == ["0.png"]


def test_a_second_render_to_one_output_stops_naming_the_first(tmp_path):
    """A real second process holds the lock; ours stops at once, naming its pid."""
    out = tmp_path / "z.mp4"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pipeline import guard\n"
                               f"with guard.locked([{str(out)!r}]):\n print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, cwd=os.getcwd())
    try:
        assert holder.stdout.readline().strip() == b"held"
        started = time.monotonic()
        out_line = one_line_exit_2(runner.invoke(app, ["zoom", "-o", str(out), "--frames", "2", *TINY]))
        assert f"pid {holder.pid}" in out_line and "being rendered by another dreamreel" in out_line
        assert time.monotonic() - started < 10 and not out.exists()
    finally:
        holder.kill()
        holder.wait()


def test_a_stale_lock_from_a_killed_render_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "still.png"
    guard.lock_path(out).write_text(json.dumps({"pid": dead.pid, "started": "yesterday"}))
    result = runner.invoke(app, ["dream", str(write_image(tmp_path)), "-o", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not guard.lock_path(out).exists()


def test_locks_are_released_on_errors_and_an_output_given_twice_is_refused(tmp_path):
    with pytest.raises(DreamreelError, match="given twice"):
        with guard.locked([tmp_path / "a.png", tmp_path / "a.png"]):
            pass
    with pytest.raises(RuntimeError):
        with guard.locked([tmp_path / "a.png", f"{tmp_path}/frames/"]):
            assert guard.lock_path(f"{tmp_path}/frames/").name == "frames.lock"
            raise RuntimeError
    assert not list(tmp_path.iterdir())


def write_image(folder):
    import cv2
    path = folder / "in.png"
    cv2.imwrite(str(path), make_image(48))
    return path
