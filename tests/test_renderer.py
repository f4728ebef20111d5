"""The generic render loop: builder table, carry, several sinks, resume. A toy kind keeps it fast."""

from dataclasses import dataclass, replace

import numpy as np
import pytest

from pipeline import renderer as render_mod
from pipeline.config import RenderConfig
from pipeline.errors import DreamreelError
from pipeline.frames import Frame
from pipeline.plan import Plan, make_sinks
from pipeline.resume import parts_dir
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
    assert probe(paths[0])["frames"] == 8 and len(pngs(tmp_path / "f")) == 8
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
    assert probe(tmp_path / "run.mp4")["frames"] == 8 and not parts_dir(out).exists()


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
