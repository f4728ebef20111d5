import json

import numpy as np
import pytest

from pipeline.errors import DreamreelError

from pipeline.frames import Carry, Frame
from pipeline.resume import Parts
from tests.conftest import make_image

RECIPE = {"seed": 1, "dream": {"steps": 2}}


def save_frames(folder, n):
    with Parts.open(folder, RECIPE, resume=False) as parts:
        for i in range(n):
            img = make_image(32, i)
            parts.save(Frame(i, img, img), Carry(make_image(32, 100 + i), img))


def test_resume_restores_the_carry_and_replays_finished_frames(tmp_path):
    save_frames(tmp_path / "p", 3)
    parts = Parts.open(tmp_path / "p", RECIPE, resume=True)
    assert parts.start == 3
    assert np.array_equal(parts.carry.source, make_image(32, 102)) and np.array_equal(parts.carry.dream, make_image(32, 2))
    assert [f.index for f in parts.finished()] == [0, 1, 2]
    assert np.array_equal(list(parts.finished())[1].image, make_image(32, 1))


def test_a_frame_written_without_its_carry_is_redone(tmp_path):
    save_frames(tmp_path / "p", 3)
    (tmp_path / "p" / "000003.png").write_bytes((tmp_path / "p" / "000002.png").read_bytes())  # killed before carry
    parts = Parts.open(tmp_path / "p", RECIPE, resume=True)
    assert parts.start == 3 and not (tmp_path / "p" / "000003.png").exists()


def test_a_carry_is_stored_losslessly_without_the_frame_twice(tmp_path):
    """The dream is the frame's PNG (named, not stored again); large images go in as PNG bytes."""
    rng = np.random.default_rng(0)
    smooth = np.repeat(np.repeat(rng.integers(0, 256, (70, 80, 3), dtype=np.uint8), 8, 0), 8, 1)  # 560x640: over 1 MiB
    img = np.ascontiguousarray(smooth[::-1, ::-1])  # the frame's dream
    past = np.stack([smooth, smooth[::-1]])
    small = make_image(32, 0)[None].repeat(2, 0)  # earlier frames kept at a dream size: small arrays stay arrays
    carry = Carry(smooth, img, past, past[..., ::-1].copy(), np.array([4, 2]))
    with Parts.open(tmp_path / "p", RECIPE, resume=False) as parts:
        parts.save(Frame(0, img, img), carry)
    with np.load(tmp_path / "p" / "carry.npz") as data:
        assert {"dream@frame", "source.png", "past_sources.png.0", "past_sources.png.1", "past_dreams.png.1"} <= set(data.files)
        assert "dream" not in data.files and "source" not in data.files
    assert (tmp_path / "p" / "carry.npz").stat().st_size < smooth.nbytes / 4
    back = Parts.open(tmp_path / "p", RECIPE, resume=True).carry
    for name, value in carry._asdict().items():
        assert np.array_equal(getattr(back, name), value), name
    carry = carry._replace(past_sources=small, past_dreams=small[:, ::-1].copy())
    with Parts.open(tmp_path / "q", RECIPE, resume=False) as parts:
        parts.save(Frame(0, img, img), carry)
    with np.load(tmp_path / "q" / "carry.npz") as data:
        assert {"past_sources", "past_dreams"} <= set(data.files)
    back = Parts.open(tmp_path / "q", RECIPE, resume=True).carry
    for name, value in carry._asdict().items():
        assert np.array_equal(getattr(back, name), value), name


def test_no_carry_yet_starts_at_zero_and_no_resume_starts_afresh(tmp_path):
    Parts.open(tmp_path / "p", RECIPE, resume=False)
    assert Parts.open(tmp_path / "p", RECIPE, resume=True).start == 0
    save_frames(tmp_path / "q", 2)
    fresh = Parts.open(tmp_path / "q", RECIPE, resume=False)
    assert fresh.start == 0 and not list((tmp_path / "q").glob("0*.png"))


def test_a_changed_recipe_is_refused_naming_the_key(tmp_path):
    save_frames(tmp_path / "p", 1)
    with pytest.raises(DreamreelError, match="another dream.steps"):
        Parts.open(tmp_path / "p", {"seed": 1, "dream": {"steps": 3}}, resume=True)


# --- broken parts: resume goes on from intact parts or says in one line what is broken ---


def resume_error(folder) -> str:
    with pytest.raises(DreamreelError) as err:
        Parts.open(folder, RECIPE, resume=True)
    assert err.value.fix == "rerun without --resume to start afresh" and "\n" not in str(err.value)
    return err.value.problem


