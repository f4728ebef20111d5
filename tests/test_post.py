
import cv2
import numpy as np
import pytest

from pipeline import presets
from pipeline.frames import Frame
from pipeline.post import Drift, lab_stats, match_lab
from tests.conftest import make_image, read_rgb

from pipeline.renderer import render


def grey(img: np.ndarray) -> float:
    return float(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).mean())


def test_match_lab_moves_statistics_to_the_reference():
    ref = make_image(48, 0)
    washed = (make_image(48, 1) * 0.4 + 150).astype(np.uint8)  # bright, low contrast
    out = match_lab(washed, ref)
    (m, s), (rm, rs) = lab_stats(out), lab_stats(ref)
    assert np.allclose(m, rm, atol=1.5) and np.allclose(s, rs, rtol=0.1)
    half = match_lab(washed, ref, 0.5)
    assert abs(grey(half) - (grey(washed) + grey(out)) / 2) < 3


def test_decay_pulls_toward_the_source():
    src, dream = make_image(48, 0), make_image(48, 1)
    out = Drift(0.0, 0.25)(Frame(0, src, dream)).image
    assert np.abs(out.astype(int) - (0.75 * dream + 0.25 * src)).max() <= 1


def test_300_zoom_frames_keep_mean_brightness_within_10_grey_levels(tmp_path, one_thread):
    """The issue's bar, on the real loop with the zoom preset's drift control (48 px, 1 octave,
    1 step: ~2 s on one thread). Without drift control the same loop ends ~30 grey levels off."""
    for preset in ("zoom", "zoom-spiral"):
        assert presets.load(preset).post.drift > 0, "drift control is on in the zoom presets"
    cfg = presets.load("zoom", {"threads": one_thread, "source": {"size": 48, "frames": 300},
                                "dream": {"octaves": 1, "steps": 1}, "output": {"paths": [str(tmp_path / "f") + "/"]}})
    render(cfg, quiet=True)
    means = np.array([grey(read_rgb(p)) for p in sorted((tmp_path / "f").iterdir())])
    assert len(means) == 300 and np.abs(means - means[0]).max() < 10


# --- video: mean-only colour anchoring ---


def test_mean_only_anchoring_keeps_the_dreams_spread():
    src = make_image(48, 0)
    dream = np.clip(src.astype(int) * 1.6 - 60 + 25, 0, 255).astype(np.uint8)  # more contrast, brighter
    out = Drift(1.0, spread=False)(Frame(0, src, dream)).image
    (m_out, s_out), (m_src, _), (_, s_dream) = lab_stats(out), lab_stats(src), lab_stats(dream)
    assert abs(m_out[0] - m_src[0]) < 1.0  # brightness anchored
    assert abs(s_out[0] - s_dream[0]) < 0.1 * s_dream[0]  # contrast kept
