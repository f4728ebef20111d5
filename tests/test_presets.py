from pathlib import Path

import pytest

from pipeline import audio, models, objectives, presets
from pipeline.errors import DreamreelError
from pipeline.features import real_layer


@pytest.mark.parametrize("name", presets.names())
def test_every_bundled_preset_is_a_valid_recipe(name):
    """It loads (keys, bounds, schedules) and dreams on layers its net has: no weights needed, the
    architecture alone names them."""
    cfg = presets.load(name)
    net = models.architecture(cfg.dream.model)
    if cfg.kind == "carve":  # carving reads one layer, not the objective
        layers = {cfg.carve.layer or net.facts.carve_layer}
    else:
        layers = objectives.parse(cfg.dream.objective, signals=audio.Signals.sample(cfg.audio.stems)).layers
    for layer in filter(None, map(real_layer, layers)):
        net.stage_of(layer)  # raises for a layer the net does not have
    assert dict(presets.describe())[name], "each preset says what it is for"


def test_required_presets_exist():
    assert {"default", "classic", "eyes", "textures"} <= set(presets.names())


def test_classic_is_the_lab_recipe():
    d = presets.load("classic").dream
    assert (d.octaves, d.octave_scale, d.steps) == (4, 1.4, 10)
    assert "blocks.5" in d.objective and "blocks.9" in d.objective


def test_overrides_win_and_none_means_not_given():
    cfg = presets.load("classic", {"dream": {"steps": 3, "octaves": None}, "seed": 9})
    assert cfg.dream.steps == 3 and cfg.dream.octaves == 4 and cfg.seed == 9


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_unknown_key_names_it_and_the_nearest(tmp_path):
    with pytest.raises(DreamreelError, match=r"unknown key 'dream.octave_scal'.*did you mean 'octave_scale'"):
        presets.load(str(write(tmp_path, "[dream]\noctave_scal = 1.5\n")))


def test_out_of_range_value_names_the_range(tmp_path):
    with pytest.raises(DreamreelError, match=r"dream.octave_scale.*\(1.0, 2.0\]"):
        presets.load(str(write(tmp_path, "[dream]\noctave_scale = 3.0\n")))


def test_bad_toml_and_unknown_preset(tmp_path):
    with pytest.raises(DreamreelError, match="bad TOML"):
        presets.load(str(write(tmp_path, "[dream\n")))
    with pytest.raises(DreamreelError, match="did you mean 'classic'"):
        presets.load("clasic")


def test_bad_objective_in_a_preset_names_the_column(tmp_path):
    with pytest.raises(DreamreelError, match="column"):
        presets.load(str(write(tmp_path, "[dream]\nobjective = 'layer(\"blocks.9\") +'\n")))
