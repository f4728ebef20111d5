"""One dream per shot in a chunked render (serial engine, no Ray): a fixed camera over a still scene,
then the same scene with a small object crossing it; one shot in three chunks that share the shot's key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from benchmarks import clips
from pipeline import load_preset, media
from pipeline.renderer import render
from pipeline.scaleout import job as job_
from tests.conftest import read_rgb

LAYOUT = {"chunk_seconds": 1.0, "warmup_frames": 4, "fade_frames": 3}  # 3 chunks of 10 frames, seams at 10 and 20


def config(clip: Path, out: str, **scaleout):
    return load_preset("video", {"threads": 1, "seed": 1, "device": "cpu", "source": {"input": str(clip)},
                                 "output": {"paths": [out]}, "dream": {"octaves": 1, "steps": 2},
                                 "video": {"steps_warm": 1}, "scaleout": {**LAYOUT, **scaleout}})


def rendered(root: Path, frames: list[np.ndarray]) -> dict:
    """The clip, its decoded frames, `render()`'s frames (PNG) and the chunked render's (lossless MKV, parts kept)."""
    clip = clips.write_mp4(root / "still.mp4", frames, fps=10, crf=0)
    render(config(clip, f"{root / 'one'}/"), quiet=True)
    chunked = root / "chunked.mkv"
    cfg = config(clip, str(chunked))
    job_.render(cfg, "serial", quiet=True, keep_parts=True)
    return {"clip": clip, "cfg": cfg, "sources": list(media.frames(clip)), "chunks": job_.prepare(cfg).chunks,
            "one": [read_rgb(p) for p in sorted((root / "one").glob("*.png"))], "chunked": list(media.frames(chunked))}


@pytest.fixture(scope="module")
def still_scene(tmp_path_factory) -> dict:
    return rendered(tmp_path_factory.mktemp("still"), clips.occluder(30, 64, 48, speed=1.0))


def test_a_static_scene_is_one_dream_in_every_chunk(tmp_path):
    """Nothing moves: every frame of every chunk, warm-up, fades and seams included, is the shot's first
    dream, as in `render()` (chunks that started cold dreamed the wall anew at every seam)."""
    scene = rendered(tmp_path, clips.camera(30, 64, 48))
    assert all(np.array_equal(a, b) for a, b in zip(scene["chunked"], scene["one"], strict=True))
    assert all(np.array_equal(a, scene["one"][0]) for a in scene["one"])


def still_pixels(sources: list[np.ndarray]) -> np.ndarray:
    """Pixels whose input never changes (the square's path left out, with a margin for the flow's patches)."""
    same = np.ones(sources[0].shape[:2], bool)
    for s in sources:
        same &= (np.abs(s.astype(int) - sources[0]).max(-1) == 0)
    grown = np.zeros_like(same)
    for dy in range(-4, 5):
        for dx in range(-4, 5):
            grown |= np.roll(~same, (dy, dx), (0, 1))
    return ~grown


def test_every_chunk_of_a_split_shot_shares_the_shots_first_frame_as_its_key(still_scene):
    chunks = still_scene["chunks"]
    assert len(chunks) == 3 and [c.key for c in chunks] == [0, 0, 0] and sum(c.warmup > 0 for c in chunks) == 2
    work = job_.prepare(still_scene["cfg"])
    key = work.parts.read_key(0)
    assert key is not None and np.array_equal(key.dream, still_scene["one"][0])  # dreamed once, as render() does


def test_held_regions_keep_the_shots_dream_across_every_seam(still_scene):
    """Something moves: what holds still is the key's dream in every chunk. Across each seam (into, through
    and out of its cross-fade) the still pixels' dream stays as it was, and as `render()` has it, but for a
    few pixels where the strength hold, answering the moving object, rounds differently."""
    sources, one, chunked = still_scene["sources"], still_scene["one"], still_scene["chunked"]
    still = still_pixels(sources)
    assert still.mean() > 0.4
    residual = lambda image, t: image.astype(int)[still] - sources[t].astype(int)[still]  # noqa: E731
    assert np.abs(residual(one[0], 0)).mean() > 3  # there is a dream to hold
    for c in still_scene["chunks"][1:]:
        for t in range(c.start - c.fade_in - 1, c.start + 2):
            for other in (residual(chunked[t - 1], t - 1), residual(one[t], t)):
                assert (residual(chunked[t], t) != other).any(-1).mean() < 0.05, (c.name, t)
                assert np.abs(residual(chunked[t], t) - other).mean() < 0.2, (c.name, t)


def test_a_chunk_starting_its_shot_equals_render_up_to_the_next_fade(still_scene):
    first = still_scene["chunks"][0]
    got, want = still_scene["chunked"], still_scene["one"]
    assert all(np.array_equal(got[i], want[i]) for i in range(first.start, first.end - first.fade_out))


def test_a_rerun_reuses_the_kept_key_and_a_lost_key_is_dreamed_again_the_same(still_scene, tmp_path):
    """Resume stays exact: the chunks rendered again after a crash start from the same key, whether it was
    kept or has to be dreamed again."""
    cfg = still_scene["cfg"]
    work = job_.prepare(cfg)
    lost = work.chunks[2]
    for path in work.parts.paths(lost, work.job.kinds):
        path.unlink()
    work.parts.key_path(0).unlink()
    assert job_.prepare(cfg).todo == [lost]
    job_.render(cfg, "serial", quiet=True, keep_parts=True)
    assert work.parts.key_path(0).is_file()
    again = list(media.frames(Path(cfg.output.paths[0])))
    assert all(np.array_equal(a, b) for a, b in zip(again, still_scene["chunked"], strict=True))
