"""Sources: iterables of `Frame`s, RGB ``HxWx3 uint8`` fixed at the edge."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL.Image

from .errors import DreamreelError
from .frames import Frame, Image
from .beside import prefetched
from .media import MAX_PIXELS, MediaInfo, frames, probe

SAMPLE = Path(__file__).resolve().parent / "data" / "chelsea.png"  # CC0, see data/CREDITS.md
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


BACKGROUND = (128, 128, 128)  # what a transparent start image (zoom, frames, guides) is laid on: mid-grey
HEADER = 1 << 16  # bytes read to find an image's size


def _pnm(head: bytes) -> tuple[int, int] | None:
    m = re.match(rb"P[1-6](?:\s+|#[^\n]*\n)+(\d+)(?:\s+|#[^\n]*\n)+(\d+)", head)
    return (int(m[1]), int(m[2])) if m else None


def _pam(head: bytes) -> tuple[int, int] | None:
    fields = dict(re.findall(rb"^\s*(WIDTH|HEIGHT)\s+(\d+)", head.split(b"ENDHDR")[0], re.M))
    return (int(fields[b"WIDTH"]), int(fields[b"HEIGHT"])) if len(fields) == 2 else None


def _pfm(head: bytes) -> tuple[int, int] | None:
    m = re.match(rb"P[Ff]\s+(\d+)\s+(\d+)", head)
    return (int(m[1]), int(m[2])) if m else None


def _radiance(head: bytes) -> tuple[int, int] | None:
    """Radiance HDR: text lines, a blank one, then the resolution (``-Y 480 +X 640``, either axis first)."""
    m = re.search(rb"\n[ \t\r]*\n\s*[-+]([XY])\s+(\d+)\s+[-+][XY]\s+(\d+)", head)
    if not m:
        return None
    a, b = int(m[2]), int(m[3])
    return (b, a) if m[1] == b"Y" else (a, b)


# Formats OpenCV reads whose size Pillow does not know (PNM too: Pillow refuses some that OpenCV reads).
TEXT_HEADERS = {b"#?": _radiance, b"P7": _pam, b"PF": _pfm, b"Pf": _pfm, **{b"P%d" % i: _pnm for i in range(1, 7)}}


def header_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the file's first bytes, nothing decoded: Radiance HDR, PAM, PFM and PNM
    by their text headers, everything else by Pillow's reading of its header; None when neither
    knows the size, and then OpenCV is never asked (it would have to decode to find out)."""
    try:
        with open(path, "rb") as f:
            head = f.read(HEADER)
    except OSError as e:
        raise DreamreelError(f"cannot read {path}: {e.strerror}", "check the file's permissions") from None
    if parse := TEXT_HEADERS.get(head[:2]):
        return parse(head)
    try:
        with PIL.Image.open(path) as im:
            return im.size
    except PIL.Image.DecompressionBombError:
        return MAX_PIXELS + 1, 1  # Pillow's own limit is higher than ours: past it is past ours
    except (OSError, ValueError, SyntaxError):  # UnidentifiedImageError is an OSError
        return None


def _checked(path: Path) -> tuple[int, int]:
    """Exists, is a file, and its header (nothing decoded) gives a size within MAX_PIXELS."""
    if not path.exists():
        raise DreamreelError(f"input not found: {path}", "check the path")
    if not path.is_file():
        raise DreamreelError(f"input is not a file: {path}", "give an image file")
    size = header_size(path)
    if size is None:
        raise DreamreelError(f"{path} is not an image that can be read", "give a PNG, JPEG, BMP, TIFF or WebP file")
    w, h = size
    if w * h > MAX_PIXELS:
        shown = f"{w}x{h}" if h > 1 else "more than 179 Mpx"
        raise DreamreelError(f"{path} is {shown}, more than the {MAX_PIXELS // 10**6} Mpx dreamreel reads",
                             "scale it down first, e.g. ffmpeg -i IN -vf scale=4000:-1 OUT.png")
    return w, h


def read_rgba(path: Path) -> tuple[Image, Image | None]:
    """An image file as RGB uint8 and its alpha (``HxW uint8``; None when it has none), or a one-line
    error saying why it cannot be read. OpenCV's colour decode turns EXIF orientation, CMYK,
    grey and 16 bits into upright 8-bit RGB; an image with transparency is decoded as it is
    stored (16 bits scaled to 8) so colour and alpha stay aligned."""
    _checked(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as e:
        raise DreamreelError(f"cannot read {path}: {e.strerror}", "check the file's permissions") from None
    raw = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size and _transparent(path) else None
    if raw is not None and raw.ndim == 3 and raw.shape[2] == 4:
        raw = (raw >> 8).astype(np.uint8) if raw.dtype == np.uint16 else raw
        return cv2.cvtColor(raw[..., :3], cv2.COLOR_BGR2RGB), raw[..., 3].copy()
    bgr = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if bgr is None:
        raise DreamreelError(f"{path} is not an image that can be read", "give a PNG, JPEG, BMP, TIFF or WebP file")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), None


