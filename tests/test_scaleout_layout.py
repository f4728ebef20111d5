"""Chunk planning: every frame exactly once, seams only inside shots, warm-up never across a cut."""

import pytest

from pipeline.scaleout.layout import Chunk, plan, shots

CASES = [  # start, end, cuts, fps, chunk_seconds, warmup, fade
    (0, 90, [30, 60], 10, 1.5, 8, 8),
    (0, 90, [30, 60], 10, 100, 16, 8),
    (5, 1000, [3, 40, 41, 700, 2000], 24, 2.0, 16, 8),
    (0, 7, [], 24, 0.01, 16, 8),
    (100, 3700, [900], 29.97, 10.0, 0, 0),
]


@pytest.mark.parametrize("case", CASES)
def test_plan_covers_every_frame_exactly_once(case):
    start, end, cuts, fps, seconds, warmup, fade = case
    chunks = plan(start, end, cuts, fps, seconds, warmup, fade)
    kept = [i for c in chunks for i in range(c.start, c.end)]
    assert kept == list(range(start, end))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert all(c.kept <= max(1, round(seconds * fps)) for c in chunks)


@pytest.mark.parametrize("case", CASES)
def test_warm_up_and_fades_stay_inside_their_shot(case):
    start, end, cuts, fps, seconds, warmup, fade = case
    chunks = plan(start, end, cuts, fps, seconds, warmup, fade)
    shot_of = {i: s for s in shots(start, end, cuts) for i in range(*s)}
    for prev, c in zip((None, *chunks), chunks):
        shot = shot_of[c.start]
        assert c.first >= shot[0] and c.warmup <= warmup  # warm-up from the same shot only
        assert (c.warmup == 0) == (c.start == shot[0] or warmup == 0)  # free seams: none at a cut or the start
        assert c.fade_in <= min(fade, c.warmup)
        if c.fade_in:  # the previous chunk hands over its last kept frames and keeps one of its own
            assert prev.fade_out == c.fade_in and prev.kept > prev.fade_out
        roles = [c.role(i) for i in range(c.first, c.end)]
        assert roles.count("head") == c.fade_in and roles.count("tail") == c.fade_out
        assert roles.count(None) == c.warmup - c.fade_in


def test_three_shot_clip_gives_six_chunks_with_seams_inside_shots():
    chunks = plan(0, 90, [30, 60], fps=10, chunk_seconds=1.5, warmup=8, fade=4)
    assert [(c.start, c.end, c.warmup, c.fade_in, c.fade_out) for c in chunks] == [
        (0, 15, 0, 0, 4), (15, 30, 8, 4, 0), (30, 45, 0, 0, 4), (45, 60, 8, 4, 0), (60, 75, 0, 0, 4), (75, 90, 8, 4, 0)]
    assert chunks[1].name == "c00001-0000015-0000030-w8"
    assert [c.key for c in chunks] == [0, 0, 30, 30, 60, 60]  # each shot's first frame, shared by its chunks
    assert {c.key for c in plan(0, 90, [30, 60], fps=10, chunk_seconds=100, warmup=8)} == {None}  # a shot in one chunk


def test_long_shot_splits_evenly_and_empty_range_is_empty():
    assert [c.kept for c in plan(0, 100, [], fps=10, chunk_seconds=3, warmup=0)] == [25, 25, 25, 25]
    assert plan(10, 10, [], 10, 1, 4) == ()
    assert Chunk(0, 20, 30, 5).first == 15
