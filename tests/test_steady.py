"""Long-term consistency and held pixels (`pipeline.steady`) on tiny generated clips."""

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks import clips
from cli import app
from pipeline import metrics, presets, steady
from pipeline.errors import DreamreelError
from pipeline.frames import Frame
from tests.conftest import read_rgb

runner = CliRunner()


def test_history_keeps_as_many_earlier_frames_as_offsets_at_about_their_ages():
    history = steady.History((1, 2, 4, 8))
    carry = None
    img = np.zeros((4, 4, 3), np.uint8)
    ages = []
    for t in range(40):
        carry = history(Frame(t, img + t, img + t, carry))
        assert carry.source[0, 0, 0] == t and (carry.past_index is None or len(carry.past_index) <= 3)
        assert carry.past_index is None or all(carry.past_sources[i, 0, 0, 0] == k for i, k in enumerate(carry.past_index))
        ages.append([t + 1 - k for k in carry.past_index] if carry.past_index is not None else [])
    assert all(a[0] == 2 and 3 <= a[1] <= 4 and 5 <= a[2] <= 8 for a in ages[8:])  # the next frame also sees age 1
    assert steady.History((1,))(Frame(5, img, img, carry)).past_index is None


def test_history_at_a_dream_size_keeps_earlier_frames_small_and_gives_them_back_at_full_size():
    history, carry = steady.History((1, 2, 4), size=24), None
    frames = [np.random.default_rng(t).integers(0, 256, (48, 64, 3), dtype=np.uint8) for t in range(6)]
    for t, img in enumerate(frames):
        carry = history(Frame(t, img, img, carry))
    assert carry.source is frames[5] and carry.past_sources.shape == (2, 24, 32, 3)  # the last frame whole, the rest small
    earlier = steady.earlier_frames(carry, 6)
    assert [i for i, _, _ in earlier] == [5, *carry.past_index] and all(s.shape == (48, 64, 3) for _, s, _ in earlier)
    for (i, source, _), small in zip(earlier[1:], carry.past_sources):
        assert np.abs(cv2.resize(source, (32, 24), interpolation=cv2.INTER_AREA).astype(int) - small).mean() < 12
        assert np.abs(source.astype(int) - frames[i]).mean() > 20  # detail above the dream size is gone: it was noise


def fake_dreams(clip: list[np.ndarray]) -> list[np.ndarray]:
    """'Dreams' pinned to the scene: one pattern on the background wherever it shows, another on the square."""
    rng = np.random.default_rng(0)
    background, square = rng.integers(-30, 31, (2, *clip[0].shape))
    return [np.clip(f.astype(int) + np.where((f == clip[0]).all(-1, keepdims=True), background, square), 0, 255).astype(np.uint8)
            for f in clip]


def test_background_uncovered_by_a_passing_object_gets_its_earlier_dream_back():
    clip = clips.crossing(20, 128, 96)  # a 32 px square moving right ~10.7 px a frame (x0 = 43 at t-1, 53 at t)
    dreams = fake_dreams(clip)
    t = 8
    strip = np.s_[36:60, 45:51]  # background at t, hidden under the square at t-1 and t-2, visible at t-4
    truth = dreams[0].astype(np.float32)[strip] - clip[0][strip]
    found = {}
    for name, back in (("t-1 only", [1]), ("long-term", [1, 2, 4, 8])):
        residual, held, _, _ = steady.carried(clip[t], [(clip[t - j], dreams[t - j]) for j in back])
        found[name] = (np.abs(residual[strip] - truth).mean(), held[strip].mean())
    assert found["long-term"][0] < 0.6 * found["t-1 only"][0] and found["long-term"][1] > 0.8, found
    assert found["t-1 only"][1] < 0.1, found


def test_still_pixels_are_copied_not_resampled():
    still = clips.occluder(2, 64, 48)[0]
    field = np.full(still.shape[:2] + (2,), 0.15, np.float32)  # flow noise on a still frame
    assert not steady.settled(field, still, still).any()
    moved = np.roll(still, 3, 1)
    assert np.abs(steady.settled(field, still, moved)).max() > 0.1  # changed pixels keep their flow


def test_static_background_holds_still_and_evolve_lets_it_move(tmp_path):
    clip = clips.write_mp4(tmp_path / "occ.mp4", clips.occluder(10, 64, 48), fps=12)
    boil = {}
    for evolve in (0.0, 1.0):
        out = tmp_path / f"e{evolve}"
        result = runner.invoke(app, ["video", str(clip), "-o", f"{out}/", "--octaves", "1", "--steps", "3",
                                     "--quiet", "--threads", "1", "--evolve", str(evolve)])
        assert result.exit_code == 0, result.output
        frames = [read_rgb(p) for p in sorted(out.glob("*.png"))]
        sources = [f.source for f in metrics.open_frames(clip)]
        boil[evolve] = metrics.boil(zip(sources, frames))
    assert boil[0.0] < 0.5 * boil[1.0] and boil[0.0] < 2.0, boil


@pytest.mark.parametrize("offsets", [[2, 4], [1, 4, 2], [], [1] * 9])
def test_long_term_offsets_rise_from_one(offsets):
    with pytest.raises(DreamreelError, match="long_term"):
        presets.load("video", {"video": {"long_term": offsets}})
