"""The generic render loop: builder table, carry, several sinks, resume. A toy kind keeps it fast."""

import errno
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from typer.testing import CliRunner

from cli import app
from pipeline import renderer as render_mod
from pipeline import resume as resume_mod, sinks as sinks_mod
from pipeline.config import RenderConfig
from pipeline.errors import DreamreelError
from pipeline.frames import Frame
from pipeline.plan import Plan, make_sinks
from pipeline.guard import parts_dir
from pipeline.sinks import probe
from tests.conftest import make_image, read_rgb


class Boom(Exception):
    pass


@dataclass(frozen=True)
class Feedback:
    """Chaotic toy feedback: each frame is a nonlinear mix of the last one (so any wrong carry shows)."""

    fail_at: int | None = None

    def __call__(self, frame: Frame) -> Frame:
        if frame.index == self.fail_at:
            raise Boom
        prev = frame.source if frame.carry is None else frame.carry.dream
        nxt = (prev.astype(np.uint32) * 7 + np.roll(prev, frame.index % 5 + 1, 1) * 3 + frame.index) % 251
        return replace(frame, image=nxt.astype(np.uint8))


@dataclass(frozen=True)
class Still:
    n: int

    def __iter__(self):
        img = make_image(48)
        return (Frame(i, img, img) for i in range(self.n))


@pytest.fixture
def toy_kind(monkeypatch):
    """Register a model-free kind under "zoom" (the table is the extension point under test)."""
    fail = {"at": None}

    def build(cfg: RenderConfig, progress) -> Plan:
        n = cfg.source.frames or 8
        return Plan(Still(n), n, [Feedback(fail["at"])], make_sinks(cfg, n))

    monkeypatch.setitem(render_mod.BUILDERS, "zoom", build)
    return fail


def cfg(*paths: str, frames: int = 8, seed: int = 0) -> RenderConfig:
    return RenderConfig(kind="zoom", seed=seed, source={"frames": frames}, output={"paths": paths})


def pngs(folder):
    return [read_rgb(p) for p in sorted(folder.iterdir())]


def test_every_sink_gets_every_frame_and_parts_are_cleaned(tmp_path, toy_kind):
    paths = render_mod.render(cfg(str(tmp_path / "a.mp4"), str(tmp_path / "f") + "/", str(tmp_path / "last.png")))
    assert probe(paths[0]).frames == 8 and len(pngs(tmp_path / "f")) == 8
    assert np.array_equal(read_rgb(tmp_path / "last.png"), pngs(tmp_path / "f")[-1])
    assert not parts_dir(paths[0]).exists()


def test_resume_continues_bit_exactly_after_a_crash(tmp_path, toy_kind):
    render_mod.render(cfg(str(tmp_path / "ref") + "/"))
    out = str(tmp_path / "run") + "/"
    toy_kind["at"] = 5
    with pytest.raises(Boom):
        render_mod.render(cfg(out, str(tmp_path / "run.mp4")))
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.mp4").exists()
    assert len(list(parts_dir(out).glob("0*.png"))) == 5
    toy_kind["at"] = None
    render_mod.render(cfg(out, str(tmp_path / "run.mp4")), resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(pngs(tmp_path / "ref"), pngs(tmp_path / "run"), strict=True))
    assert probe(tmp_path / "run.mp4").frames == 8 and not parts_dir(out).exists()


def test_resume_refuses_parts_of_another_recipe_and_without_resume_starts_over(tmp_path, toy_kind):
    out = str(tmp_path / "run") + "/"
    toy_kind["at"] = 3
    with pytest.raises(Boom):
        render_mod.render(cfg(out))
    toy_kind["at"] = None
    with pytest.raises(DreamreelError, match="another seed"):
        render_mod.render(cfg(out, seed=4), resume=True)
    render_mod.render(cfg(out, seed=4))  # no --resume: start afresh
    assert len(pngs(tmp_path / "run")) == 8


def test_unknown_kind_is_an_error(monkeypatch, tmp_path):
    monkeypatch.delitem(render_mod.BUILDERS, "video", raising=False)
    with pytest.raises(DreamreelError, match="kind 'video'"):
        render_mod.render(RenderConfig(kind="video", output={"paths": [str(tmp_path / "v.mp4")]}))


