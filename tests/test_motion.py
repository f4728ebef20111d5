import numpy as np
import pytest

from pipeline.frames import Carry, Frame
from pipeline.motion import ZoomFeedback, warp, zoom_matrix
from pipeline.schedule import Schedule
from tests.conftest import make_image


def centre(img: np.ndarray, k: float) -> np.ndarray:
    h, w = img.shape[:2]
    ch, cw = round(h / k), round(w / k)
    return img[(h - ch) // 2:(h + ch) // 2, (w - cw) // 2:(w + cw) // 2]


def test_zoom_enlarges_the_centre():
    img = make_image(64)
    out = warp(img, zoom_matrix(64, 64, 2.0))
    import cv2
    expected = cv2.resize(centre(img, 2.0), (64, 64), interpolation=cv2.INTER_CUBIC)
    assert np.abs(out.astype(int) - expected).mean() < 6
    assert np.abs(out.astype(int) - img).mean() > 15


def test_first_frame_passes_and_later_ones_transform_the_last_dream():
    img, dream = make_image(48, 0), make_image(48, 1)
    stage = ZoomFeedback(Schedule.parse("0:(1.0), 10:(1.5)"), Schedule.parse(10.0))
    assert stage(Frame(0, img, img)).image is img
    out = stage(Frame(10, img, img, Carry(img, dream))).image
    assert np.array_equal(out, warp(dream, zoom_matrix(48, 48, 1.5, 10.0)))


def test_reflected_border_leaves_no_black_wedges():
    img = np.full((48, 48, 3), 200, np.uint8)
    out = warp(img, zoom_matrix(48, 48, 0.8, 30.0, 5.0, -3.0))  # zoom out + rotate + shift
    assert out.min() == 200


@pytest.mark.parametrize("dx, dy", [(4, 0), (0, -3)])
def test_translation_moves_content(dx, dy):
    img = make_image(48)
    out = warp(img, zoom_matrix(48, 48, 1.0, 0.0, dx, dy))
    assert np.array_equal(out[10:30, 10:30], np.roll(img, (dy, dx), (0, 1))[10:30, 10:30])
