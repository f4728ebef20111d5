"""The expression language cannot hang, blow up or run code: bounded evaluation, and properties over
random schedules, objectives and presets (anything but a one-line DreamreelError is a failure)."""

import tempfile
import time
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline import expr, objectives, presets
from pipeline.config import RenderConfig
from pipeline.errors import DreamreelError
from pipeline.schedule import Schedule

FAST = settings(max_examples=150, deadline=1000, suppress_health_check=[HealthCheck.too_slow])

BOMBS = ["9**9**9", "2**10**10", "(10**100)**(10**100)", '"a" * 10**9', '["x"] * 99999999', "1e308 * 10",
         "floor(1e300)", "exp(1e6)", "-" * 3000 + "1", "(" * 300 + "1" + ")" * 300, "+".join(["t"] * 900),
         "sqrt(-1)", "1/0", "0**-1", "(-8)**(1/3)"]


@pytest.mark.parametrize("text", BOMBS)
def test_huge_or_undefined_values_fail_fast_with_one_line(text):
    started = time.monotonic()
    with pytest.raises(DreamreelError) as err:
        Schedule.parse(text, "motion.zoom")
    assert time.monotonic() - started < 1.0 and "\n" not in str(err.value)


INJECTIONS = ['__import__("pathlib").Path("{m}").touch()', 'open("{m}", "w")', '().__class__.__base__.__subclasses__()',
              '[c for c in ()]', '(lambda: open("{m}", "w"))()', 'layer("x").__class__', 'exec("open(\'{m}\',\'w\')")',
              'eval("1")', 'globals()', 'sched.__globals__', '"{m}".format', 'breakpoint()']


@pytest.mark.parametrize("code", INJECTIONS)
def test_code_in_schedules_and_objectives_never_runs(code, tmp_path):
    marker = tmp_path / "ran"
    text = code.format(m=marker)
    for parse in (lambda s: Schedule.parse(s, "motion.zoom"), lambda s: objectives.parse(s),
                  lambda s: objectives.parse(f'sched("0:({s})") * layer("blocks.9")')):
        with pytest.raises(DreamreelError):
            parse(text)
    assert not marker.exists()


# Random text over the language's own tokens finds far more than random unicode would.
TOKENS = ["t", "1", "0", "2.5", "-", "+", "*", "/", "**", "%", "(", ")", ",", ":", " ", "9", "e", "pi", "sin", "max", "floor",
          "exp", "sqrt", "layer", "channel", "layers", "sched", '"', "blocks.9", "[", "]", "{", "}", "=", ".", "_", "x", "'", "\\"]
texts = st.one_of(st.text(max_size=60), st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))


def only_dreamreel_errors(fn, *args) -> None:
    try:
        fn(*args)
    except DreamreelError as e:
        assert "\n" not in e.problem


@FAST
@given(texts, st.integers(-5, 500))
def test_any_schedule_text_parses_or_fails_in_one_line(text, t):
    only_dreamreel_errors(lambda: Schedule.parse(text, "motion.zoom")(t))


@FAST
@given(texts, st.floats(0, 500))
def test_any_objective_text_parses_or_fails_in_one_line(text, t):
    only_dreamreel_errors(objectives.parse, text, "objective", t)


def config_values():
    scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20), st.floats(allow_nan=True), texts)
    return st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)), max_leaves=12)


KEYS = sorted({k for name, f in RenderConfig.model_fields.items() for k in
               ([name] + list(getattr(f.annotation, "model_fields", {})))} | {"zzz", "0"})
sections = st.dictionaries(st.sampled_from(KEYS), config_values(), max_size=6)


@FAST
@given(sections)
def test_any_preset_mapping_is_valid_or_fails_in_one_line(data):
    only_dreamreel_errors(presets.from_mapping, data, "preset fuzz")


@FAST
@given(st.text(max_size=200))
def test_any_preset_text_is_read_or_fails_in_one_line(text):
    with tempfile.TemporaryDirectory() as d:  # not tmp_path: hypothesis runs many examples per test
        path = Path(d) / "fuzz.toml"
        path.write_bytes(text.encode("utf-8", "replace"))
        only_dreamreel_errors(presets.load, str(path))


def test_limits_leave_real_schedules_and_objectives_alone():
    assert Schedule.parse("0:(1.0 + 0.01*sin(t/12)), 60:(2**3 / 8)")(60) == 1.0
    assert expr.evaluate(expr.parse("2**64 + 10**-3"), {}) == 2**64 + 0.001
    text = 'sched("0:(1), 90:(0)") * layer("blocks.3") + 0.5 * channel("blocks.5", 2**3)'
    acts = {"blocks.3": torch.full((1, 2, 8, 8), 2.0), "blocks.5": torch.arange(10.0).view(1, 10, 1, 1).expand(1, 10, 8, 8)}
    assert objectives.parse(text, t=45)(acts).item() == pytest.approx(0.5 * 4.0 + 0.5 * 8.0)  # channel 2**3 = 8
