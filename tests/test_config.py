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


def test_mask_and_regions_are_typed_and_compose_one_objective():
    cfg = config.from_mapping({"mask": {"mask": "luma > 0.2"}, "regions": [
        {"mask": "x < 0.5", "objective": 'layer("blocks.4")', "strength": 0.5},
        {"mask": "y < 0.5", "objective": 'sched("0:(1), 10:(0)") * layer("blocks.10")', "invert": True}]})
    assert cfg.mask.feather == 8 and cfg.regions[1].invert and cfg.regions[0].strength == 0.5
    assert cfg.objective() == ('region(0, layer("blocks.9")) + region(1, layer("blocks.4")) + '
                               'region(2, sched("0:(1), 10:(0)") * layer("blocks.10"))')
    assert cfg.composed().dream.objective == cfg.objective() and cfg.composed().composed() == cfg.composed()
    assert [e.where for e in cfg.expressions()][:3] == ["dream.objective", "regions[1].objective", "regions[2].objective"]
    assert config.from_mapping({}).composed() == config.from_mapping({})  # no masks: the recipe as it is
    masked_class = config.from_mapping({"mask": {"mask": "x < 0.5"}, "dream": {"objective": "class_logit(3)"}})
    assert masked_class.objective() == "class_logit(3)"  # a mask alone still masks the steps of what it cannot weight


@pytest.mark.parametrize("data, said", [
    ({"regions": [{"mask": "x < 0.5", "objective": 'layer("blocks.4")', "strenght": 1}]}, "regions[1].strenght'; did you mean 'strength'"),
    ({"regions": [{"mask": "x < 0.5"}]}, "regions[1].objective is missing"),
    ({"mask": {"invert": True}}, "mask.mask is missing"),
    ({"mask": {"mask": "x", "feather": 300}}, "mask.feather = 300 is invalid"),
    ({"regions": [{"mask": "x < 0.5", "objective": "class_logit(3)"}]}, "regions[1].objective: class_logit(3) looks at the whole picture"),
    ({"regions": [{"mask": "x < 0.5", "objective": 'layer("blocks.99")'}]}, None),  # layer names are the net's: checked at build
    ({"dream": {"objective": 'region(2, layer("blocks.3"))'}}, "reads region 2, but the recipe has 0 [[regions]]"),
    ({"regions": [{"mask": "x < 0.5", "objective": 'layer("blocks.4") * beat'}]}, None),
    ({"kind": "carve", "mask": {"mask": "x < 0.5"}}, "carving takes no [mask]"),
])
def test_bad_masks_and_regions_in_a_recipe_are_one_line(data, said):
    if said is None:
        config.from_mapping(data)
        return
    with pytest.raises(DreamreelError) as e:
        config.from_mapping(data)
    assert said in str(e.value) and "\n" not in str(e.value)
