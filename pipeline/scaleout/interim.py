"""Stand-ins for the video pieces (issue 6) that the chunk renderer needs.

SWAP: when the video branch lands, replace `probe`/`read_range` with its `VideoSource`
(frame-range seeking), `scene_cuts` with its scenedetect-based detector, `WarpCarry` with
its flow feedback stage, and `warp_errors` with `pipeline.metrics.warp_error`. Each is kept
minimal and has the same shape as what replaces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from ..errors import DreamreelError
from ..frames import Frame, Image
from ..sources import fit


@dataclass(frozen=True, slots=True)
class VideoMeta:
    fps: float
    frame_count: int
    size: tuple[int, int]  # (w, h) as decoded, before `fit`
    audio_codec: str | None


def probe(path: Path) -> VideoMeta:
    """fps, exact frame count, size and audio codec of a constant-rate video."""
    if not path.is_file():
        raise DreamreelError(f"input not found: {path}", "check the path")
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        reader.close()
        count, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    except (OSError, RuntimeError, StopIteration) as e:
        raise DreamreelError(f"{path} is not a video that can be read ({str(e).strip().splitlines()[-1][:80]})",
                             "give an MP4, MOV, MKV or WebM file") from None
    if not count:
        raise DreamreelError(f"{path} has no video frames", "give a video with at least one frame")
    return VideoMeta(float(meta["fps"]), int(count), tuple(meta["size"]), meta.get("audio_codec"))


def read_range(path: Path, fps: float, first: int, end: int, size: int | None) -> Iterator[Frame]:
    """Frames ``[first, end)`` of `path`, seeking straight to `first` (exact on constant-rate input)."""
    seek = ["-ss", f"{first / fps:.6f}"] if first else []
    reader = imageio_ffmpeg.read_frames(str(path), input_params=seek, output_params=["-frames:v", str(end - first)])
    try:
        w, h = next(reader)["size"]
        for index, raw in enumerate(reader, start=first):
            image = fit(np.frombuffer(raw, np.uint8).reshape(h, w, 3).copy(), size)
            yield Frame(index, image, image)
    finally:
        reader.close()


def _thumb(image: Image) -> np.ndarray:
    return cv2.resize(cv2.cvtColor(image, cv2.COLOR_RGB2HSV), (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32)


def scene_cuts(path: Path, fps: float, frame_count: int, threshold: float = 30.0) -> list[int]:
    """First frames of new shots: mean HSV change between thumbnails above `threshold` (0-255)."""
    cuts, last = [], None
    for frame in read_range(path, fps, 0, frame_count, 128):
        thumb = _thumb(frame.source)
        if last is not None and np.abs(thumb - last).mean() > threshold:
            cuts.append(frame.index)
        last = thumb
    return cuts


def _grey(image: Image) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)


def backward_flow(prev: Image, cur: Image) -> tuple[np.ndarray, np.ndarray]:
    """Flow from `cur` to `prev` on the inputs, and where it is reliable (forward-backward check)."""
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    back = dis.calc(_grey(cur), _grey(prev), None)
    fwd = dis.calc(_grey(prev), _grey(cur), None)
    round_trip = back + warp(fwd, back)
    reliable = (round_trip**2).sum(-1) < 0.01 * ((back**2).sum(-1) + (fwd**2).sum(-1)) + 0.5
    return back, reliable


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Sample `image` at each pixel plus `flow` (bilinear, edges replicated)."""
    h, w = flow.shape[:2]
    grid = np.stack(np.meshgrid(np.arange(w), np.arange(h)), -1).astype(np.float32) + flow
    return cv2.remap(image, grid[..., 0], grid[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@dataclass(frozen=True)
class WarpCarry:
    """Carry the previous dream along the flow of the inputs; the new frame where flow fails."""

    keep: float = 0.95  # share of the warped dream kept where the flow is reliable

    def __call__(self, frame: Frame) -> Frame:
        if frame.carry is None:
            return frame
        flow, reliable = backward_flow(frame.carry.source, frame.source)
        carried = cv2.addWeighted(warp(frame.carry.dream, flow), self.keep, frame.source, 1.0 - self.keep, 0.0)
        return replace(frame, image=np.where(reliable[..., None], carried, frame.source))


def warp_error(prev_source: Image, source: Image, prev_out: Image, out: Image) -> float:
    """Temporal warping error of one pair (Lai et al.): MSE of out vs warped prev_out where flow holds."""
    flow, reliable = backward_flow(prev_source, source)
    diff = (warp(prev_out, flow).astype(np.float32) - out.astype(np.float32)) ** 2
    return float(diff[reliable].mean()) if reliable.any() else 0.0
