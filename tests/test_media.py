"""The media layer: the one way ffmpeg runs (its own session, waited for on a clean close, killed
on an error, its failure in one line) and the encoder table's container flags, given to final
files only."""

import os
from pathlib import Path

import numpy as np
import pytest

from pipeline import media, sinks
from pipeline.errors import DreamreelError
from pipeline.frames import Frame
from pipeline.scaleout.segments import SegmentWriter, kind_for
from tests.test_sinks import ffmpeg_children

BLACK = np.zeros((48, 64, 3), np.uint8)


def encode(out: Path, codec_args: list[str], frames: int) -> None:
    with media.Ffmpeg([*media.raw_input(64, 48, 25), *codec_args, str(out)], f"could not write {out.name}",
                      "check the disk", feed=True) as ff:
        for _ in range(frames):
            ff.write(BLACK.data)


def test_run_gives_stdout_and_a_failure_as_one_line_naming_the_problem(tmp_path):
    pcm = media.run(["-f", "lavfi", "-i", "sine=d=0.5:sample_rate=8000", "-f", "s16le", "-ac", "1", "-"], "no tone")
    assert len(pcm) == 2 * 4000
    with pytest.raises(DreamreelError) as err:
        media.run(["-i", str(tmp_path / "gone.wav"), "-f", "null", "-"], "cannot read gone.wav", "check the path")
    text = str(err.value)
    assert text.startswith("cannot read gone.wav: ") and "No such file or directory" in text
    assert text.endswith("; check the path") and "\n" not in text and not ffmpeg_children()


def test_a_clean_close_waits_for_the_whole_file(tmp_path):
    encode(tmp_path / "x.mkv", media.FFV1.args(), 7)
    assert media.probe(tmp_path / "x.mkv").frames == 7 and not ffmpeg_children()


def test_ffmpeg_dying_while_fed_is_its_own_error_in_one_line(tmp_path):
    with pytest.raises(DreamreelError) as err:
        encode(tmp_path / "x.mkv", ["-c:v", "no-such-codec"], 200)  # ffmpeg exits at once: a write or the close fails
    assert str(err.value).startswith("could not write x.mkv: ") and "Encoder not found" in str(err.value)
    assert "\n" not in str(err.value) and not ffmpeg_children()


def test_ffmpeg_runs_in_its_own_session_and_an_interrupt_kills_it(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        with media.Ffmpeg([*media.raw_input(64, 48, 25), *media.FFV1.args(), str(tmp_path / "x.mkv")], "x",
                          feed=True) as ff:
            ff.write(BLACK.data)
            (pid,) = ffmpeg_children()
            assert os.getsid(pid) == pid != os.getsid(0)  # a terminal's Ctrl-C reaches only us: we decide
            raise KeyboardInterrupt
    assert not ffmpeg_children()


def moov_first(path: Path) -> bool:
    """An MP4 whose index precedes its media (+faststart): playable while it downloads."""
    data = path.read_bytes()
    return data.index(b"moov") < data.index(b"mdat")


def write(sink, n: int = 4) -> list[str]:
    """Write `n` frames; the ffmpeg command of the picture pass."""
    with sink:
        for i in range(n):
            sink.write(Frame(i, BLACK, BLACK))
        return sink._ffmpeg.args


def test_container_flags_go_on_final_files_only(tmp_path):
    """+faststart on an MP4 written in one pass, on the audio pass's output (not its picture pass,
    which is only read back), never on a chunk segment; a GIF's loop flag from the same table."""
    tone = tmp_path / "tone.wav"
    media.run(["-f", "lavfi", "-i", "sine=d=1", str(tone)], "cannot make a tone")
    assert "+faststart" in write(sinks.for_path(tmp_path / "a.mp4")) and moov_first(tmp_path / "a.mp4")
    picture = write(sinks.for_path(tmp_path / "b.mp4", audio_from=tone))
    assert "+faststart" not in picture and moov_first(tmp_path / "b.mp4") and media.probe(tmp_path / "b.mp4").has_audio
    segment = tmp_path / "s.mp4"
    with SegmentWriter(segment, kind_for(segment), 25) as w:
        for _ in range(4):
            w.write(BLACK)
        args = w._ffmpeg.args
    assert "+faststart" not in args and not moov_first(segment) and media.probe(segment).frames == 4
    gif = write(sinks.for_path(tmp_path / "c.gif"))
    assert gif[-3:-1] == list(media.GIF.container) and b"NETSCAPE2.0" in (tmp_path / "c.gif").read_bytes()
