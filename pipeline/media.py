"""The media layer every reader and writer shares: the bundled ffmpeg and the one way it is run
(`Ffmpeg`, `run`, `frames`), the one table of encoder settings (sinks and chunk segments encode
alike, so segments join without re-encoding; a final file's container flags), and the one probe
(there is no ffprobe: ffmpeg's own description of a file, through imageio-ffmpeg).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property
from pathlib import Path
from typing import Any, NoReturn

import imageio_ffmpeg
import numpy as np

from .errors import DiskFull, DreamreelError


logging.getLogger("imageio_ffmpeg").setLevel(logging.ERROR)  # its size notice is expected: sources scale on read

MAX_PIXELS = 120_000_000  # per picture, image or video frame: a 108-Mpx phone photo is read, 30000x30000 refused undecoded
# Every decoder ffmpeg runs for us refuses a larger picture before it allocates one (a 12000x12000
# GIF or MJPEG would hand us 432 MB frames, eight of them queued).
DECODE_LIMIT = ("-max_pixels", str(MAX_PIXELS))
_TOO_LARGE = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count")


def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


# --- running ffmpeg -------------------------------------------------------------------------

QUIET = ("-hide_banner", "-loglevel", "error", "-nostats", "-nostdin", "-y")  # errors only, no prompt


def disk_full(stderr: str, output: Path, spare: int = 64 << 20) -> bool:
    """Whether ffmpeg's "No space left on device" means the disk: its muxer also reports an
    internal full queue as ENOSPC, which must not send a user off to free space they have."""
    if "No space left on device" not in stderr:
        return False
    try:
        return shutil.disk_usage(output.parent).free < spare
    except OSError:
        return True


def failure(stderr: str, code: int | None, problem: str, fix: str, output: Path | None = None) -> DreamreelError:
    """ffmpeg's failure as one line: `problem`, then the last lines it wrote (the last alone is
    often only "Conversion failed!"), or `DiskFull` when the disk holding `output` is full."""
    if output is not None and disk_full(stderr, output):
        return DiskFull(output)
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    return DreamreelError(f"{problem}: {' | '.join(lines[-3:]) or f'exit status {code}'}", fix)


class Ffmpeg:
    """One ffmpeg process and its stop policy: the only place dreamreel starts one.

    It runs in its own session, so a terminal's Ctrl-C reaches only us and we decide: `close`
    (a clean end) waits for it to finish and turns a failure into `failure`'s one line; `kill`
    (an error, Ctrl-C) ends it at once. Leaving a `with` block does one or the other. Its stderr
    goes to a file (a pipe nobody reads could stall it). `feed`: frames go in on stdin (`write`),
    else its stdout is `read`. If this process is SIGKILLed, a fed ffmpeg sees its stdin close
    and exits by itself. `write` and `kill` may come from different threads (a sink's worker
    writes; the caller kills, which unblocks that write).
    """

    def __init__(self, args: Sequence[str], problem: str, fix: str = "", *, output: Path | None = None,
                 feed: bool = False, log: Sequence[str] = QUIET) -> None:
        self.problem, self.fix, self.output = problem, fix, output
        self._log: Any = tempfile.TemporaryFile()
        self._text: str | None = None
        self._lock = threading.Lock()
        pipe, none = subprocess.PIPE, subprocess.DEVNULL
        self._proc = subprocess.Popen([ffmpeg_exe(), *log, *args], stdin=pipe if feed else none,
                                      stdout=none if feed else pipe, stderr=self._log, start_new_session=True)

    @property
    def args(self) -> list[str]:
        return list(self._proc.args)  # type: ignore[arg-type]

    def __enter__(self) -> Ffmpeg:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None:
            self.close()
        else:
            self.kill()

    def write(self, data: Any) -> None:
        """Feed stdin; when ffmpeg has gone, its own error."""
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(data)
        except OSError:
            raise self.failed() from None

    def read(self) -> bytes:
        """All of stdout (ffmpeg runs to its end meanwhile)."""
        assert self._proc.stdout is not None
        return self._proc.stdout.read()

    def close(self, check: bool = True) -> None:
        """The clean end: stdin closed, ffmpeg waited for, its failure raised (`check`)."""
        try:
            self._close_stdin()
            code = self._reap()
        except BaseException:
            self.kill()  # Ctrl-C while waiting
            raise
        if check and code:
            raise self.failed()

    def kill(self) -> None:
        """End it now (idempotent, from any thread); the partial output is the caller's to remove."""
        self._proc.kill()  # a no-op once it has exited
        self._close_stdin()
        self._reap()

    def _close_stdin(self) -> None:
        try:
            if self._proc.stdin is not None:
                self._proc.stdin.close()
        except (OSError, ValueError):
            pass  # ffmpeg has gone (its error, if any, is in stderr)

    def _reap(self) -> int:
        """Wait for its end and keep what it wrote on stderr (the file is read once, then closed)."""
        code = self._proc.wait()
        with self._lock:
            if self._text is None:
                self._log.seek(0)
                self._text = self._log.read().decode(errors="replace")
                self._log.close()
        return code

    @property
    def stderr(self) -> str:
        """What ffmpeg wrote on stderr (waits for its end)."""
        self._reap()
        return str(self._text)

    def failed(self) -> DreamreelError:
        return failure(self.stderr, self._proc.returncode, self.problem, self.fix, self.output)


