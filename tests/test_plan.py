"""The builders' helpers: which track a render reads (`make_music`)."""

from pathlib import Path

import pytest

from benchmarks import clips
from pipeline import config
from pipeline.errors import DreamreelError
from pipeline.plan import make_music


@pytest.fixture(scope="module")
def track(tmp_path_factory) -> Path:
    return clips.beat_track(tmp_path_factory.mktemp("music") / "click.wav", 2.0, bpm=120)


def recipe(**sections) -> config.RenderConfig:
    return config.from_mapping(sections)


def test_music_read_with_no_audio_at_all_is_one_line_naming_where():
    cfg = recipe(dream={"objective": 'layers({"blocks.2": 1 - beat, "blocks.5": onset})'})
    with pytest.raises(DreamreelError, match=r"^dream.objective reads 'beat' but no audio is given"):
        make_music(cfg, 25.0)
    with pytest.raises(DreamreelError, match=r"^motion.steps reads 'drums_onset'"):
        make_music(recipe(motion={"steps": "2 + drums_onset"}, audio={"stems": {"drums": "d.wav"}}), 25.0, None)


def test_a_soundtrack_is_analysed_only_when_an_expression_reads_the_music(track):
    quiet, path = make_music(recipe(motion={"zoom": "1 + s/100"}), 12.0, soundtrack=track)
    assert path is None and quiet.frames == 0 and quiet.fps == 12.0  # `s` is the clock, not the music
    music, path = make_music(recipe(motion={"zoom": "1 + 0.05*beat"}), 12.0, soundtrack=track)
    assert path == track and music.frames == 24 and music.fps == 12.0 and music.curves["beat"].max() == 1.0


def test_a_given_track_is_read_from_its_start_whatever_the_video_s_range(track):
    cfg = recipe(audio={"file": str(track)})
    whole, path = make_music(cfg, 10.0, soundtrack=Path("video.mp4"), start=1.0)
    assert path == track and whole.frames == 20  # 2 s from 0, not from the video's 1 s


def test_a_region_objective_that_reads_the_music_needs_audio():
    cfg = config.from_mapping({"kind": "zoom", "regions": [{"mask": "x < 0.5", "objective": 'beat * layer("blocks.4")'}]})
    with pytest.raises(DreamreelError, match=r"regions\[1\].objective reads 'beat' but no audio is given"):
        make_music(cfg, 25.0)
