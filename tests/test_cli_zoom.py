"""`dreamreel zoom` end to end: every output format, zoom geometry, SIGKILL + --resume, errors."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline.guard import parts_dir
from pipeline.sinks import probe
from tests.conftest import read_rgb

runner = CliRunner()
# the issue's command, plus one thread (tiny frames run far faster on one) and no bars
MUST = ["--frames", "12", "--size", "96", "--steps", "2", "--octaves", "1", "--seed", "3", "--threads", "1", "--quiet"]
FAST = ["--frames", "12", "--size", "48", "--steps", "1", "--octaves", "1", "--seed", "3", "--threads", "1", "--quiet"]


def zoom(*args) -> "object":
    return runner.invoke(app, ["zoom", *map(str, args)])


def frames_in(folder: Path) -> list[np.ndarray]:
    return [read_rgb(p) for p in sorted(folder.glob("*.png"))]


def gif_frames(path: Path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_the_issue_command_gives_mp4_gif_and_png_frames(tmp_path):
    mp4, gif, folder = tmp_path / "z.mp4", tmp_path / "z.gif", tmp_path / "zf"
    result = zoom("-o", mp4, "-o", gif, "-o", f"{folder}/", "--contact-sheet", tmp_path / "sheet.png", *MUST)
    assert result.exit_code == 0, result.output
    info = probe(mp4)
    assert (info.codec, info.pix_fmt, info.frames) == ("h264", "yuv420p", 12)
    assert gif_frames(gif) == 12 and b"NETSCAPE2.0" in gif.read_bytes()
    frames = frames_in(folder)
    assert len(frames) == 12 and frames[0].shape == (64, 96, 3)  # the sample cat, 96 px wide
    assert read_rgb(tmp_path / "sheet.png").shape[0] > 64
    for a, b in zip(frames, frames[1:]):
        assert np.abs(a.astype(int) - b).mean() > 1.0  # consecutive frames differ
    assert not list(tmp_path.glob(".*partial*")) and not list(tmp_path.glob("*.parts"))


def centre_error(a: np.ndarray, b: np.ndarray, k: float) -> float:
    """How far b is from a's centre enlarged by k (mean abs difference over b's inner part)."""
    h, w = a.shape[:2]
    m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 0, k)
    big = cv2.warpAffine(a, m, (w, h), flags=cv2.INTER_CUBIC).astype(int)
    return float(np.abs(big - b)[h // 4:-h // 4, w // 4:-w // 4].mean())


def test_each_frame_is_the_last_one_zoomed_in(tmp_path):
    result = zoom("-o", f"{tmp_path}/f/", "--zoom", "1.1", *FAST)
    assert result.exit_code == 0, result.output
    frames = frames_in(tmp_path / "f")
    for a, b in zip(frames, frames[1:]):
        zoomed, still, other = centre_error(a, b, 1.1), centre_error(a, b, 1.0), centre_error(a, b, 1 / 1.1)
        assert zoomed < still and zoomed < other


def test_noise_start_is_seeded(tmp_path):
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        assert zoom("-o", f"{tmp_path}/{name}/", "--start", "noise", *FAST[:-5], "--seed", seed, "--quiet",
                    "--threads", "1", "--frames", "2").exit_code == 0
    a, b, c = (frames_in(tmp_path / n)[0] for n in "abc")
    assert np.array_equal(a, b) and not np.array_equal(a, c) and a.shape == (48, 48, 3)


def test_animate_steps_writes_one_gif_frame_per_step(tiny_png, tmp_path):
    result = runner.invoke(app, ["dream", str(tiny_png), "-o", str(tmp_path / "o.png"), "--animate-steps",
                                 str(tmp_path / "steps.gif"), "--octaves", "2", "--steps", "3", "--threads", "1", "--quiet"])
    assert result.exit_code == 0, result.output
    assert gif_frames(tmp_path / "steps.gif") == 6 and (tmp_path / "o.png").exists()


@pytest.mark.parametrize("case", ["malformed schedule", "unknown extension", "unwritable output", "bad start", "fails at frame 0",
                                  "zoom out of range"])
def test_bad_zoom_input_is_one_line_exit_2_and_leaves_nothing(case, tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    out = tmp_path / "out" / "z.mp4"
    args = {
        "malformed schedule": ["-o", out, "--zoom", "0:(1.02), 60(1.05)"],
        "unknown extension": ["-o", tmp_path / "out" / "z.avi"],
        "unwritable output": ["-o", blocker / "z.mp4"],
        "bad start": ["-o", out, "--start", "plasma"],
        "zoom out of range": ["-o", out, "--zoom", "0:(1.02), 8:(9)"],  # checked on every frame before work
        "fails at frame 0": ["-o", out, "--objective", 'channel("blocks.5", 999)'],  # after the parts folder is made
    }[case]
    result = zoom(*args, *FAST)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dreamreel: error:"), result.stderr
    assert not out.exists() and not list(tmp_path.rglob(".*partial*")) and not list(tmp_path.rglob("*.parts"))


# --- interrupted renders in a real subprocess ------------------------------------------------

KILL_ARGS = ["--frames", "12", "--size", "64", "--steps", "2", "--octaves", "1", "--seed", "5", "--threads", "1", "--quiet"]


def spawn(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "-c", "import cli; cli.run()", "zoom", "-o", str(tmp_path / f"{name}.mp4"),
           "-o", f"{tmp_path / name}/", *KILL_ARGS, *extra]
    # SIGINT back to its default: a suite started as a background job of a shell ignores it, the child
    # inherits that, and Python then never turns Ctrl-C into KeyboardInterrupt
    return subprocess.Popen(cmd, cwd=Path(__file__).resolve().parent.parent, stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def ffmpeg_writing(tmp_path: Path) -> list[str]:
    """ffmpeg processes (anyone's children) writing under tmp_path."""
    out = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True).stdout
    return [ln for ln in out.splitlines() if "ffmpeg" in ln and str(tmp_path) in ln]