def run(args: Sequence[str], problem: str, fix: str = "", *, output: Path | None = None) -> bytes:
    """Run ffmpeg to its end: its stdout, or a one-line `DreamreelError` starting with `problem`."""
    with Ffmpeg(args, problem, fix, output=output) as ff:
        return ff.read()


def raw_input(width: int, height: int, fps: float) -> list[str]:
    """Input args for RGB frames piped in at `fps`, as an exact fraction (29.97... is 30000/1001)."""
    rate = Fraction(fps).limit_denominator()
    return ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(rate), "-i", "-"]


def frames(path: Path, input_params: Sequence[str] = (), output_params: Sequence[str] = ()) -> Iterator[np.ndarray]:
    """Decoded RGB frames (writable ``HxWx3 uint8``): imageio-ffmpeg's reader, which owns its
    process the same way (its own process group, killed when the iterator is closed early).
    Decoding errors arrive as imageio's `OSError`/`RuntimeError` (a source names the frame)."""
    gen = imageio_ffmpeg.read_frames(str(path), input_params=[*DECODE_LIMIT, *input_params], output_params=list(output_params))
    try:
        w, h = next(gen)["size"]
        for raw in gen:
            yield np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy()
    finally:
        gen.close()


# --- encoders -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Encoder:
    """How one kind of output is encoded, and what its container needs."""

    ext: str  # the file's extension
    codec: str
    pix_fmt: str
    params: tuple[str, ...]  # rate control and speed
    audio: tuple[str, ...]  # audio codecs the container takes as they are ("*": any)
    audio_codec: str | None  # what other audio is re-encoded to
    filter: tuple[str, ...] = ()  # what the picture goes through first
    container: tuple[str, ...] = ()  # muxer flags of a final file: given once, where that file is written

    def args(self) -> list[str]:
        """The picture's encoding (a final file adds `container`; a segment, read back, does not)."""
        return [*self.filter, "-c:v", self.codec, *self.params, "-pix_fmt", self.pix_fmt]


PALETTE = "split[a][b];[a]palettegen=stats_mode=diff[p];[b][p]paletteuse"  # a GIF's palette, in one pass
EVEN = "crop=trunc(iw/2)*2:trunc(ih/2)*2"  # yuv420p needs even sizes; drop an odd last row/column
FASTSTART = ("-movflags", "+faststart")  # an MP4's index first: playable while it downloads


