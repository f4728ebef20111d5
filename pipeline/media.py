"""The media layer every reader and writer shares: the bundled ffmpeg, the one table of encoder
settings (sinks and chunk segments encode alike, so segments join without re-encoding), and the
one probe (there is no ffprobe: ffmpeg's own description of a file, through imageio-ffmpeg).
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import imageio_ffmpeg

from .errors import DreamreelError


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


# --- encoders -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoder:
    """How one kind of output is encoded."""

    ext: str  # the file's extension
    codec: str
    pix_fmt: str
    params: tuple[str, ...]  # rate control and speed
    audio: tuple[str, ...]  # audio codecs the container takes as they are ("*": any)
    audio_codec: str | None  # what other audio is re-encoded to

    def args(self) -> list[str]:
        return ["-c:v", self.codec, *self.params, "-pix_fmt", self.pix_fmt]


def h264(crf: int, seams: bool = False) -> Encoder:
    """`seams`: chunk segments, each opening a GOP, joined by ffmpeg's concat demuxer without
    re-encoding. x264's macroblock tree would make that first frame visibly sharper than the
    frames before the seam (seam pair 1.6-1.9x the median warping error; without it 1.1-1.4x,
    `python -m benchmarks.seams`). And no B-frames: their reordering delay gives each segment a
    composition offset, and a joined file whose segments are short (a 1-frame main piece before a
    fade) decoded with a frame repeated and the rest shifted by one (91 frames for 90)."""
    tree = ("-x264-params", "no-mbtree=1:ipratio=1.0", "-bf", "0") if seams else ()
    return Encoder(".mp4", "libx264", "yuv420p", ("-preset", "medium", "-crf", str(crf), *tree),
                   ("aac", "mp3", "alac", "ac3", "eac3"), "aac")


def vp9(crf: int, seams: bool = False) -> Encoder:
    """VP9's scale runs to 63: x264's 18 looks like VP9's ~31, hence crf + 13."""
    return Encoder(".webm", "libvpx-vp9", "yuv420p",
                   ("-crf", str(min(63, crf + 13)), "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"),
                   ("opus", "vorbis"), "libopus")


FFV1 = Encoder(".mkv", "ffv1", "bgr0", ("-level", "3"), ("*",), "flac")  # lossless RGB: MKV masters, a GIF's source
ENCODERS: dict[str, Callable[..., Encoder]] = {".mp4": h264, ".webm": vp9, ".mkv": lambda _crf, seams=False: FFV1}
PALETTE = "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse"  # a GIF's palette, in one pass
EVEN = "crop=trunc(iw/2)*2:trunc(ih/2)*2"  # yuv420p needs even sizes; drop an odd last row/column


def encoder(ext: str, crf: int = 18, seams: bool = False) -> Encoder:
    return ENCODERS[ext.lower()](crf, seams=seams)


# --- probe --------------------------------------------------------------------------------


def describe(path: Path) -> str:
    """ffmpeg's description of a media file (its stderr for ``ffmpeg -i PATH``)."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, errors="replace")
    return run.stderr


def has_audio(path: Path) -> bool:
    """Whether a media file (a video, or audio alone) has an audio stream: muxing a missing one kills ffmpeg."""
    return re.search(r"Stream #\d+:\d+.*: Audio:", describe(path)) is not None


@dataclass(frozen=True)
class MediaInfo:
    """A video file's first video stream (and whether it has audio), from its header."""

    path: Path
    codec: str
    pix_fmt: str
    size: tuple[int, int]  # (width, height) as displayed (ffmpeg applies a phone's rotation on decode)
    fps: float  # 0 when unknown
    duration: float  # seconds; 0 when unknown
    audio_codec: str | None

    @property
    def has_audio(self) -> bool:
        return self.audio_codec is not None

    @cached_property
    def counts(self) -> tuple[int, float]:
        """(frames, seconds), by decoding the stream: exact, and as slow as a decode."""
        return imageio_ffmpeg.count_frames_and_secs(str(self.path))

    @property
    def frames(self) -> int:
        return self.counts[0]

    @property
    def seconds(self) -> float:
        return self.counts[1]


def probe(path: Path) -> MediaInfo:
    """What a video file holds, or a one-line error saying why it cannot be read."""
    if not path.exists():
        raise DreamreelError(f"input not found: {path}", "check the path")
    if not path.is_file():
        raise DreamreelError(f"input is not a file: {path}", "give a video file or a folder of frames")
    if path.stat().st_size == 0:
        raise DreamreelError(f"video {path} is empty (0 bytes)", "give a video with frames")
    gen = imageio_ffmpeg.read_frames(str(path))
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as e:
        why = "it has no video stream" if "video" in str(e).lower() and "stream" in str(e).lower() else "ffmpeg cannot decode it"
        raise DreamreelError(f"cannot read video {path}: {why}", "give an mp4/mov/avi/webm/gif file ffmpeg can play") from None
    finally:
        gen.close()
    codec, pix_fmt = (re.split(r"[(,\s]", str(meta.get(k) or ""))[0] for k in ("codec", "pix_fmt"))  # "gif,", "yuv420p(tv)"
    return MediaInfo(path, codec, pix_fmt, tuple(meta.get("size") or meta["source_size"]),
                     float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0), meta.get("audio_codec"))
