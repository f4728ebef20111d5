"""A tiny 3-shot clip with audio for the scale-out tests: each shot a test card panning slowly."""

from __future__ import annotations

import wave
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from tests.conftest import make_image

FPS = 10
SHOT = 30  # frames per shot; cuts at 30 and 60
W, H = 64, 48


def frames(shots: int = 3) -> list[np.ndarray]:
    out = []
    for s in range(shots):
        card = cv2.GaussianBlur(make_image(112, seed=10 + s), (0, 0), 1.5)  # soft edges: flow the metric can trust
        out += [card[30: 30 + H, 4 + t: 4 + t + W] for t in range(SHOT)]  # a steady pan, 1 px a frame
    return out


def tone(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(rate * seconds)) / rate
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2").tobytes())
    return path


def make_clip(folder: Path, shots: int = 3) -> Path:
    """``clip.mp4``: `shots` x 30 frames at 10 fps, 64x48, near-lossless H.264, AAC audio."""
    images = frames(shots)
    wav = tone(folder / "tone.wav", len(images) / FPS)
    path = folder / "clip.mp4"
    gen = imageio_ffmpeg.write_frames(str(path), (W, H), fps=FPS, macro_block_size=1, quality=None, audio_path=str(wav),
                                      audio_codec="aac", output_params=["-crf", "4"], ffmpeg_log_level="error")
    gen.send(None)
    for image in images:
        gen.send(np.ascontiguousarray(image).tobytes())
    gen.close()
    return path
