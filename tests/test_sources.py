"""VideoSource / FrameDirSource on tiny generated clips: counts, rates, exact ranges, streaming, errors."""

import os
import subprocess
import threading
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from benchmarks import clips
from pipeline.errors import DreamreelError
from pipeline.sources import (BACKGROUND, FrameDirSource, VideoSource, image_size, natural_key, open_frames,
                              read_image, read_rgba)
from tests.conftest import make_image


@pytest.fixture(scope="module")
def pan_mp4(tmp_path_factory) -> Path:
    return clips.write_mp4(tmp_path_factory.mktemp("src") / "pan.mp4", clips.CLIPS["pan"](20, 64, 48), fps=12)


def images(source) -> list[np.ndarray]:
    return [f.image for f in source]


def test_video_keeps_frame_count_fps_and_size(pan_mp4):
    src = VideoSource.open(pan_mp4)
    frames = list(src)
    assert src.fps == 12 and src.frame_count == len(frames) == 20
    assert [f.index for f in frames] == list(range(20)) and frames[0].image.shape == (48, 64, 3)


@pytest.mark.parametrize("first", [1, 7, 19])
def test_frame_ranges_are_exact(pan_mp4, first):
    whole = images(VideoSource.open(pan_mp4))
    part = images(VideoSource.open(pan_mp4, start_frame=first, end_frame=first + 3))
    assert len(part) == min(3, 20 - first)
    assert all(np.array_equal(a, whole[first + i]) for i, a in enumerate(part))


def test_seconds_max_frames_size_and_iter_from(pan_mp4):
    whole = images(VideoSource.open(pan_mp4))
    src = VideoSource.open(pan_mp4, start=0.5, max_frames=4)  # 0.5 s at 12 fps = frame 6
    assert src.frame_count == 4 and all(np.array_equal(a, whole[6 + i]) for i, a in enumerate(images(src)))
    resumed = list(src.iter_from(2))
    assert [f.index for f in resumed] == [2, 3] and np.array_equal(resumed[0].image, whole[8])
    assert images(VideoSource.open(pan_mp4, size=32, max_frames=1))[0].shape == (24, 32, 3)


def test_variable_frame_rate_is_read_at_one_rate_and_keeps_its_duration(pan_mp4, tmp_path):
    vfr = tmp_path / "vfr.mp4"  # first 8 frames last twice as long as the rest
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(pan_mp4), "-vf",
                    "setpts='if(lt(N,8),N*2,16+(N-8))/(12*TB)'", "-fps_mode", "vfr", str(vfr)], check=True)
    src = VideoSource.open(vfr)
    n = len(list(src))
    assert abs(n / src.fps - src.meta.duration) <= 1.0 / src.fps


def test_early_close_leaves_no_thread_and_no_ffmpeg(pan_mp4):
    it = iter(VideoSource.open(pan_mp4))
    next(it)
    it.close()
    assert not [t for t in threading.enumerate() if t.name == "dreamreel-decode"]
    children = subprocess.run(["pgrep", "-P", str(os.getpid())], capture_output=True, text=True).stdout.split()
    assert not [c for c in children if "ffmpeg" in Path(f"/proc/{c}/cmdline").read_text(errors="replace")]


def write_frames(folder: Path, sizes: list[int]) -> Path:
    folder.mkdir()
    for i, s in enumerate(sizes):
        cv2.imwrite(str(folder / f"f{i}.png"), np.full((s, s, 3), i * 20, np.uint8))
    return folder


def test_frames_folder_in_natural_order(tmp_path):
    folder = write_frames(tmp_path / "frames", [32] * 11)
    frames = list(FrameDirSource(folder))
    assert [int(f.image[0, 0, 0]) for f in frames] == [i * 20 for i in range(11)]  # f10 after f9
    assert sorted([Path("f10.png"), Path("f2.png")], key=natural_key)[0].name == "f2.png"
    assert [f.index for f in open_frames(folder, start_frame=3, max_frames=2)] == [0, 1]


def test_frames_folder_of_mixed_sizes_is_an_error(tmp_path):
    folder = write_frames(tmp_path / "frames", [32, 32, 40])
    with pytest.raises(DreamreelError, match="f2.png is 40x40"):
        list(FrameDirSource(folder))


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage" * 100])
def test_empty_or_corrupt_video_is_an_error(tmp_path, content):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(DreamreelError, match="bad.mp4"):
        VideoSource.open(path)


# --- images as cameras and editors write them, each generated here with Pillow ---


def saved(path: Path, im: Image.Image, **kw) -> Path:
    im.save(path, **kw)
    return path


def card(mode: str = "RGB", size: tuple[int, int] = (48, 32)) -> Image.Image:
    return Image.fromarray(make_image(48)[: size[1], : size[0]]).convert(mode)


