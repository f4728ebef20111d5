import re

import numpy as np
import pytest

from pipeline.errors import DreamreelError
from pipeline.sinks import check_writable, committed, partial_path, write_image


def test_committed_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "a.png"
    with pytest.raises(RuntimeError):
        with committed(target) as partial:
            partial.write_bytes(b"half")
            assert not target.exists()
            raise RuntimeError("boom")
    assert not target.exists() and not partial_path(target).exists()
    with committed(target) as partial:
        partial.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and not partial_path(target).exists()


def test_write_image_round_trips_png(tmp_path):
    from tests.conftest import read_rgb
    img = np.random.default_rng(0).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    write_image(tmp_path / "x.png", img)
    assert np.array_equal(read_rgb(tmp_path / "x.png"), img)


def test_unwritable_folder_fails_before_work(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(DreamreelError, match="cannot write"):
        check_writable(blocker / "out.png")


# --- streaming sinks: real ffmpeg, tiny frames ------------------------------------------------

import os  # noqa: E402
import subprocess  # noqa: E402
import wave  # noqa: E402
from dataclasses import replace  # noqa: E402

from pipeline import media, sinks  # noqa: E402
from pipeline.frames import Frame  # noqa: E402


def frames(n: int, h: int = 48, w: int = 64):
    """Moving gradients: every frame differs, so encoders cannot merge them."""
    y, x = np.mgrid[0:h, 0:w]
    for i in range(n):
        img = np.stack([(x * 4 + i * 9) % 256, (y * 5 + i * 3) % 256, np.full_like(x, (i * 20) % 256)], -1).astype(np.uint8)
        yield Frame(i, img, img)


def write_all(path, n=6, **kw):
    with sinks.for_path(path, "zoom", frame_count=n, **kw) as sink:
        for f in frames(n):
            sink.write(f)


def ffmpeg_children() -> list[int]:
    """Live ffmpeg processes that are children of this test process."""
    out = subprocess.run(["ps", "-o", "pid=,ppid=,comm=", "-e"], capture_output=True, text=True).stdout
    return [int(p) for p, pp, c in (ln.split(None, 2) for ln in out.splitlines()) if int(pp) == os.getpid() and "ffmpeg" in c]


@pytest.mark.parametrize("ext, codec, pix_fmt", [(".mp4", "h264", "yuv420p"), (".webm", "vp9", "yuv420p"), (".gif", "gif", None)])
def test_video_sinks_write_every_frame_in_the_right_format(tmp_path, ext, codec, pix_fmt):
    out = tmp_path / f"v{ext}"
    write_all(out, 6)
    info = sinks.probe(out)
    assert (info.codec, info.frames, info.size[0], info.size[1]) == (codec, 6, 64, 48)
    if pix_fmt:
        assert info.pix_fmt == pix_fmt
    assert not list(tmp_path.glob(".*partial*")) and not ffmpeg_children()


def test_gif_loops_and_uses_a_rate_gif_can_show(tmp_path):
    out = tmp_path / "g.gif"
    write_all(out, 6, fps=15)
    data = out.read_bytes()
    assert b"NETSCAPE2.0" in data  # the looping extension (-loop 0)
    delays = [int.from_bytes(data[m.start() + 4:m.start() + 6], "little") for m in re.finditer(rb"\x21\xf9\x04", data)]
    assert delays == [7] * 6  # each frame's delay in 1/100 s: 15 fps written as 7-7-7, not 7-6-7
    assert sinks.gif_fps(15) == pytest.approx(100 / 7) and sinks.gif_fps(25) == 25 and sinks.gif_fps(50) == 50


def test_odd_sizes_are_cropped_even_for_yuv420p(tmp_path):
    out = tmp_path / "odd.mp4"
    with sinks.for_path(out) as sink:
        for f in frames(3, 47, 63):
            sink.write(f)
    assert sinks.probe(out).size == (62, 46)


def test_png_folder_holds_lossless_frames(tmp_path):
    out = str(tmp_path / "fr") + "/"
    write_all(out, 5)
    got = sorted((tmp_path / "fr").iterdir())
    assert [p.name for p in got] == [f"{i:06d}.png" for i in range(5)]
    from tests.conftest import read_rgb
    assert np.array_equal(read_rgb(got[3]), list(frames(5))[3].image)
    assert not list(tmp_path.glob(".*partial*"))


def test_contact_sheet_is_a_grid_of_evenly_spaced_frames(tmp_path):
    from tests.conftest import read_rgb
    shown = {}
    for count in (25, None):  # known length, and a stream of unknown length
        out = tmp_path / f"sheet{count}.png"
        with sinks.ContactSheetSink(out, count, cells=9) as sheet:
            for f in frames(25):
                sheet.write(f)
        grid = read_rgb(out)
        assert grid.shape == (3 * 50 + 2, 3 * 66 + 2, 3)  # 3x3 cells of 48x64 with 2 px gaps
        cells = [grid[2 + r * 50:50 + r * 50, 2 + c * 66:66 + c * 66] for r in range(3) for c in range(3)]
        index = {f.image.tobytes(): f.index for f in frames(25)}
        shown[count] = [index[cell.tobytes()] for cell in cells]  # which frame each cell holds
    assert shown[25] == list(range(0, 25, 3))
    gaps = np.diff(shown[None])
    assert shown[None][0] == 0 and shown[None][-1] == 24 and gaps.min() >= 1 and gaps.max() <= 4, shown[None]


@pytest.mark.parametrize("ext", [".mp4", ".gif", "/"])
def test_an_error_mid_render_leaves_nothing_and_no_ffmpeg(tmp_path, ext):
    out = str(tmp_path / "v") + ext
    with pytest.raises(KeyboardInterrupt):
        with sinks.for_path(out) as sink:
            for f in frames(4):
                sink.write(f)
            raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == [] and not ffmpeg_children()


def test_ffmpeg_failure_is_one_line_with_its_stderr(tmp_path):
    sink = sinks.FfmpegSink(tmp_path / "x.mp4", 25, replace(media.h264(18), codec="no-such-codec"))
    with pytest.raises(DreamreelError, match="ffmpeg could not write x.mp4: .*Encoder not found"):
        with sink:
            for f in frames(30):
                sink.write(f)
    assert list(tmp_path.iterdir()) == [] and not ffmpeg_children()


def test_audio_is_muxed_only_from_a_source_that_has_it(tmp_path):
    silent = tmp_path / "silent.mp4"
    write_all(silent, 4)
    tone = tmp_path / "tone.wav"
    with wave.open(str(tone), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes((np.sin(np.arange(8000) / 5) * 8000).astype(np.int16).tobytes())
    assert media.has_audio(tone) and not media.has_audio(silent)
    write_all(tmp_path / "a.mp4", 4, audio_from=tone)
    write_all(tmp_path / "b.webm", 4, audio_from=silent)  # no audio there: video only, no crash
    assert sinks.probe(tmp_path / "a.mp4").has_audio and not sinks.probe(tmp_path / "b.webm").has_audio


def test_unknown_extension_names_the_formats(tmp_path):
    with pytest.raises(DreamreelError, match=r"unknown output format.*'\.xyz'.*mp4"):
        sinks.for_path(tmp_path / "a.xyz")
    with pytest.raises(DreamreelError, match="no extension"):
        sinks.for_path(tmp_path / "noext")
