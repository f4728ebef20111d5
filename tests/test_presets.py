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


# --- presets from elsewhere: what they may write, and values no reader can hold ------------------

ELSEWHERE = """kind = "carve"
[dream]
model = "digits"
[carve]
steps = 1
iterations = 1
animate = "{prefix}steps.gif"
[output]
paths = ["{prefix}out.png"]
contact_sheet = "{prefix}sheet.png"
animate_steps = "{prefix}ascent.gif"
"""


def test_a_preset_s_output_paths_apply_only_without_o_and_then_beside_the_preset(tmp_path, monkeypatch, one_thread):
    import cli

    shared = tmp_path / "shared"
    shared.mkdir()
    preset = shared / "theirs.toml"
    preset.write_text(ELSEWHERE.format(prefix="made/"))
    cfg = presets.load(str(preset))
    here = f"{shared}/made/"
    assert (cfg.output.paths, cfg.output.contact_sheet, cfg.output.animate_steps, cfg.carve.animate) == \
        ((here + "out.png",), here + "sheet.png", here + "ascent.gif", here + "steps.gif")
    mine = presets.load(str(preset), {"output": {"paths": ["mine.png"]}})
    assert (mine.output.paths, mine.output.contact_sheet, mine.output.animate_steps, mine.carve.animate) == \
        (("mine.png",), None, None, None)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["render", str(preset), "-o", "mine.png", "--size", "28", "--quiet"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.png", "shared"] and not (shared / "made").exists()


@pytest.mark.parametrize("prefix", ["/tmp/", "~/", "../", "made/../../"])
@pytest.mark.parametrize("given", [False, True])
def test_a_preset_writing_outside_its_folder_is_refused_in_one_line(tmp_path, prefix, given, capsys):
    import cli

    preset = tmp_path / "theirs.toml"
    preset.write_text(ELSEWHERE.format(prefix=prefix))
    with pytest.raises(DreamreelError, match="writes outside the preset's folder"):
        presets.load(str(preset), {"output": {"paths": ["mine.png"]}} if given else None)
    assert cli.main(["render", str(preset), *(["-o", str(tmp_path / "mine.png")] if given else []), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "outside the preset's folder" in err and sorted(tmp_path.iterdir()) == [preset]


def test_no_bundled_preset_names_an_output():
    for name, path in presets.files().items():
        data = presets.read(path)
        assert not any(isinstance(data.get(s), dict) and key in data[s] for s, key in presets.OUTPUTS), name


@pytest.mark.parametrize("value", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000, "[" * 900 + "]" * 900])
def test_a_value_nested_deep_is_one_line_exit_2(tmp_path, value, capsys):
    import cli

    preset = write(tmp_path, f"[dream]\nobjective = {value}\n")
    assert cli.main(["render", str(preset), "-o", str(tmp_path / "x.png"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and len(err) < 4000, err[:300]
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * presets.MAX_BYTES + "\n")
    with pytest.raises(DreamreelError, match="more than"):
        presets.load(str(big))
