"""Flow on frames with known motion: the shift is found, warping lines frames up, occlusions are masked."""

import numpy as np
import pytest

from benchmarks import clips
from pipeline import flow


@pytest.mark.parametrize("method", flow.METHODS)
def test_a_pan_is_found_and_warp_lines_the_frames_up(method):
    a, b = clips.camera(2, 96, 72, pan=3.0)  # the camera moves right: content moves 3 px left
    field, reliable = flow.track(a, b, method)
    assert np.median(field[..., 0][reliable]) == pytest.approx(3.0, abs=0.3)
    before = np.abs(a.astype(int) - b).mean()
    after = np.abs(flow.warp(a, field).astype(int) - b)[reliable].mean()
    assert after < before / 3


def test_the_entering_edge_and_an_uncovered_strip_are_unreliable():
    clip = clips.occluder(6, 96, 72, speed=4.0)  # a 24 px square at rows 24-47, x0 = 4 + 4t
    _, reliable = flow.track(clip[2], clip[3])
    assert reliable.mean() > 0.9  # the still background and the square itself are tracked
    assert (~reliable[26:46, 12:16]).mean() > 0.5  # background the square just uncovered: not in the last frame
    a, b = clips.camera(2, 96, 72, pan=3.0)
    _, reliable = flow.track(a, b)
    assert not reliable[:, -2:].any()  # pulled from outside the frame


def test_frames_of_different_size_are_refused():
    with pytest.raises(ValueError, match="differ"):
        flow.track(np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8))
