"""The names music lends to expressions and the `Signals` value, without any audio."""

import numpy as np
import pytest

from pipeline import signals
from pipeline.errors import DreamreelError
from pipeline.signals import NO_AUDIO, Signals


def test_names_are_the_clock_the_track_s_then_each_stem_s_with_its_prefix():
    names = signals.names(["drums"])
    assert names[:2] == ("s", "N") and names[2:9] == (*signals.CURVES, "bpm")
    assert names[9:] == tuple(f"drums_{n}" for n in (*signals.CURVES, "bpm"))


@pytest.mark.parametrize("name, variable", [("s", True), ("beat", True), ("drums_onset", True), ("bass2_bpm", True),
                                            ("t", False), ("beats", False), ("drums", False), ("sched", False)])
def test_is_variable_knows_the_per_frame_names(name, variable):
    assert signals.is_variable(name) is variable


def test_only_music_names_need_a_soundtrack():
    used = ["t", "s", "N", "sin", "layer", "beat", "drums_low", "bass_low"]
    assert signals.audio_names(used, ["drums"]) == ["beat", "drums_low"]  # bass is no declared stem; s and N are the clock


@pytest.mark.parametrize("bad", ["Drums", "1kick", "drum-kit", "", "drums_1"])
def test_a_bad_stem_name_is_one_line_naming_the_rule(bad):
    with pytest.raises(DreamreelError) as e:
        signals.check_stem(bad)
    assert "\n" not in str(e.value) and "lower-case letters and digits" in str(e.value)


def test_a_sample_reads_typical_values_for_every_name_with_s_from_the_frame():
    sample = Signals.sample(["drums"], fps=10.0)
    values = sample.at(25)
    assert set(values) == set(signals.names(["drums"]))
    assert values["s"] == 2.5 and values["bpm"] == values["drums_bpm"] == signals.SAMPLE["bpm"]
    assert values["onset"] == values["drums_high"] == signals.SAMPLE["onset"]
    assert NO_AUDIO.at(7) == Signals.sample().at(7)
    assert values["N"] == signals.SAMPLE_N and sample.lasting(48).at(3)["N"] == 48  # the frame count, once a builder knows it


def test_a_track_reads_zero_past_its_end_and_tables_its_frames():
    curve = np.array([0.0, 0.25, 1.0], np.float32)
    track = Signals(5.0, 3, {"beat": curve}, {"bpm": 100.0})
    assert track.at(1)["beat"] == 0.25 and track.at(2.5)["beat"] == 1.0 and track.at(3)["beat"] == 0.0
    assert track.at(-1)["beat"] == 0.0 and track.at(3)["bpm"] == 100.0
    table = track.table()
    assert list(table) == ["s", "beat"] and np.allclose(table["s"], [0.0, 0.2, 0.4])
