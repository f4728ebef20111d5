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
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DreamreelError
from ..frames import Image
from ..mux import Audio, lay
from ..media import ENCODERS, FFV1, Encoder, Ffmpeg, encoder, frames, raw_input, run
from ..sinks import committed
from .layout import Chunk


SegmentKind = Encoder  # a chunk's segments are encoded as the output is (`media.ENCODERS`)
KINDS = tuple(ENCODERS)  # a GIF is joined from lossless FFV1 segments, then one palette pass
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
class Key:
    """A shot's keyframe: its first frame's input and finished dream, dreamed once for the whole
    shot and handed to every chunk of it (`layout.Chunk.key`)."""

    index: int
    source: Image
    dream: Image


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

    def key_path(self, index: int) -> Path:
        return self.root / "keys" / f"k{index:07d}-{self.key}.npz"

    def read_key(self, index: int) -> Key | None:
        """A keyframe stored by an earlier run of the same recipe (None: not there, or damaged)."""
        try:
            with np.load(self.key_path(index)) as saved:
                return Key(index, saved["source"], saved["dream"])
        except (OSError, ValueError, KeyError):
            return None

    def store_key(self, key: Key) -> None:
        """Keep a keyframe for reruns (lossless, atomic like every piece)."""
        path = self.key_path(key.index)
        path.parent.mkdir(parents=True, exist_ok=True)
        with committed(path) as partial, partial.open("wb") as f:
            np.savez(f, source=key.source, dream=key.dream)

    def has_segments(self) -> bool:
        folder = self.root / "segments"
        return folder.is_dir() and any(p.is_file() and not p.name.startswith(".") for p in folder.iterdir())

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class SegmentWriter:
    """Encode one chunk's kept frames to `path` (committed on a clean exit, removed on error).
    A segment is only read back by the join: no container flags (`Encoder.args` alone)."""

    def __init__(self, path: Path, kind: SegmentKind, fps: float) -> None:
        self.path, self.kind, self.fps = path, kind, fps
        self._commit = committed(path)
        self._ffmpeg: Ffmpeg | None = None

    def __enter__(self) -> SegmentWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._partial = self._commit.__enter__()
        return self

    def write(self, image: Image) -> None:
        if self._ffmpeg is None:
            h, w = image.shape[:2]
            self._ffmpeg = Ffmpeg([*raw_input(w, h, self.fps), *self.kind.args(), str(self._partial)],
                                  f"ffmpeg could not write {self.path.name}", FIX, output=self.path, feed=True)
        self._ffmpeg.write(np.ascontiguousarray(image).data)

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        try:
            if self._ffmpeg is not None and exc_type is None:
                self._ffmpeg.close()  # waits for the whole file; its failure is raised
            elif self._ffmpeg is not None:
                self._ffmpeg.kill()
        except BaseException as e:
            self._commit.__exit__(type(e), e, e.__traceback__)
            raise
        self._commit.__exit__(exc_type, exc, tb)


def read_lossless(path: Path) -> list[Image]:
    """The frames of a lossless head or tail piece (a few frames, read whole)."""
    return list(frames(path))


def cross_fade(tail: Sequence[Image], head: Sequence[Image], sources: Sequence[Image]) -> list[Image]:
    """Frame j: (1 - w) of the old chain's dream + w of the new one's, w rising to the seam along a
    smoothstep, blended as residuals over the source frame and lifted back to the strength the two
    have there.

    The two chains are different dreams. A plain mix of two unrelated patterns is weaker than
    either (on a real clip the strength sagged from 22 to 17 mid-fade, and every fade showed as
    a dip), so the mixed residual is scaled to (1 - w) x |old| + w x |new|. And every fade frame
    moves by (change in w) x (new - old) on top of the chains' own change: the smoothstep puts the
    change in w mid-fade, away from the fade's ends, where the worst pair was (real clips: worst
    pair around a seam 1.52-1.56x the median pair with a linear fade, 1.30-1.34x with this; the
    one-process render has 1.34-1.35x in the same places, `python -m benchmarks.seams`).
    Where the two chains agree (what a shot holds still keeps its key's dream in both, `layout`),
    the pixels are left as they are: only where they differ is the strength made up.
    """
    n = len(tail)
    out = []
    for j, (a, b, src) in enumerate(zip(tail, head, sources, strict=True)):
        x = (j + 1) / (n + 1)
        w = 3 * x * x - 2 * x * x * x
        base = src.astype(np.float32)
        old, new = a.astype(np.float32) - base, b.astype(np.float32) - base
        mixed = (1 - w) * old + w * new
        target = (1 - w) * float(np.abs(old).sum()) + w * float(np.abs(new).sum())
        differ = (a != b).any(-1)
        same, apart = float(np.abs(mixed[~differ]).sum()), float(np.abs(mixed[differ]).sum())
        if apart > 1e-6:
            mixed[differ] *= max(0.0, target - same) / apart
        out.append(np.clip(base + mixed + 0.5, 0, 255).astype(np.uint8))
    return out


def write_fades(paths: Sequence[tuple[Path, SegmentKind]], tail: Path, head: Path, sources: Sequence[Image],
                fps: float) -> None:
    """One seam's fade, blended once and encoded for each (path, kind) of `paths`, like the main
    segments of that kind so the concat stays a copy."""
    faded = cross_fade(read_lossless(tail), read_lossless(head), sources)
    for path, kind in paths:
        with SegmentWriter(path, kind, fps) as out:
            for image in faded:
                out.write(image)


FIX = "check the segments under OUT.parts/ or delete them to re-render"


@contextmanager
def _concat_list(segments: Sequence[Path]) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="dreamreel-join-") as tmp:
        listing = Path(tmp) / "segments.txt"
        lines = ["file '" + str(p.resolve()).replace("'", r"'\''") + "'" for p in segments]
        listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
        yield listing


def join(segments: Sequence[Path], output: Path, audio: Audio | None) -> None:
    """Concatenate `segments` into `output` without re-encoding the video (segments in another
    codec than the output's, a GIF's, get their one encoding pass here); audio laid back on."""
    final = encoder(output.suffix)  # crf does not matter: only the container's flags and audio rule are read
    with _concat_list(segments) as listing, committed(output) as partial:
        head = ["-f", "concat", "-safe", "0", "-i", str(listing)]
        if kind_for(output).codec != final.codec:
            run([*head, *final.args(), *final.container, str(partial)], f"ffmpeg could not write {output.name}", FIX,
                output=output)
        else:
            lay(head, audio, partial, output, final, fix=FIX)