def test_a_truncated_carry_is_named_in_one_line(tmp_path):
    save_frames(tmp_path / "p", 3)
    carry = tmp_path / "p" / "carry.npz"
    carry.write_bytes(carry.read_bytes()[: carry.stat().st_size // 2])
    assert f"{carry} is damaged" in resume_error(tmp_path / "p")


def rewritten_carry(folder, **arrays) -> None:
    """carry.npz as a damaged or hostile one would be: the saved arrays with some replaced."""
    path = folder / "carry.npz"
    with np.load(path) as data:
        saved = {k: data[k] for k in data.files}
    saved.update(arrays)
    with open(path, "wb") as f:
        np.savez(f, **{k: v for k, v in saved.items() if v is not None})


img = make_image(32)
BAD_CARRIES = {
    "index an array": {"index": np.array([1, 2])}, "index negative": {"index": np.int64(-5)},
    "index a float": {"index": np.float64(1.0)}, "index a string": {"index": np.array("2")},
    "no dream": {"dream": None, "dream@frame": None}, "dream of another size": {"dream": make_image(16)},
    "source flat": {"source": np.zeros(10, np.uint8)}, "dream as floats": {"dream": img.astype(np.float32)},
    "earlier frames without their index": {"past_sources": img[None], "past_dreams": img[None]},
    "earlier inputs and dreams of two sizes": {"past_sources": make_image(16)[None], "past_dreams": img[None],
                                               "past_index": np.array([0])},
    "a loop's lead of another size": {"lead": make_image(16)[None]}, "masks of another size": {"masks": make_image(16)},
    "a shot's key without its dream": {"key_source": img},
    "a key followed by half its fields": {"key_source": img, "key_dream": img, "key_field": np.zeros((8, 8, 2), np.float32)},
    "a key's trust of another size": {"key_source": img, "key_dream": img, "key_field": np.zeros((8, 8, 2), np.float32),
                                      "key_trust": np.ones((4, 8), np.float32), "key_camera": np.zeros((8, 8, 2), np.float32)},
    "a key's field not a number": {"key_source": img, "key_dream": img, "key_field": np.full((8, 8, 2), np.nan, np.float32),
                                   "key_trust": np.ones((8, 8), np.float32), "key_camera": np.zeros((8, 8, 2), np.float32)},
}


@pytest.mark.parametrize("arrays", BAD_CARRIES.values(), ids=BAD_CARRIES)
def test_a_carry_whose_index_or_arrays_are_not_a_render_s_is_named_and_no_frame_deleted(tmp_path, arrays):
    save_frames(tmp_path / "p", 3)
    rewritten_carry(tmp_path / "p", **arrays)
    frames = sorted((tmp_path / "p").glob("*.png"))
    assert "carry.npz is damaged" in resume_error(tmp_path / "p")
    assert sorted((tmp_path / "p").glob("*.png")) == frames and len(frames) == 3


def test_a_carry_with_earlier_frames_is_restored(tmp_path):
    save_frames(tmp_path / "p", 3)
    rewritten_carry(tmp_path / "p", past_sources=np.stack([img, img]), past_dreams=np.stack([img, img]),
                    past_index=np.array([1, 0]))
    parts = Parts.open(tmp_path / "p", RECIPE, resume=True)
    assert parts.start == 3 and parts.carry.past_index.tolist() == [1, 0]


def test_a_carry_with_its_shot_s_key_is_restored(tmp_path):
    save_frames(tmp_path / "p", 3)
    field = np.full((8, 8, 2), 0.5, np.float32)
    rewritten_carry(tmp_path / "p", key_source=img, key_dream=255 - img, key_field=field, key_trust=np.ones((8, 8), np.float32),
                    key_camera=field)
    carry = Parts.open(tmp_path / "p", RECIPE, resume=True).carry
    assert np.array_equal(carry.key_dream, 255 - img) and np.array_equal(carry.key_field, field) and carry.key_trust.shape == (8, 8)


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_a_missing_or_truncated_frame_is_named_never_replayed(tmp_path, damage):
    save_frames(tmp_path / "p", 4)
    frame = tmp_path / "p" / "000001.png"
    if damage == "missing":
        frame.unlink()
    else:
        frame.write_bytes(frame.read_bytes()[:-20])
    assert f"frame {frame} is {damage}" in resume_error(tmp_path / "p")


def test_a_truncated_frame_past_the_carry_is_simply_redone(tmp_path):
    save_frames(tmp_path / "p", 3)
    (tmp_path / "p" / "000003.png").write_bytes((tmp_path / "p" / "000002.png").read_bytes()[:50])  # killed mid-write
    assert Parts.open(tmp_path / "p", RECIPE, resume=True).start == 3 and not (tmp_path / "p" / "000003.png").exists()


def test_parts_of_another_version_or_a_damaged_recipe_are_named(tmp_path):
    save_frames(tmp_path / "p", 2)
    recipe = tmp_path / "p" / "recipe.json"
    recipe.write_text(json.dumps({**json.loads(recipe.read_text()), "dreamreel": "0.0.1"}))
    assert "was started by dreamreel 0.0.1" in resume_error(tmp_path / "p")
    recipe.write_text('{"seed": 1, "dre')
    assert f"{recipe} is damaged" in resume_error(tmp_path / "p")


def test_resume_and_chunk_segments_record_the_one_version(tmp_path, monkeypatch):
    """Frames drawn by other code are never reused: both records follow the installed version."""
    from importlib import metadata

    from pipeline import load_preset
    from pipeline.scaleout.job import recipe_key
    from pipeline.version import version

    cfg, source = load_preset("video"), tmp_path / "in.mp4"
    source.write_bytes(b"0")
    keys = []
    for installed in ("9.9.8", "9.9.9"):
        monkeypatch.setattr(metadata, "version", lambda name, v=installed: v)
        save_frames(tmp_path / installed, 1)
        assert json.loads((tmp_path / installed / "recipe.json").read_text())["dreamreel"] == installed
        keys.append(recipe_key(cfg, source))
    assert keys[0] != keys[1]

    def not_installed(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", not_installed)
    save_frames(tmp_path / "checkout", 1)
    assert json.loads((tmp_path / "checkout" / "recipe.json").read_text())["dreamreel"] == version() == "unknown"
