"""Outputs that are inputs (or folders holding one) are refused before any work; a second render of
one output stops at once, and a lock its holder no longer holds (killed, a reused pid, garbage) is taken."""

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import guard, presets
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
        holder.send_signal(signal.SIGKILL)  # the kernel lets go of its lock with it: no stale lock is left
        holder.wait()
        with guard.locked([out]) as held:
            assert json.loads(held[0].read_text())["pid"] == os.getpid()
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("left", ["dead pid", "reused pid", "malformed", "empty"])
def test_a_lock_file_nobody_holds_is_taken_over(tmp_path, left):
    """A killed render's pid, a pid now someone else's (our parent: alive, as a pid from another
    container can be), garbage: only the held ``flock`` counts."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    text = {"dead pid": json.dumps({"pid": dead.pid, "started": "yesterday"}), "reused pid": json.dumps({"pid": os.getppid()}),
            "malformed": '{"pid": [1, 2', "empty": ""}[left]
    out = tmp_path / "still.png"
    guard.lock_path(out).write_text(text)
    result = runner.invoke(app, ["dream", str(write_image(tmp_path)), "-o", str(out), *TINY])
    assert result.exit_code == 0, result.output
    assert out.is_file() and not guard.lock_path(out).exists()


def test_renders_racing_for_one_output_over_a_stale_lock_never_hold_it_together(tmp_path):
    """Eight takers start at once, over and over, on a lock file left by a dead render: at every moment
    at most one holds the output, and each round someone does."""
    out = tmp_path / "z.mp4"
    guard.lock_path(out).write_text(json.dumps({"pid": 999_999_999}))
    inside, most, wins, refused = [0], [0], [0], [0]
    count = threading.Lock()
    start = threading.Barrier(8)

    def taker() -> None:
        for _ in range(40):
            start.wait()
            try:
                with guard.locked([out]):
                    with count:
                        inside[0] += 1
                        most[0], wins[0] = max(most[0], inside[0]), wins[0] + 1
                    time.sleep(0.001)
                    with count:
                        inside[0] -= 1
            except DreamreelError as e:
                assert "being rendered by another dreamreel" in str(e) or "keep taking it" in str(e), e
                with count:
                    refused[0] += 1

    threads = [threading.Thread(target=taker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1 and wins[0] >= 40 and wins[0] + refused[0] == 320
    assert not guard.lock_path(out).exists()


def test_every_file_a_recipe_reads_is_an_input_that_no_output_may_replace(tmp_path):
    """The one walk (`guard.inputs`): the input, weights, music, stems, guide and style images and
    ``LAYER@IMAGE``; each given as an output, or left in a folder the render fills, is refused."""
    files = {name: tmp_path / name for name in ("in.png", "w.pt", "song.wav", "drums.wav", "ref.png", "style.png", "at.png")}
    for path in files.values():
        path.write_bytes(b"x")
    cfg = presets.load("default", {
        "source": {"input": str(files["in.png"])}, "dream": {"weights": str(files["w.pt"]), "objective":
            f'guide({str(files["ref.png"])!r}, "blocks.5") + style({str(files["style.png"])!r}, "blocks.2", {{"stem": 1}})'
            f' + layer("blocks.4@{files["at.png"]}")'},
        "audio": {"file": str(files["song.wav"]), "stems": {"drums": str(files["drums.wav"])}}})
    assert sorted(map(os.path.realpath, guard.inputs(cfg))) == sorted(map(os.path.realpath, files.values()))
    for path in files.values():
        spelled = f"{path.parent}/./{path.name}"
        for outputs in ([spelled], [str(tmp_path / "ok.png"), spelled]):
            with pytest.raises(DreamreelError, match="is the input"):
                guard.check_not_input(outputs, guard.inputs(cfg))
        with pytest.raises(DreamreelError, match="which holds the input"):  # a frames folder the render fills
            guard.check_not_input([str(tmp_path / "ok.png"), f"{tmp_path}/"], [path])
    parked = tmp_path / "z.mp4.parts" / "start.png"  # OUT.parts/, which a fresh render empties
    parked.parent.mkdir()
    parked.write_bytes(b"x")
    with pytest.raises(DreamreelError, match="which holds the input"):
        guard.check_not_input([str(tmp_path / "z.mp4")], [parked])
    guard.check_not_input([str(tmp_path / "out") + "/", str(tmp_path / "ok.png")], guard.inputs(cfg))  # a new folder is fine


def test_a_guide_image_and_a_zoom_start_inside_its_frames_folder_are_kept(tmp_path):
    """As reported: ``-o ref.png`` with ref.png the guide; a zoom writing the folder its start image is in."""
    ref = write_image(tmp_path)
    before = ref.read_bytes()
    out = one_line_exit_2(runner.invoke(app, ["dream", str(ref), "-o", str(ref), "--objective",
                                              f'guide({str(ref)!r}, "blocks.5")', *TINY]))
    assert "is the input" in out
    guide = tmp_path / "guide.png"
    guide.write_bytes(before)
    out = one_line_exit_2(runner.invoke(app, ["dream", str(ref), "-o", str(guide), "--guide", str(guide), *TINY]))
    assert "is the input" in out and guide.read_bytes() == before
    frames = tmp_path / "frames"
    frames.mkdir()
    start = frames / "000000.png"
    start.write_bytes(before)
    out = one_line_exit_2(runner.invoke(app, ["zoom", str(start), "-o", f"{frames}/", "--frames", "2", *TINY]))
    assert "holds the input" in out and start.read_bytes() == before and [p.name for p in frames.iterdir()] == ["000000.png"]


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
