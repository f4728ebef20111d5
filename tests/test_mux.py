"""Audio is laid on after the picture is encoded, cut or padded to its exact length; a failed pass keeps the picture."""

import re
import subprocess
from dataclasses import replace
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from pipeline import media, sinks
from pipeline.errors import DreamreelError
from pipeline.frames import Frame
from pipeline.sinks import probe
from tests.conftest import lavfi, make_image

FF = imageio_ffmpeg.get_ffmpeg_exe()


@pytest.fixture(scope="module")
def phone(tmp_path_factory) -> Path:
    """MP3 as the first stream, starting 67 ms after the picture, 15 s long: the file that broke the live mux."""
    return phone_clip(tmp_path_factory.mktemp("m") / "phone.mp4")


def phone_clip(path: Path, size: str = "160x120") -> Path:
    return lavfi(path, f"testsrc=size={size}:rate=30:d=15", "sine=f=440:d=15:sample_rate=44100,adelay=67:all=1",
                 audio_first=True, acodec="libmp3lame")


def streams(path: Path) -> tuple[float, list[str]]:
    """(container duration in s, stream kinds in order) from ffmpeg's description."""
    info = subprocess.run([FF, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    h, m, s = re.search(r"Duration: (\d+):(\d+):([\d.]+)", info).groups()
    return int(h) * 3600 + int(m) * 60 + float(s), re.findall(r"Stream #\d+:\d+.*?: (Video|Audio):", info)


def write(path: Path, n: int, audio_from: Path, fps: float = 30.0, start: float = 0.0) -> None:
    with sinks.for_path(path, "video", fps=fps, frame_count=n, audio_from=audio_from, audio_start=start) as sink:
        for i in range(n):
            sink.write(Frame(i, img := make_image(48, i), img))


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_audio_far_longer_than_the_range_is_cut_to_the_picture(phone, tmp_path, ext):
    assert streams(phone)[1] == ["Audio", "Video"]
    out = tmp_path / f"out{ext}"
    write(out, 40, phone, start=2.0)
    seconds, kinds = streams(out)
    assert probe(out).frames == 40 and kinds == ["Video", "Audio"]
    assert abs(seconds - 40 / 30) < 0.05
    assert not list(tmp_path.glob(".*")) and sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_audio_shorter_than_the_picture_is_padded_and_no_frame_is_cut(tmp_path):
    short = lavfi(tmp_path / "short.mp4", "testsrc=size=64x48:rate=25:d=2", "sine=d=0.3")
    write(tmp_path / "out.mp4", 25, short, fps=25)
    seconds, kinds = streams(tmp_path / "out.mp4")
    assert probe(tmp_path / "out.mp4").frames == 25 and kinds == ["Video", "Audio"] and abs(seconds - 1.0) < 0.05


def test_a_failed_audio_pass_keeps_the_picture_and_says_so_in_one_line(phone, tmp_path, monkeypatch):
    monkeypatch.setitem(media.ENCODERS, ".mp4", lambda crf, seams=False: replace(media.h264(crf), audio_codec="no-such-encoder"))
    out = tmp_path / "out.mp4"
    with pytest.raises(DreamreelError) as err:
        write(out, 6, phone)
    kept = tmp_path / "out-no-audio.mp4"
    assert "could not be laid on out.mp4" in str(err.value) and str(kept) in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and probe(kept).frames == 6 and not probe(kept).has_audio
    assert not list(tmp_path.glob(".*"))


def test_the_picture_pass_reads_nothing_but_the_frames(phone, tmp_path):
    """No second input while frames are piped in: what raced is gone by construction."""
    sink = sinks.for_path(tmp_path / "o.mp4", "video", audio_from=phone)
    sink._start(np.zeros((48, 64, 3), np.uint8))
    try:
        cmd = sink._ffmpeg.args
        assert cmd.count("-i") == 1 and "-shortest" not in cmd and str(phone) not in cmd
    finally:
        sink.__exit__(KeyboardInterrupt, None, None)
