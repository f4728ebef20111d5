"""Video stages one at a time: cut detection, flow feedback with its occlusion fallback, strength hold."""

from dataclasses import replace

import numpy as np

from benchmarks import clips
from pipeline import flow
from pipeline.frames import Carry, Frame
from pipeline.motion import FlowFeedback, SceneCut, is_cut
from pipeline.post import HoldStrength


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


def test_the_dream_follows_the_motion_and_occlusions_fall_back_to_the_new_frame():
    a, b = clips.occluder(4, 96, 72, speed=4.0)[2:4]
    out = FlowFeedback(blend=1.0, feather=0)(frame(b, Carry(a, dream_of(a))))
    field, reliable = flow.track(a, b)
    want = np.clip(b.astype(np.float32) + flow.warp(dream_of(a), field, True).astype(np.float32)
                   - flow.warp(a, field, True).astype(np.float32), 0, 255)
    assert np.abs(out.image.astype(int) - want.round())[reliable].mean() < 1.0  # carried, moved along
    assert np.array_equal(out.image[~reliable], b[~reliable])  # fallback: the new input, no smear
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
