"""Warping error and dream strength on clips whose answer is known."""

import cv2
import numpy as np

from benchmarks import clips
from pipeline import metrics


def test_strength_is_the_mean_absolute_difference():
    a = np.zeros((4, 4, 3), np.uint8)
    assert metrics.dream_strength(a, a) == 0.0
    assert metrics.dream_strength(a + 10, a) == 10.0


def test_a_pan_has_a_near_zero_floor_and_flicker_raises_the_error():
    clip = clips.CLIPS["pan"](6, 64, 48)
    rng = np.random.default_rng(0)
    flicker = [np.clip(f.astype(int) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8) for f in clip]
    steady = [np.clip(f.astype(int) + 20, 0, 255).astype(np.uint8) for f in clip]  # same offset every frame
    q_flicker = metrics.quality(zip(clip, flicker, strict=True))
    q_steady = metrics.quality(zip(clip, steady, strict=True))
    assert q_flicker.e_in == q_steady.e_in < 1e-4 and q_flicker.frames == 6
    assert q_steady.e_out < 2e-4 and q_flicker.e_out > 100 * q_steady.e_out
    assert metrics.warp_error(steady, clip) == q_steady.e_out


def test_outputs_at_another_size_are_compared_with_the_input_scaled():
    clip = clips.CLIPS["pan"](3, 64, 48)
    small = [cv2.resize(f, (32, 24), interpolation=cv2.INTER_AREA) for f in clip]
    assert metrics.quality(zip(clip, small, strict=True)).strength < 0.5
