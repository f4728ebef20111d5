"""Segments: each finished chunk as a file under ``OUT.parts/segments/``, and the join.

A chunk leaves up to three pieces: ``main`` (the frames it alone owns, one file per output
kind), and lossless ``head``/``tail`` (its cross-fade frames and its last kept frames that
the next chunk fades over; see `plan`). The driver blends a tail with the next head into a
``fade`` segment. Every file is committed atomically (written under a partial name, then
renamed), so a chunk whose pieces all exist is finished: that is all resume needs. Segments carry
the codec of the final output (H.264 for MP4, VP9 for WebM) so ffmpeg's concat demuxer
joins them without re-encoding; an MKV gets lossless FFV1 (a master for editing), and a
GIF is joined from those FFV1 segments and gets one palette pass over the whole clip.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from ..errors import DreamreelError
from ..frames import Image
from ..mux import Audio, lay
from ..media import FFV1, PALETTE, Encoder, encoder, ffmpeg_exe
from ..sinks import committed
from .layout import Chunk


SegmentKind = Encoder  # a chunk's segments are encoded as the output is (`media.ENCODERS`)
KINDS = (".mp4", ".webm", ".mkv", ".gif")  # a GIF is joined from lossless FFV1 segments, then one palette pass
Piece = tuple[str, SegmentKind]  # (role, kind): role is main, head, tail or fade


def pieces(chunk: Chunk, kinds: Sequence[SegmentKind]) -> list[Piece]:
    """What a chunk's renderer writes: main per output kind, lossless head and tail if it fades."""
    return [("main", k) for k in kinds] + [(r, FFV1) for r, n in (("head", chunk.fade_in), ("tail", chunk.fade_out)) if n]


def kind_for(path: Path, crf: int = 18) -> SegmentKind:
    """The segment encoding for an output: the output's own codec, so the concat is a copy."""
    ext = path.suffix.lower()
    if ext not in KINDS:
        raise DreamreelError(f"--engine ray cannot write {path.name!r}", f"use one of {', '.join(KINDS)}")
    return FFV1 if ext == ".gif" else encoder(ext, crf, seams=True)


def fingerprint(*parts: object) -> str:
    """A short stable hash of the recipe: segments of a changed recipe are never reused."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:10]


@dataclass(frozen=True)
class Segments:
    """``OUT.parts/``: the finished segments of one render, named by chunk and recipe."""

    root: Path
    key: str

    def path(self, chunk: Chunk, piece: Piece) -> Path:
        role, kind = piece
        return self.root / "segments" / f"{chunk.name}-{self.key}.{role}{kind.ext}"

    def paths(self, chunk: Chunk, kinds: Sequence[SegmentKind]) -> list[Path]:
        return [self.path(chunk, p) for p in pieces(chunk, kinds)]

    def is_finished(self, chunk: Chunk, kinds: Sequence[SegmentKind]) -> bool:
        return all(p.is_file() for p in self.paths(chunk, kinds))

    def commit(self, path: Path, data: bytes) -> None:
        """Store a piece rendered elsewhere (a Ray worker); atomic like every sink."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with committed(path) as partial:
            partial.write_bytes(data)

    def has_segments(self) -> bool:
        folder = self.root / "segments"
        return folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.iterdir())

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class SegmentWriter:
    """Encode one chunk's kept frames to `path` (committed on a clean exit, removed on error)."""

    def __init__(self, path: Path, kind: SegmentKind, fps: float) -> None:
        self.path, self.kind, self.fps = path, kind, fps
        self._commit = committed(path)
        self._gen = None

    def __enter__(self) -> SegmentWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self._commit.__enter__()
        return self

    def write(self, image: Image) -> None:
        if self._gen is None:
            h, w = image.shape[:2]
            self._gen = imageio_ffmpeg.write_frames(
                str(self._partial), (w, h), fps=self.fps, codec=self.kind.codec, pix_fmt_out=self.kind.pix_fmt,
                quality=None, macro_block_size=1, output_params=list(self.kind.params), ffmpeg_log_level="error")
            self._gen.send(None)
        self._gen.send(image.tobytes())

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> None:
        if self._gen is not None:
            self._gen.close()
        self._commit.__exit__(exc_type, exc, tb)


def read_lossless(path: Path) -> list[Image]:
    """The frames of a lossless head or tail piece (a few frames, read whole)."""
    gen = imageio_ffmpeg.read_frames(str(path))
    w, h = next(gen)["size"]
    return [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in gen]


def cross_fade(tail: Sequence[Image], head: Sequence[Image]) -> list[Image]:
    """Frame j: (1 - w) of the old chain + w of the new, w rising to the seam along a smoothstep.

    The two chains are different dreams, so every fade frame moves by (change in w) x (new - old)
    on top of the chains' own frame-to-frame change. Mid-fade, blending two independent chains
    halves that own change; at the fade's ends it is whole. A smoothstep puts the change in w
    where the blend hides it: on real clips the worst pair around a seam fell from ... (linear).
    """
    n = len(tail)
    weights = [3 * x * x - 2 * x * x * x for x in ((j + 1) / (n + 1) for j in range(n))]
    return [cv2.addWeighted(a, 1 - w, b, w, 0.0) for w, a, b in zip(weights, tail, head)]


def write_fade(path: Path, tail: Path, head: Path, kind: SegmentKind, fps: float) -> None:
    """The fade segment of one seam, encoded like the main segments so the concat stays a copy."""
    with SegmentWriter(path, kind, fps) as out:
        for image in cross_fade(read_lossless(tail), read_lossless(head)):
            out.write(image)


def _ffmpeg(args: list[str], what: str) -> None:
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode:
        tail = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise DreamreelError(f"ffmpeg could not {what}: {tail}", FIX)


FIX = "check the segments under OUT.parts/ or delete them to re-render"


@contextmanager
def _concat_list(segments: Sequence[Path]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dreamreel-join-") as tmp:
        listing = Path(tmp) / "segments.txt"
        lines = ["file '" + str(p.resolve()).replace("'", r"'\''") + "'" for p in segments]
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield listing


def join(segments: Sequence[Path], output: Path, audio: Audio | None) -> None:
    """Concatenate `segments` into `output` without re-encoding the video; audio laid back on."""
    kind = kind_for(output)  # crf does not matter here: only the audio rule is read
    with _concat_list(segments) as listing, committed(output) as partial:
        head = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        if output.suffix.lower() == ".gif":
            _ffmpeg([*head, "-filter_complex", PALETTE, "-loop", "0", str(partial)], f"write {output.name}")
            return
        tail = ["-movflags", "+faststart"] if output.suffix.lower() == ".mp4" else []
        lay(head, audio, tail, partial, output, encoder=str(kind.audio_codec), copyable=kind.audio, fix=FIX)