def _transparent(path: Path) -> bool:
    """Whether the header says the image has transparency (alpha or a transparent palette entry)."""
    try:
        with PIL.Image.open(path) as im:
            return bool(im.has_transparency_data)
    except (OSError, ValueError, SyntaxError, PIL.Image.DecompressionBombError):
        return False


def over_background(image: Image, alpha: Image) -> Image:
    """`image` laid on `BACKGROUND` through `alpha`."""
    a = alpha[..., None].astype(np.float32) / 255.0
    return (image * a + np.array(BACKGROUND, np.float32) * (1.0 - a)).round().astype(np.uint8)


def read_image(path: Path) -> Image:
    """An image file as RGB uint8 (transparency laid on `BACKGROUND`), or a one-line error."""
    image, alpha = read_rgba(path)
    return image if alpha is None else over_background(image, alpha)


def fit(image: Image, size: int | None) -> Image:
    """Scale so the longest side is `size` (area filter down, cubic up); None keeps it."""
    h, w = image.shape[:2]
    if size is None or max(h, w) == size:
        return image
    k = size / max(h, w)
    dsize = (max(1, round(w * k)), max(1, round(h * k)))
    return cv2.resize(image, dsize, interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_CUBIC)


@dataclass(frozen=True)
class ImageSource:
    """One still image (the bundled sample when `path` is None); its alpha, if any, rides along
    untouched in `Frame.alpha` for the sinks to write back."""

    path: Path | None = None
    size: int | None = None
    frame_count: int = 1

    def __iter__(self) -> Iterator[Frame]:
        image, alpha = read_rgba(self.path or SAMPLE)
        image = fit(image, self.size)
        alpha = None if alpha is None else fit(alpha, self.size)
        yield Frame(0, image, image, alpha=alpha)


# --- video and frame folders -------------------------------------------------------
# A video is decoded by the bundled ffmpeg (`media.frames`) on a background thread into a bounded
# queue (`prefetched`), so decoding runs beside the compute and never holds the whole video.
# Frame ranges are exact: `start_frame`/`end_frame` are what the Ray splitter asks for.

VIDEO_EXTS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".gif", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")


def natural_key(path: Path) -> list[Any]:
    """`frame2.png` before `frame10.png`: digit runs compare as numbers."""
    return [int(p) if p.isdigit() else p.lower() for p in re.split(r"(\d+)", path.name)]


def even_fit(width: int, height: int, size: int | None) -> tuple[int, int]:
    """(w, h) with the longest side `size`, both even (H.264 yuv420p needs even sides)."""
    if size is None:
        return width, height
    k = size / max(width, height)
    return max(2, round(width * k / 2) * 2), max(2, round(height * k / 2) * 2)


def frame_range(fps: float, start: float | None, end: float | None, start_frame: int | None, end_frame: int | None,
                max_frames: int | None) -> tuple[int, int | None]:
    """[first, last) in frames at `fps` from seconds or frames (not both), capped at `max_frames`."""
    if start is not None and start_frame is not None or end is not None and end_frame is not None:
        raise DreamreelError("both seconds and frames given for the start or the end", "give one of them")
    first = start_frame if start_frame is not None else round((start or 0.0) * fps)
    last = end_frame if end_frame is not None else (round(end * fps) if end is not None else None)
    if max_frames is not None:
        last = first + max_frames if last is None else min(last, first + max_frames)
    if last is not None and last <= first:
        raise DreamreelError(f"empty frame range [{first}, {last})", "make the end later than the start")
    return first, last