def test_exif_rotated_jpeg_is_read_upright(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    path = saved(tmp_path / "phone.jpg", card(), exif=exif, quality=95)
    upright, landscape = read_image(path).astype(int), np.asarray(card())
    assert upright.shape == (48, 32, 3)
    error = {turn: np.abs(upright - np.rot90(landscape, turn)).mean() for turn in (-1, 1)}  # -1: clockwise
    assert error[-1] < 8 < error[1], error  # JPEG's loss only (4.0), turned the way the camera says (99 the other way)


def test_cmyk_jpeg_is_read_as_rgb(tmp_path):
    path = saved(tmp_path / "print.jpg", Image.new("CMYK", (8, 8), (0, 255, 255, 0)), quality=100)  # pure red
    assert np.abs(read_image(path)[4, 4].astype(int) - (255, 0, 0)).max() < 8


def test_16_bit_and_grey_pngs_are_read_as_8_bit_rgb(tmp_path):
    deep = tmp_path / "deep.png"
    cv2.imwrite(str(deep), np.full((6, 5, 3), 40000, np.uint16))
    grey = saved(tmp_path / "grey.png", card("L"))
    assert read_image(deep).dtype == np.uint8 and read_image(deep)[0, 0].tolist() == [156] * 3
    assert read_image(grey).shape == (32, 48, 3)


def test_rgba_keeps_its_alpha_and_a_transparent_start_is_laid_on_the_background(tmp_path):
    rgba = np.dstack([make_image(48), np.tile(np.linspace(0, 255, 48, dtype=np.uint8), (48, 1))])
    path = saved(tmp_path / "logo.png", Image.fromarray(rgba, "RGBA"))
    image, alpha = read_rgba(path)
    assert np.array_equal(image, rgba[..., :3]) and np.array_equal(alpha, rgba[..., 3])
    laid = read_image(path)
    assert laid[0, 0].tolist() == list(BACKGROUND) and np.array_equal(laid[:, -1], rgba[:, -1, :3])
    palette = saved(tmp_path / "pal.png", Image.new("P", (4, 4)), transparency=0)
    assert read_rgba(palette)[1].max() == 0


def test_a_header_claiming_30000x30000_is_refused_before_decoding(tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 30000, 30000, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))
    for read in (read_image, image_size):
        with pytest.raises(DreamreelError, match="more than the 120 Mpx") as err:
            read(bomb)
        assert "scale it down" in err.value.fix
    wide = saved(tmp_path / "wide.png", Image.new("L", (12000, 1)))
    assert image_size(wide) == (12000, 1)  # large but within the limit: read


BOMBS = {  # headers of formats OpenCV reads that Pillow does not size, each claiming 30000x30000
    "bomb.hdr": b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n",
    "bomb.pic": b"#?RGBE\nFORMAT=32-bit_rle_rgbe\n\n+X 30000 -Y 30000\n",
    "bomb.pam": b"P7\nWIDTH 30000\nHEIGHT 30000\nDEPTH 3\nMAXVAL 255\nTUPLTYPE RGB\nENDHDR\n",
    "bomb.pfm": b"PF\n30000 30000\n-1.0\n",
    "bomb.ppm": b"P6\n# a comment\n30000 30000\n255\n",
    "bomb.pgm": b"P5 30000\n30000 65535\n",
}


@pytest.mark.parametrize("name", BOMBS)
def test_every_format_opencv_reads_is_sized_from_its_header_before_decoding(tmp_path, name):
    """OpenCV's own limit is 1 Gpx: a float HDR of 30000x30000 would take 10.8 GB. Its header alone refuses it,
    and a small file of the same format is read at the size its header says."""
    bomb = tmp_path / name
    bomb.write_bytes(BOMBS[name] + b"\0" * 64)
    for read in (read_image, image_size):
        with pytest.raises(DreamreelError, match="30000x30000, more than the 120 Mpx") as err:
            read(bomb)
        assert "\n" not in str(err.value)
    image = make_image(48)[:40]
    small = tmp_path / ("small" + Path(name).suffix)
    ok, data = cv2.imencode(small.suffix, image.astype(np.float32) / 255 if small.suffix in (".hdr", ".pic", ".pfm")
                            else image[..., 0] if small.suffix == ".pgm" else image)
    small.write_bytes(data.tobytes())
    assert image_size(small) == (48, 40) and read_image(small).shape == (40, 48, 3)


def test_a_file_whose_size_no_header_gives_is_refused_undecoded(tmp_path):
    odd = tmp_path / "odd.png"
    odd.write_bytes(b"#!" + b"\0" * 100)
    with pytest.raises(DreamreelError, match="is not an image that can be read"):
        read_image(odd)


@pytest.fixture(scope="module")
def large_frames(tmp_path_factory) -> dict[str, Path]:
    """A GIF whose screen is 12000x12000 (45 bytes) and an MJPEG of 11000x11000 frames (grey, 1.4 MB each)."""
    import io
    import struct

    folder = tmp_path_factory.mktemp("large")
    buffer = io.BytesIO()
    Image.new("RGB", (2, 2), (200, 10, 10)).save(buffer, "GIF")
    gif = bytearray(buffer.getvalue())
    gif[6:10] = struct.pack("<HH", 12000, 12000)
    (folder / "screen.gif").write_bytes(bytes(gif))
    ok, jpeg = cv2.imencode(".jpg", np.zeros((11000, 11000), np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 10])
    (folder / "frames.mjpeg").write_bytes(jpeg.tobytes() * 2)
    return {"gif": folder / "screen.gif", "mjpeg": folder / "frames.mjpeg"}


@pytest.mark.parametrize("kind, size", [("gif", "12000x12000"), ("mjpeg", "11000x11000")])
def test_a_video_with_frames_past_the_pixel_limit_is_refused_before_a_frame_is_decoded(large_frames, kind, size, tmp_path):
    """ffmpeg's decoders are told the limit, so not even ffmpeg allocates such a frame; the command says so in one line."""
    from typer.testing import CliRunner

    from cli import app

    with pytest.raises(DreamreelError, match=f"has frames of {size}, more than the 120 Mpx") as err:
        VideoSource.open(large_frames[kind])
    assert "scale it down" in err.value.fix
    result = CliRunner().invoke(app, ["video", str(large_frames[kind]), "-o", str(tmp_path / "out.mp4"), "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and size in result.output, result.output
    assert not list(tmp_path.iterdir())
