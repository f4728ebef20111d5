"""Sinks: where frames go. A sink is a context manager with `write(frame)`.

Nothing is ever written under the final name until it is complete: each sink writes to a
hidden ``.NAME.partial.EXT`` beside the target (a ``.NAME.partial/`` folder for PNG frames),
then `os.replace`s it on a clean exit (atomic on one filesystem); on an error or Ctrl-C the
partial output is removed and any ffmpeg process is killed.

Encoders (ffmpeg for MP4/WebM/GIF, PNG for frame folders) run on a background thread fed by a
bounded queue: compute never waits on encoding unless the encoder falls 8 frames behind, and
memory does not grow with the frame count. The thread is never abandoned: it is joined on
every exit path and its errors are re-raised in the main thread (ffmpeg's stderr included).
Only imageio-ffmpeg's bundled ffmpeg is used, never a system one.
"""

from __future__ import annotations

import errno
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from . import media, mux
from .beside import Worker
from .media import probe  # noqa: F401  (tests and callers read outputs through the one probe)
from .errors import DiskFull, DreamreelError
from .frames import Frame, Image
from .sources import over_background

STILL_EXTS = (".png", ".jpg", ".jpeg")
VIDEO_EXTS = (".mp4", ".webm", ".gif")
FORMATS = "out.png, out.jpg, out.mp4, out.webm, out.gif, or frames/ (a folder of PNGs)"


class Sink(Protocol):
    """Receives finished frames in order; commits on a clean exit, discards on an error."""

    def __enter__(self) -> Sink: ...
    def write(self, frame: Frame) -> None: ...
    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any: ...


def partial_path(path: Path) -> Path:
    return path.with_name(f".{path.stem}.partial{path.suffix}")


NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def space_for(path: Path) -> Iterator[None]:
    """A full disk while writing `path` is a one-line `DiskFull` naming it, never a traceback."""
    try:
        yield
    except OSError as e:
        if e.errno in NO_SPACE:
            raise DiskFull(path) from None
        raise


@contextmanager
def committed(path: Path) -> Iterator[Path]:
    """Yield a partial path to write; on success it becomes `path`, on error it is removed."""
    partial = partial_path(path)
    try:
        with space_for(path):
            yield partial
            os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def check_writable(path: Path) -> None:
    """Fail before any work if `path`'s folder cannot be made or written."""
    folder = path.parent if path.suffix else path
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".dreamreel-probe-"):
            pass
    except OSError as e:
        raise DreamreelError(f"cannot write to {folder}: {e.strerror or e}", "choose an output folder you can write to") from None
    if path.is_dir() and path.suffix:
        raise DreamreelError(f"output {path} is a folder", "give a file name such as out.png")


def is_folder(path: str | Path) -> bool:
    """A folder of PNG frames: a path written with a trailing slash, or an existing folder."""
    text = str(path)
    return text.endswith(("/", os.sep)) or Path(text).expanduser().is_dir()


def check_output(path: str | Path) -> None:
    """`check_writable` for any output; a frames folder is checked via its parent (nothing made yet)."""
    p = Path(path).expanduser()
    check_writable(p.parent / ".probe.png" if is_folder(path) and not p.is_dir() else p)


def write_image(path: Path, image: Image, alpha: Image | None = None) -> None:
    """Encode by extension and write atomically (PNG lossless, JPEG quality 95). `alpha` goes into
    a PNG as its fourth channel; a JPEG has none, so there the image is laid on the background."""
    png = path.suffix.lower() == ".png"
    if alpha is not None and alpha.shape != image.shape[:2]:  # a stage changed the size (carving's stretch)
        alpha = cv2.resize(alpha, image.shape[1::-1], interpolation=cv2.INTER_LINEAR)
    if alpha is not None and not png:
        image, alpha = over_background(image, alpha), None
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if alpha is None else np.dstack([image[..., ::-1], alpha])
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix.lower(), bgr, params)
    if not ok:
        raise DreamreelError(f"cannot encode {path.name}", f"use one of {', '.join(STILL_EXTS)}")
    with committed(path) as partial:
        partial.write_bytes(buf.tobytes())


