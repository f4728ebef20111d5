"""Motion stages: zoom feedback (schedules) and the video stages (cuts, flow feedback, strength hold)."""

from dataclasses import replace

import numpy as np
import pytest

from benchmarks import clips
from pipeline import flow
from pipeline.frames import Carry, Frame
from pipeline.motion import FlowFeedback, SceneCut, ZoomFeedback, is_cut, warp, zoom_matrix
from pipeline.post import HoldStrength
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


# --- video stages ---


def frame(source, carry=None, image=None):
    return Frame(1, source, source if image is None else image, carry)


def dream_of(image: np.ndarray) -> np.ndarray:
    """A fake dream: a fixed pattern laid over the image (its 'residual')."""
    yy, xx = np.mgrid[0:image.shape[0], 0:image.shape[1]]
    return np.clip(image.astype(int) + (((yy // 4 + xx // 4) % 2) * 40 - 20)[..., None], 0, 255).astype(np.uint8)


def test_a_hard_cut_drops_the_carry_and_a_pan_does_not():
    clip = clips.cut(6, 64, 48, at=3)
    cuts = [i for i in range(1, 6) if is_cut(clip[i - 1], clip[i])]
    assert cuts == [3]
    carry = Carry(clip[2], clip[2])
    assert SceneCut()(frame(clip[3], carry)).carry is None
    assert SceneCut()(frame(clip[2], Carry(clip[1], clip[1]))).carry is not None
    assert SceneCut(threshold=0)(frame(clip[3], carry)).carry is carry  # 0: off


def test_no_carry_passes_the_frame_through():
    src = clips.CLIPS["pan"](1, 64, 48)[0]
    f = frame(src)
    assert FlowFeedback()(f) is f and HoldStrength()(f) is f


def test_the_dream_follows_the_motion_and_occlusions_fall_back_to_the_new_frame_or_stay():
    a, b = clips.occluder(4, 96, 72, speed=4.0)[2:4]
    out = FlowFeedback(blend=1.0, feather=0)(frame(b, Carry(a, dream_of(a))))
    field, reliable = flow.track(a, b)
    want = np.clip(b.astype(np.float32) + flow.warp(dream_of(a), field, True).astype(np.float32)
                   - flow.warp(a, field, True).astype(np.float32), 0, 255)
    assert np.abs(out.image.astype(int) - want.round())[reliable].mean() < 1.0  # carried, moved along
    change = np.abs(b.astype(int) - a).max(-1)
    moved, same = ~reliable & (change > 8), ~reliable & (change <= 3)
    assert moved.sum() > 40 and np.array_equal(out.image[moved], b[moved])  # fallback: the new input, no smear
    kept = b.astype(int) + dream_of(a).astype(int) - a  # unchanged in place: the dream stays where it was
    assert np.abs(out.image.astype(int) - np.clip(kept, 0, 255))[same].mean() < 1.0
    half = FlowFeedback(blend=0.5, feather=0)(frame(b, Carry(a, dream_of(a))))
    assert 0.4 < metrics_strength(half) / metrics_strength(out) < 0.6


def metrics_strength(f: Frame) -> float:
    return float(np.abs(f.image.astype(int) - f.source).mean())


def test_strength_hold_pulls_growth_back_and_lifts_a_sag_slowly():
    src = clips.CLIPS["pan"](1, 64, 48)[0]
    carry = Carry(src, dream_of(src))
    target = metrics_strength(Frame(0, src, carry.dream))
    grown = frame(src, carry, image=np.clip(src.astype(int) + 2 * (carry.dream.astype(int) - src), 0, 255).astype(np.uint8))
    assert abs(metrics_strength(HoldStrength()(grown)) - target) < 0.05 * target
    sagged = replace(grown, image=((src.astype(int) + carry.dream) // 2).astype(np.uint8))
    lifted = metrics_strength(HoldStrength(boost=1.05)(sagged))
    assert metrics_strength(sagged) < lifted <= 1.06 * metrics_strength(sagged)