def h264(crf: int, seams: bool = False) -> Encoder:
    """`seams`: chunk segments, each opening a GOP, joined by ffmpeg's concat demuxer without
    re-encoding. x264's macroblock tree would make that first frame visibly sharper than the
    frames before the seam (seam pair 1.6-1.9x the median warping error; without it 1.1-1.4x,
    `python -m benchmarks.seams`). And no B-frames: their reordering delay gives each segment a
    composition offset, and a joined file whose segments are short (a 1-frame main piece before a
    fade) decoded with a frame repeated and the rest shifted by one (91 frames for 90)."""
    tree = ("-x264-params", "no-mbtree=1:ipratio=1.0", "-bf", "0") if seams else ()
    return Encoder(".mp4", "libx264", "yuv420p", ("-preset", "medium", "-crf", str(crf), *tree),
                   ("aac", "mp3", "alac", "ac3", "eac3"), "aac", ("-vf", EVEN), FASTSTART)


def vp9(crf: int, seams: bool = False) -> Encoder:
    """VP9's scale runs to 63: x264's 18 looks like VP9's ~31, hence crf + 13."""
    return Encoder(".webm", "libvpx-vp9", "yuv420p",
                   ("-crf", str(min(63, crf + 13)), "-b:v", "0", "-row-mt", "1", "-deadline", "good", "-cpu-used", "4"),
                   ("opus", "vorbis"), "libopus", ("-vf", EVEN))


FFV1 = Encoder(".mkv", "ffv1", "bgr0", ("-level", "3"), ("*",), "flac")  # lossless RGB: MKV masters, a GIF's source
GIF = Encoder(".gif", "gif", "pal8", (), (), None, ("-filter_complex", PALETTE), ("-loop", "0"))  # no audio
ENCODERS: dict[str, Callable[..., Encoder]] = {".mp4": h264, ".webm": vp9, ".mkv": lambda _crf, seams=False: FFV1,
                                               ".gif": lambda _crf, seams=False: GIF}


def encoder(ext: str, crf: int = 18, seams: bool = False) -> Encoder:
    return ENCODERS[ext.lower()](crf, seams=seams)


# --- probe --------------------------------------------------------------------------------


def describe(path: Path) -> str:
    """ffmpeg's description of a media file (its stderr for ``ffmpeg -i PATH``, which then exits
    asking for an output)."""
    ff = Ffmpeg(["-i", str(path)], "", log=("-hide_banner", "-nostdin"))
    ff.close(check=False)
    return ff.stderr


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
    gen = imageio_ffmpeg.read_frames(str(path), input_params=list(DECODE_LIMIT))
    try:
        meta = next(gen)
    except (OSError, RuntimeError, StopIteration) as e:
        if large := _TOO_LARGE.search(str(e)):
            _refuse_size(path, int(large[1]), int(large[2]))
        why = "it has no video stream" if "video" in str(e).lower() and "stream" in str(e).lower() else "ffmpeg cannot decode it"
        raise DreamreelError(f"cannot read video {path}: {why}", "give an mp4/mov/avi/webm/gif file ffmpeg can play") from None
    finally:
        gen.close()
    codec, pix_fmt = (re.split(r"[(,\s]", str(meta.get(k) or ""))[0] for k in ("codec", "pix_fmt"))  # "gif,", "yuv420p(tv)"
    size = tuple(meta.get("size") or meta["source_size"])
    if size[0] * size[1] > MAX_PIXELS:  # the container said so before any frame was decoded
        _refuse_size(path, *size)
    return MediaInfo(path, codec, pix_fmt, size, float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0),
                     meta.get("audio_codec"))


def _refuse_size(path: Path, width: int, height: int) -> NoReturn:
    raise DreamreelError(f"video {path} has frames of {width}x{height}, more than the {MAX_PIXELS // 10**6} Mpx dreamreel reads",
                         "scale it down first, e.g. ffmpeg -i IN -vf scale=1920:-2 OUT.mp4")