class ImageSink:
    """A still image: the last frame written is the one kept (with its alpha, if it has one)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last: Frame | None = None

    def __enter__(self) -> ImageSink:
        return self

    def write(self, frame: Frame) -> None:
        self._last = frame

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None and self._last is not None:
            write_image(self.path, self._last.image, self._last.alpha)


# --- ffmpeg sinks (MP4, WebM, GIF) ---------------------------------------------------------


def gif_fps(fps: float) -> float:
    """The nearest rate a GIF can show: frame delays are whole 1/100 s (15 fps would be 16.67)."""
    return 100.0 / max(2, round(100.0 / fps))


class FfmpegSink:
    """Raw RGB frames piped to one ffmpeg process (`media.Ffmpeg`) that this sink alone owns.

    ffmpeg starts at the first frame (its size fixes the stream's), writes to the partial
    name, and is waited on after a clean exit or killed on an error or Ctrl-C. `encoder` is the
    output's row of `media.ENCODERS` (the settings chunk segments use too).
    `audio_from` (MP4/WebM): a media file whose first audio stream is laid on afterwards, when it
    has one, by a second pass that copies the picture (`mux.lay`; never live: see `pipeline.mux`)
    and writes the final file (so only that pass gives the container's flags).
    A failed audio pass keeps the picture, without sound, as ``NAME-no-audio.EXT``.
    """

    def __init__(self, path: Path, fps: float, encoder: media.Encoder, audio_from: Path | None = None,
                 audio_start: float = 0.0) -> None:
        self.audio_start = audio_start  # seconds into `audio_from` (a video rendered from --start)
        self.path = path
        self.fps = fps
        self.encoder = encoder
        self.audio_from = audio_from
        self._partial = partial_path(path)
        self._ffmpeg: media.Ffmpeg | None = None
        self._worker: Worker | None = None
        self._shape: tuple[int, ...] | None = None
        self._count = 0

    def __enter__(self) -> FfmpegSink:
        return self

    def _start(self, image: Image) -> None:
        h, w = image.shape[:2]
        self._shape = image.shape
        container = self.encoder.container
        if self.audio_from is not None and media.has_audio(self.audio_from):
            self._partial = self.path.with_name(f".{self.path.stem}.picture{self.path.suffix}")  # the audio pass
            container = ()  # writes the partial, and the final file's flags
        else:
            self.audio_from = None
        args = [*media.raw_input(w, h, self.fps), *self.encoder.args(), *container, str(self._partial)]
        self._ffmpeg = media.Ffmpeg(args, f"ffmpeg could not write {self.path.name}", "check the output path and the disk",
                                    output=self.path, feed=True)
        self._worker = Worker(self._send, name=f"ffmpeg:{self.path.name}")

    def _send(self, image: Image) -> None:
        assert self._ffmpeg is not None
        self._ffmpeg.write(np.ascontiguousarray(image).data)

    def write(self, frame: Frame) -> None:
        if self._ffmpeg is None:
            self._start(frame.image)
        elif frame.image.shape != self._shape:
            raise DreamreelError(f"frame {frame.index} is {frame.image.shape[1]}x{frame.image.shape[0]}, "
                                 f"the video {self._shape[1]}x{self._shape[0]}", "keep every frame the same size")
        assert self._worker is not None
        self._worker.put(frame.image)
        self._count += 1

    def _close(self) -> None:
        """Clean end: flush the queue, then let ffmpeg finish the file."""
        assert self._ffmpeg is not None and self._worker is not None
        try:
            self._worker.finish()
            self._ffmpeg.close()
        except BaseException:
            self._kill()
            raise

    def _kill(self) -> None:
        assert self._ffmpeg is not None and self._worker is not None
        self._ffmpeg.kill()  # first: it unblocks a worker stuck writing to ffmpeg
        self._worker.abort()

    def _lay_audio(self) -> None:
        """The second pass: picture copied, the source's audio cut (or padded) to its exact duration."""
        assert self.audio_from is not None
        audio = mux.Audio(self.audio_from, None, self.audio_start, self._count / self.fps)
        try:
            with committed(self.path) as partial:
                mux.lay(["-i", str(self._partial)], audio, partial, self.path, self.encoder)
        except DiskFull:
            raise
        except DreamreelError as e:
            kept = self.path.with_name(f"{self.path.stem}-no-audio{self.path.suffix}")
            os.replace(self._partial, kept)
            raise DreamreelError(f"the audio of {self.audio_from.name} could not be laid on {self.path.name} ({e.problem})",
                                 f"the picture is kept without sound as {kept}; the finished frames stay for --resume") from None

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        try:
            if self._ffmpeg is None:
                return
            if exc_type is not None:
                self._kill()
                return
            self._close()
            if self.audio_from is not None:
                self._lay_audio()
            else:
                with committed(self.path):  # ffmpeg wrote the partial name: this renames it
                    pass
        finally:
            self._partial.unlink(missing_ok=True)


# --- PNG frames folder and contact sheet ---------------------------------------------------


def frame_name(index: int) -> str:
    """File name of frame `index` in a frames folder (ffmpeg reads them back as ``%06d.png``)."""
    return f"{index:06d}.png"


def write_png(path: Path, image: Image, compression: int = 3) -> None:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, compression])
    if not ok:
        raise DreamreelError(f"cannot encode {path.name}", "report this as a bug")
    path.write_bytes(buf.tobytes())


