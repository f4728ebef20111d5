"""Dream size (`pipeline.dreamsize`): the ascent at a small size, the residual back edge-aware."""

from dataclasses import dataclass, replace

import cv2
import numpy as np
from typer.testing import CliRunner

from benchmarks import clips
from cli import app
from pipeline import dreamsize
from pipeline.frames import Frame
from pipeline.sources import VideoSource
from tests.conftest import read_rgb

runner = CliRunner()


def scene(w: int = 256, h: int = 192) -> np.ndarray:
    """The photo with sharp-edged shapes drawn at full size (detail the small size cannot hold)."""
    img = cv2.resize(clips.photo(), (w, h), interpolation=cv2.INTER_AREA)
    for i in range(6):
        cv2.rectangle(img, (10 + 14 * i, 120), (16 + 14 * i, 180), (250, 250, 240) if i % 2 else (20, 30, 40), -1)
    cv2.circle(img, (190, 60), 35, (200, 40, 40), -1)
    return img


def colour_change(image: np.ndarray) -> np.ndarray:
    x = image.astype(np.float32)
    return x[..., [1, 2, 0]] - x  # channels swapped: a residual that follows every edge of the frame


def test_edge_aware_follows_the_frame_edges_better_than_bicubic_and_keeps_the_dream():
    full = scene()
    small_wh = dreamsize.small_size(*full.shape[:2], 48)
    truth = colour_change(full)
    small = colour_change(dreamsize.shrink(full, small_wh))
    error = {e: np.abs(dreamsize.upsample(small, full, e) - truth).mean() for e in (False, True)}
    assert error[True] < 0.8 * error[False], error
    texture = cv2.GaussianBlur(np.random.default_rng(0).normal(0, 20, (*small.shape[:2], 3)).astype(np.float32), (0, 0), 1.0)
    back = dreamsize.shrink(dreamsize.upsample(texture, full, True), small_wh)
    assert np.abs(back - texture).mean() < 0.15 * np.abs(texture).mean()  # the dream's own texture survives


@dataclass(frozen=True)
class Brighten:
    """A stand-in dreamer that records the size it saw and adds +20 to its frame."""

    seen: list

    def __call__(self, frame: Frame) -> Frame:
        self.seen.append((frame.image.shape, frame.source.shape, None if frame.weight is None else frame.weight.shape))
        return replace(frame, image=np.clip(frame.image.astype(int) + 20, 0, 255).astype(np.uint8))


def test_the_inner_stage_runs_at_dream_size_and_its_residual_lands_at_full_size():
    full = scene()
    seen: list = []
    stage = dreamsize.AtDreamSize(Brighten(seen), 48)
    out = stage(Frame(3, full, full, weight=np.ones(full.shape[:2], np.float32)))
    assert seen == [((48, 64, 3), (48, 64, 3), (48, 64))]
    assert out.image.shape == full.shape and out.source is full and out.weight.shape == full.shape[:2]
    lifted = (out.image.astype(int) - full)[full.max(-1) < 200]  # away from clipping at white
    assert abs(lifted.mean() - 20) < 1.0
    tiny = cv2.resize(full, (40, 30))
    stage(Frame(0, tiny, tiny))
    assert seen[-1][0] == (30, 40, 3)  # already small: dreamed as it is


def unexplained(out: np.ndarray, source: np.ndarray, size: int) -> float:
    """The share of the dream's residual (out - source) that its own copy at dream size, brought back
    by `upsample`, does not explain: ~0.2 for a dream made at `size`, 0.6-0.95 for one made at full size
    (its texture has detail the small size cannot hold)."""
    residual = out.astype(np.float32) - source
    small = dreamsize.shrink(residual, dreamsize.small_size(*source.shape[:2], size))
    return float(np.abs(dreamsize.upsample(small, source) - residual).mean() / np.abs(residual).mean())


def test_dream_size_on_the_command_line_dreams_small_and_keeps_the_output_size(tmp_path):
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), cv2.cvtColor(scene(), cv2.COLOR_RGB2BGR))
    out = tmp_path / "out.png"
    result = runner.invoke(app, ["dream", str(src), "-o", str(out), "--dream-size", "48", "--octaves", "1",
                                 "--steps", "2", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    image = read_rgb(out)
    assert image.shape == (192, 256, 3) and np.abs(image.astype(int) - scene()).mean() > 1.0
    assert unexplained(image, scene(), 48) < 0.4  # measured 0.19 (0.95 when the flag is ignored)


def test_a_video_dreams_small_and_writes_full_size_frames(tmp_path):
    clip = clips.write_mp4(tmp_path / "pan.mp4", clips.CLIPS["handheld"](5, 96, 64), fps=12)
    result = runner.invoke(app, ["video", str(clip), "-o", f"{tmp_path}/out/", "--dream-size", "32", "--octaves", "1",
                                 "--steps", "2", "--quiet", "--threads", "1"])
    assert result.exit_code == 0, result.output
    frames = [read_rgb(p) for p in sorted((tmp_path / "out").glob("*.png"))]
    assert len(frames) == 5 and all(f.shape == (64, 96, 3) for f in frames)
    sources = [f.image for f in VideoSource.open(clip)]
    shares = [unexplained(f, s, 32) for f, s in zip(frames, sources, strict=True)]
    assert max(shares) < 0.45, shares  # measured 0.17-0.30 (0.64-0.77 when the flag is ignored)