@dataclass(frozen=True)
class VideoSource:
    """Frames of a video file, streamed; `fps` is the rate it is read (and must be written) at.

    Variable-frame-rate sources are resampled on read to one constant rate (`-vf fps=R`), so
    a sink writing at `fps` keeps the duration and the audio in sync. `start_frame` and
    `end_frame` (exclusive) are frame-exact at that rate (ffmpeg's accurate input seek: a
    chunk of a long video is ``VideoSource.open(path, start_frame=a, end_frame=b)``). The
    yielded `Frame`s are numbered from 0 within the range (resume and PNG-folder sinks count
    from 0); `iter_from(n)` starts at the range's n-th frame without decoding the ones before.
    """

    path: Path
    size: int | None = None
    start_frame: int = 0
    end_frame: int | None = None  # exclusive; None: to the end
    fps: float = 0.0  # 0: the source's rate
    meta: MediaInfo | None = None
    prefetch: int = 8

    @classmethod
    def open(cls, path: Path, size: int | None = None, start: float | None = None, end: float | None = None,
             start_frame: int | None = None, end_frame: int | None = None, max_frames: int | None = None,
             fps: float | None = None) -> VideoSource:
        """Probe `path` and turn seconds (`start`/`end`) or frames into an exact frame range."""
        meta = probe(path)
        if meta.fps <= 0:
            raise DreamreelError(f"video {path}: frame rate unknown", "re-encode it with a constant frame rate")
        rate = fps or meta.fps
        return cls(path, size, *frame_range(rate, start, end, start_frame, end_frame, max_frames), rate, meta)

    @property
    def frame_count(self) -> int:
        """Frames this source yields: exact for a bounded range, else estimated from the duration."""
        total = round(self.meta.duration * self.fps) if self.meta else 0
        end = self.end_frame if self.end_frame is not None else total
        return max(0, end - self.start_frame)

    @property
    def audio(self) -> Path | None:
        """The file whose audio a sink should lay under the frames (None: no audio)."""
        return self.path if self.meta and self.meta.has_audio else None

    @property
    def start_seconds(self) -> float:
        return self.start_frame / self.fps

    def _frames(self) -> Iterator[Image]:
        """Raw decode of [start_frame, end_frame) on the calling thread (`prefetched` runs it on its own)."""
        w, h = even_fit(*self.meta.size, self.size) if self.meta else (0, 0)
        vf = f"fps={self.fps!r}" + (f",scale={w}:{h}:flags=area" if self.size else "")
        out = ["-vf", vf, "-an", "-sn"]
        if self.end_frame is not None:
            out += ["-frames:v", str(self.end_frame - self.start_frame)]
        inp = ["-ss", f"{self.start_seconds:.6f}"] if self.start_frame else []
        return frames(self.path, inp, out)

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(0)

    def iter_from(self, skip: int) -> Iterator[Frame]:
        """Frames `skip`, `skip + 1`, ... of the range, seeking straight to the first (resume)."""
        if skip:
            end = self.end_frame
            if end is not None and self.start_frame + skip >= end:
                return
            yield from (replace(f, index=f.index + skip)
                        for f in replace(self, start_frame=self.start_frame + skip).iter_from(0))
            return
        n = -1
        try:
            for n, image in enumerate(prefetched(self._frames, self.prefetch)):
                yield Frame(n, image, image)
        except (OSError, RuntimeError) as e:
            raise DreamreelError(f"cannot decode {self.path} at frame {self.start_frame + n + 1}: {str(e).splitlines()[0]}",
                                 "check the file plays; re-encode it if it is damaged") from None
        if n < 0:
            raise DreamreelError(f"video {self.path} has no frames in [{self.start_frame}, {self.end_frame or 'end'})",
                                 "give a video with frames, or a start before its end")


@dataclass(frozen=True)
class FrameDirSource:
    """A folder of images in natural order (`f2.png` before `f10.png`), all of one size."""

    path: Path
    size: int | None = None
    start_frame: int = 0
    end_frame: int | None = None
    fps: float = 25.0
    audio: Path | None = None  # a folder of frames has no sound
    start_seconds: float = 0.0

    def files(self) -> list[Path]:
        files = sorted((p for p in self.path.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=natural_key)
        if not files:
            raise DreamreelError(f"no image files in {self.path}", f"put {', '.join(IMAGE_EXTS)} frames there")
        return files[self.start_frame:self.end_frame]

    @property
    def frame_count(self) -> int:
        return len(self.files())

    def check_sizes(self) -> None:
        """Refuse a folder of mixed sizes before any work (PNG headers are read, other formats decoded)."""
        files = self.files()
        first = image_size(files[0])
        for f in files[1:]:
            if (size := image_size(f)) != first:
                raise DreamreelError(f"frame {f.name} is {size[0]}x{size[1]}, the first is {first[0]}x{first[1]}",
                                     "make every frame in the folder the same size")

    def _frames(self, skip: int = 0) -> Iterator[Image]:
        first: tuple[int, ...] | None = None
        for f in self.files()[skip:]:
            image = read_image(f)
            if first is None:
                first = image.shape
            elif image.shape != first:
                raise DreamreelError(f"frame {f.name} is {image.shape[1]}x{image.shape[0]}, the first is {first[1]}x{first[0]}",
                                     "make every frame in the folder the same size")
            yield image

    def __iter__(self) -> Iterator[Frame]:
        return self.iter_from(0)

    def iter_from(self, skip: int) -> Iterator[Frame]:
        for n, image in enumerate(prefetched(lambda: self._frames(skip), 8), start=skip):
            if self.size:
                image = cv2.resize(image, even_fit(image.shape[1], image.shape[0], self.size), interpolation=cv2.INTER_AREA)
            yield Frame(n, image, image)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) of an image from its header (nothing decoded), within MAX_PIXELS."""
    return _checked(path)


def open_frames(path: Path, size: int | None = None, start: float | None = None, end: float | None = None,
                start_frame: int | None = None, end_frame: int | None = None, max_frames: int | None = None,
                fps: float | None = None) -> VideoSource | FrameDirSource:
    """A video file or a folder of frames, limited to a part (seconds or frames) and scaled to `size`."""
    if not path.is_dir():
        return VideoSource.open(path, size, start, end, start_frame, end_frame, max_frames, fps)
    rate = fps or 25.0
    first, last = frame_range(rate, start, end, start_frame, end_frame, max_frames)
    source = FrameDirSource(path, size, first, last, rate, start_seconds=first / rate)
    if not source.frame_count:
        raise DreamreelError(f"no frames in {path} from frame {first}", "give a start inside the folder's frames")
    source.check_sizes()
    return source