class PngDirSink:
    """A folder of lossless PNGs ``000000.png, 000001.png, ...`` numbered in write order.

    Frames go to ``.NAME.partial/`` on a background thread; on a clean exit they are moved
    into NAME/ (made if needed; same-named files replaced), on an error the partial folder goes.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._partial = partial_path(path)
        self._count = 0
        self._worker: Worker | None = None

    def __enter__(self) -> PngDirSink:
        shutil.rmtree(self._partial, ignore_errors=True)
        self._partial.mkdir(parents=True)
        self._worker = Worker(self._write, name=f"png:{self.path.name}")
        return self

    def _write(self, item: tuple[int, Image]) -> None:
        with space_for(self.path):
            write_png(self._partial / frame_name(item[0]), item[1])

    def write(self, frame: Frame) -> None:
        assert self._worker is not None
        self._worker.put((self._count, frame.image))
        self._count += 1

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        assert self._worker is not None
        try:
            if exc_type is None:
                self._worker.finish()
                with space_for(self.path):
                    self.path.mkdir(parents=True, exist_ok=True)
                    for f in sorted(self._partial.iterdir()):
                        os.replace(f, self.path / f.name)
            else:
                self._worker.abort()
        finally:
            shutil.rmtree(self._partial, ignore_errors=True)


class ContactSheetSink:
    """A grid of up to `cells` evenly spaced frames, for a quick look at a long render.

    Keeps only the chosen thumbnails (memory is bounded). With `frame_count` unknown (None)
    it keeps every `stride`-th frame and doubles the stride whenever it holds too many.
    """

    def __init__(self, path: Path, frame_count: int | None, cells: int = 16, thumb: int = 192) -> None:
        self.path = path
        self.frame_count = frame_count
        self.cells = cells
        self.thumb = thumb
        self._seen = 0
        self._stride = 1
        self._kept: list[tuple[int, Image]] = []
        n = min(cells, frame_count) if frame_count else 0
        self._wanted = {round(i * (frame_count - 1) / max(1, n - 1)) for i in range(n)} if frame_count else set()

    def __enter__(self) -> ContactSheetSink:
        return self

    def _small(self, image: Image) -> Image:
        h, w = image.shape[:2]
        k = min(1.0, self.thumb / max(h, w))
        return cv2.resize(image, (max(1, round(w * k)), max(1, round(h * k))), interpolation=cv2.INTER_AREA)

    def write(self, frame: Frame) -> None:
        i, self._seen = self._seen, self._seen + 1
        if self.frame_count:
            if i in self._wanted:
                self._kept.append((i, self._small(frame.image)))
        elif i % self._stride == 0:
            self._kept.append((i, self._small(frame.image)))
            if len(self._kept) > 2 * self.cells:
                self._stride *= 2
                self._kept = [(j, im) for j, im in self._kept if j % self._stride == 0]

    def sheet(self) -> Image:
        kept = self._kept
        if len(kept) > self.cells:  # unknown length: spread the picks evenly over what was kept
            kept = [kept[round(i * (len(kept) - 1) / (self.cells - 1))] for i in range(self.cells)]
        cols = math.ceil(math.sqrt(len(kept)))
        rows = math.ceil(len(kept) / cols)
        h, w = kept[0][1].shape[:2]
        gap = 2
        out = np.full((rows * (h + gap) + gap, cols * (w + gap) + gap, 3), 24, np.uint8)
        for n, (_, im) in enumerate(kept):
            y, x = gap + (n // cols) * (h + gap), gap + (n % cols) * (w + gap)
            out[y:y + h, x:x + w] = im
        return out

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is None and self._kept:
            write_image(self.path, self.sheet())


# --- choosing a sink -------------------------------------------------------------------------


def for_path(path: str | Path, kind: str = "dream", *, fps: float = 25.0, crf: int = 18, frame_count: int | None = 1,
             audio_from: Path | None = None, audio_start: float = 0.0) -> Sink:
    """The sink for `path`, chosen by its extension (a trailing slash or an existing folder: PNG
    frames); an unknown one fails before any work. `fps`, `crf` and `audio_from` apply to
    videos (GIFs play at `gif_fps(fps)`, have no audio)."""
    p = Path(path).expanduser()
    if is_folder(path):
        return PngDirSink(p)
    ext = p.suffix.lower()
    if ext in STILL_EXTS:
        return ImageSink(p)
    if ext in (".mp4", ".webm"):
        return FfmpegSink(p, fps, media.encoder(ext, crf), audio_from, audio_start)
    if ext == ".gif":
        return FfmpegSink(p, gif_fps(fps), media.GIF)
    what = f"extension {ext!r}" if ext else f"{p.name!r} (no extension)"
    raise DreamreelError(f"unknown output format: {what} for a {kind}", f"write {FORMATS}")
