"""Shared fixtures: tiny generated media, the real Lite0 net (and a copy on --device), torch's thread count (pinned,
one thread on request, put back after every test), an ERROR-log guard."""

from __future__ import annotations

import copy
import logging
import subprocess
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
import torch

from pipeline import models


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--device", default="cpu", help="cpu or cuda: where the dreaming tests run")


@pytest.fixture(scope="session", autouse=True)
def _pinned_threads() -> None:
    """DeepDream is chaotic: 1 vs 2 threads ends ~20 grey levels apart. Pin it for determinism."""
    torch.set_num_threads(2)


@pytest.fixture(autouse=True)
def _threads_put_back():
    """A render given `threads = 1` (`--threads 1`) sets torch's count for the whole process: every
    test hands the pinned count back to the next, pass or fail."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def one_thread() -> int:
    """Tiny frames run several times faster on one thread (measured 14 s vs 192 s for the demo zoom on a
    loaded 2-core box): torch runs on one for this test, and the value is what a config's `threads` takes."""
    torch.set_num_threads(1)
    return 1


@pytest.fixture(scope="session")
def device(request: pytest.FixtureRequest) -> torch.device:
    name = request.config.getoption("--device")
    if name == "cuda" and not torch.cuda.is_available():
        pytest.skip("--device cuda given but no CUDA GPU is visible")
    return torch.device(name)


@pytest.fixture(autouse=True)
def _no_error_logs(caplog: pytest.LogCaptureFixture):
    """Fail any test during which something logged an ERROR (PySceneDetect's guard)."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, f"ERROR logged: {errors[0].getMessage()}"


def make_image(size: int = 48, seed: int = 0) -> np.ndarray:
    """A small RGB test card: smooth colour ramps, a disc and a few random blobs."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([x, y, 1 - (x + y) / 2], -1) * 200 + 20
    for _ in range(4):
        cy, cx, r = rng.uniform(0.2, 0.8, 2).tolist() + [rng.uniform(0.08, 0.2)]
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 255, 3)
    return img.clip(0, 255).astype(np.uint8)


@pytest.fixture
def tiny_image() -> np.ndarray:
    return make_image(48)


@pytest.fixture
def tiny_png(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.png"
    cv2.imwrite(str(path), cv2.cvtColor(make_image(48), cv2.COLOR_RGB2BGR))
    return path


@pytest.fixture(scope="session")
def lite0() -> models.DreamNet:
    return models.load("efficientnet-lite0")


@pytest.fixture(scope="session")
def lite0_on_device(lite0: models.DreamNet, device: torch.device) -> models.DreamNet:
    """Lite0 on --device: a copy off the CPU, so no test moves the shared net (nor leaves it moved when it fails)."""
    return lite0 if device.type == "cpu" else copy.deepcopy(lite0).to(device)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def lavfi(path: Path, video: str, audio: str | None = None, *, audio_first: bool = False, acodec: str = "aac",
          vargs: tuple[str, ...] = ("-pix_fmt", "yuv420p"), then: tuple[str, ...] = ()) -> Path:
    """A clip made by ffmpeg's generators: `video` (and `audio`) are lavfi graphs; `audio_first` puts
    the audio stream before the picture (as some phones do); `then` are input options of a second,
    copying pass (e.g. ``-display_rotation 90``)."""
    ff = imageio_ffmpeg.get_ffmpeg_exe()
    streams = [("v", video)] + ([("a", audio)] if audio else [])
    streams = streams[::-1] if audio_first else streams
    inputs = [arg for _, graph in streams for arg in ("-f", "lavfi", "-i", graph)]
    maps = [arg for i, (kind, _) in enumerate(streams) for arg in ("-map", f"{i}:{kind}")]
    first = path.with_name("_" + path.name) if then else path
    subprocess.run([ff, "-v", "error", "-y", *inputs, *maps, "-c:a", acodec, "-c:v", "libx264", *vargs, str(first)], check=True)
    if then:
        subprocess.run([ff, "-v", "error", "-y", *then, "-i", str(first), "-c", "copy", str(path)], check=True)
        first.unlink()
    return path


def interrupted(monkeypatch: pytest.MonkeyPatch, stage: type, index: int, run) -> None:
    """Run `run()` as an interrupted render: `stage` raises KeyboardInterrupt (Ctrl-C) when frame
    `index` reaches it, then `stage` is put back for the resume that follows."""
    original = stage.__call__

    def crash(self, frame):
        if frame.index == index:
            raise KeyboardInterrupt
        return original(self, frame)

    monkeypatch.setattr(stage, "__call__", crash)
    with pytest.raises(KeyboardInterrupt):
        run()
    monkeypatch.setattr(stage, "__call__", original)