# --- a full disk at each write: one line naming the path; --resume then finishes bit for bit ---


def fail_once(monkeypatch, owner, name, when):
    """`owner.name` raises ENOSPC the first time `when(*args, **kwargs)` holds (a disk that fills up)."""
    real = getattr(owner, name)

    def patched(*args, **kwargs):
        if when(*args, **kwargs):
            monkeypatch.setattr(owner, name, real)
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, patched)


SITES = {  # each write a render makes, failing at frame 4 where a frame is involved
    "frame PNG in parts": (resume_mod, "write_png", lambda path, *_, **__: path.name == ".000004.partial.png", "000004.png"),
    "carry.npz": (np, "savez", lambda f, **kw: int(kw["index"]) == 4, "carry.npz"),
    "recipe.json": (Path, "write_text", lambda self, *_, **__: "recipe" in self.name, "recipe.json"),
    "frames folder": (sinks_mod, "write_png", lambda path, *_, **__: path.name == "000004.png", "run"),
    "final rename": (os, "replace", lambda src, dst: Path(dst).name == "run.mp4", "run.mp4"),
}


@pytest.mark.parametrize("site", SITES)
def test_a_full_disk_is_one_line_and_resume_finishes_the_same_frames(site, tmp_path, toy_kind, monkeypatch):
    render_mod.render(cfg(str(tmp_path / "ref") + "/"))
    out = (str(tmp_path / "run") + "/", str(tmp_path / "run.mp4"))
    owner, name, when, named = SITES[site]
    fail_once(monkeypatch, owner, name, when)
    with pytest.raises(DreamreelError) as err:
        render_mod.render(cfg(*out))
    assert named in err.value.problem and err.value.fix == "free space, then rerun with --resume"
    assert not (tmp_path / "run").exists()  # an output already committed by then is complete:
    assert not (tmp_path / "run.mp4").exists() or probe(tmp_path / "run.mp4").frames == 8
    assert not list(tmp_path.glob(".*partial*")) and not list(tmp_path.glob("*.lock"))
    render_mod.render(cfg(*out), resume=True)
    assert all(np.array_equal(a, b) for a, b in zip(pngs(tmp_path / "ref"), pngs(tmp_path / "run"), strict=True))
    assert probe(tmp_path / "run.mp4").frames == 8 and not parts_dir(out[0]).exists()


def test_a_full_disk_on_a_still_says_free_space_then_rerun(tmp_path, tiny_png, monkeypatch):
    fail_once(monkeypatch, Path, "write_bytes", lambda self, *_: self.name == ".dream.partial.png")
    result = CliRunner().invoke(app, ["dream", str(tiny_png), "-o", str(tmp_path / "dream.png"),
                                      "--size", "48", "--octaves", "1", "--steps", "1", "--threads", "1", "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "no space left on the device writing" in result.output and "free space, then rerun" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.png"]


@pytest.fixture
def small_disk(tmp_path):
    """A 400 kB tmpfs (skipped where mounting is not permitted)."""
    where = tmp_path / "disk"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(where)],
                                           capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_real_full_disk_under_the_encoder_then_resume(tmp_path, small_disk, toy_kind):
    """The MP4 goes to a tmpfs that fills up mid-render; the parts (beside the frames folder) survive."""
    render_mod.render(cfg(str(tmp_path / "ref") + "/", frames=24))
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * (free - 8192))
    out = (str(tmp_path / "run") + "/", str(small_disk / "run.mp4"))
    result = CliRunner().invoke(app, ["render", "zoom", "-o", out[0], "-o", out[1], "--frames", "24", "--quiet"])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert f"writing {small_disk / 'run.mp4'}" in result.output and "free space, then rerun with --resume" in result.output
    assert not (small_disk / "run.mp4").exists() and not (tmp_path / "run").exists()
    filler.unlink()
    result = CliRunner().invoke(app, ["render", "zoom", "-o", out[0], "-o", out[1], "--frames", "24", "--quiet", "--resume"])
    assert result.exit_code == 0, result.output
    assert all(np.array_equal(a, b) for a, b in zip(pngs(tmp_path / "ref"), pngs(tmp_path / "run"), strict=True))
    assert probe(small_disk / "run.mp4").frames == 24
