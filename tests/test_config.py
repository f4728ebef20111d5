"""The recipe's one walk over its expressions: what the validator checks is what the builders read."""

import pytest

from pipeline import config
from pipeline.errors import DreamreelError
from pipeline.signals import Signals

EVERY = ["dream.objective", "motion.zoom", "motion.angle", "motion.translate_x", "motion.translate_y", "motion.steps"]


def test_the_walk_yields_the_objective_then_each_schedule_given():
    assert [e.where for e in config.RenderConfig().expressions()] == EVERY[:-1]  # motion.steps unset: dream.steps
    cfg = config.from_mapping({"motion": {"steps": "2 + 6*beat"}})
    assert [e.where for e in cfg.expressions()] == EVERY
    assert [e.objective for e in cfg.expressions()] == [True] + [False] * 5


def test_names_are_read_from_keyframes_and_from_an_objective_s_sched():
    cfg = config.from_mapping({"dream": {"objective": 'sched("0:(low), 60:(1)") * layer("blocks.3")'},
                               "motion": {"zoom": "0:(1 + 0.05*drums_beat), 60:(1 + t/1000)"},
                               "audio": {"stems": {"drums": "d.wav"}}})
    found = {e.where: e.names(Signals.sample(["drums"])) for e in cfg.expressions()}
    assert {"low", "sched", "layer"} <= found["dream.objective"]
    assert found["motion.zoom"] == {"drums_beat", "t"} and found["motion.angle"] == set()


@pytest.mark.parametrize("where", EVERY)
def test_the_validator_checks_every_expression_of_the_walk(where):
    section, key = where.split(".")
    bad = 'kick * layer("blocks.5")' if where == "dream.objective" else "1 + kick"
    with pytest.raises(DreamreelError) as e:
        config.from_mapping({section: {key: bad}})
    assert str(e.value).startswith(where) and "\n" not in str(e.value) and "'kick'" in str(e.value)