def wait_for_frames(proc: subprocess.Popen, parts: Path, final: Path, n: int) -> None:
    deadline = time.monotonic() + 120
    while len(list(parts.glob("0*.png"))) < n:
        assert proc.poll() is None, proc.stderr.read().decode()
        assert not final.exists(), "a partial video sat under the final name"
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_sigkill_then_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path):
    ref = spawn(tmp_path, "ref")
    assert ref.wait() == 0, ref.stderr.read().decode()
    proc = spawn(tmp_path, "run")
    wait_for_frames(proc, parts_dir(tmp_path / "run.mp4"), tmp_path / "run.mp4", 5)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (tmp_path / "run.mp4").exists() and not (tmp_path / "run").exists()
    time.sleep(0.5)  # ffmpeg sees its stdin close and exits by itself
    assert not ffmpeg_writing(tmp_path)
    done = len(list(parts_dir(tmp_path / "run.mp4").glob("0*.png")))
    assert 5 <= done < 12
    again = spawn(tmp_path, "run", "--resume")
    assert again.wait() == 0, again.stderr.read().decode()
    ref_frames, run_frames = frames_in(tmp_path / "ref"), frames_in(tmp_path / "run")
    assert len(run_frames) == 12 and all(np.array_equal(a, b) for a, b in zip(ref_frames, run_frames))
    assert probe(tmp_path / "run.mp4").frames == 12
    assert not parts_dir(tmp_path / "run.mp4").exists() and not list(tmp_path.glob(".*partial*"))


def test_ctrl_c_exits_130_kills_ffmpeg_and_keeps_parts(tmp_path):
    proc = spawn(tmp_path, "int", "--frames", "400")  # long: on a loaded box the parts writer lags the compute
    wait_for_frames(proc, parts_dir(tmp_path / "int.mp4"), tmp_path / "int.mp4", 3)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    assert "interrupted" in proc.stderr.read().decode()
    assert not ffmpeg_writing(tmp_path) and not list(tmp_path.glob(".*partial*"))
    assert not (tmp_path / "int.mp4").exists() and parts_dir(tmp_path / "int.mp4").is_dir()
