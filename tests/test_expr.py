"""The expression language cannot hang, blow up or run code: bounded evaluation, and properties over
random schedules, objectives and presets (anything but a one-line DreamreelError is a failure).

Every example must finish within `DEADLINE` seconds of this thread's CPU time (wall time on a
shared box varies, the work does not); a hang inside one C call cannot be interrupted, so a
watchdog ends the run with the stuck traceback instead of letting it wait for ever."""

import faulthandler
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from pipeline import expr, objectives, presets
from pipeline.config import RenderConfig
from pipeline.errors import DreamreelError
from pipeline.schedule import Schedule

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DEADLINE = 1.0  # CPU seconds per example
WATCHDOG = 120  # wall seconds before a stuck example ends the run (with its traceback)


@contextmanager
def within_deadline() -> Iterator[None]:
    faulthandler.dump_traceback_later(WATCHDOG, exit=True, file=sys.__stderr__)
    started = time.thread_time()
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
    assert time.thread_time() - started < DEADLINE

BOMBS = ["9**9**9", "2**10**10", "(10**100)**(10**100)", '"a" * 10**9', '["x"] * 99999999', "1e308 * 10",
         "floor(1e300)", "exp(1e6)", "-" * 3000 + "1", "(" * 300 + "1" + ")" * 300, "+".join(["t"] * 900),
         "sqrt(-1)", "1/0", "0**-1", "(-8)**(1/3)"]


@pytest.mark.parametrize("text", BOMBS)
def test_huge_or_undefined_values_fail_fast_with_one_line(text):
    with within_deadline(), pytest.raises(DreamreelError) as err:
        Schedule.parse(text, "motion.zoom")
    assert "\n" not in str(err.value)


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


def only_dreamreel_errors(fn: Callable[..., Any], *args: Any) -> None:
    """`fn(*args)` returns or raises a one-line DreamreelError, within the deadline."""
    with within_deadline():
        try:
            fn(*args)
        except DreamreelError as e:
            assert "\n" not in str(e)


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


# --- the shared-structure family: built at once, ~10^15 steps to compare, print or hash -------------

SHARED = "[[[[[1]*999]*999]*999]*999]*999"  # NOTES: a copy of it compared with it takes ~10^15 steps
COPY = "[[[[[2-1]*999]*999]*999]*999]*999"  # built separately: an identity short-cut would hide the cost


def structures() -> st.SearchStrategy[str]:
    """Lists, strings and mappings nested and shared through `*` (each item a reference to one
    object), as expression text: chains of repetition (``[[x]*n]*m``, up to six deep) combined."""
    atoms = st.one_of(st.integers(-9, 999).map(str), st.sampled_from(['"a"', '"blocks.9"', "t", "1.5", "pi", '""', "[]"]))
    counts = st.lists(st.integers(0, 999), min_size=1, max_size=6)

    def chain(p: tuple[str, list[int], bool]) -> str:
        text, ns, bare = p
        for n in ns:
            text = f"({text})*{n}" if bare and text.startswith('"') else f"[{text}]*{n}"
        return text

    def grown(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, counts, st.booleans()).map(chain),
            st.tuples(inner, inner).map(lambda p: f"[{p[0]}, {p[1]}]"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) + ({p[1]})"),
            st.tuples(inner, inner).map(lambda p: f'{{"k": {p[0]}, "blocks.9": {p[1]}}}'),
        )

    return st.recursive(st.one_of(atoms, st.tuples(atoms, counts, st.booleans()).map(chain)), grown, max_leaves=8)


import pipeline.guided  # noqa: E402,F401  (registers guide, pixel, style: every factory is searched)

FUNCTIONS = sorted([n for n, v in expr.MATH.items() if callable(v)] + list(objectives.FACTORIES) + ["sched"])
OPERATORS = ["+", "-", "*", "/", "**", "%"]


def applied() -> st.SearchStrategy[str]:
    """Every function and operator given one or two such structures, each built on its own."""
    shapes = structures()
    return st.one_of(
        st.tuples(st.sampled_from(FUNCTIONS), shapes).map(lambda p: f"{p[0]}({p[1]})"),
        st.tuples(st.sampled_from(FUNCTIONS), shapes, shapes).map(lambda p: f"{p[0]}({p[1]}, {p[2]})"),
        st.tuples(st.sampled_from(FUNCTIONS), shapes, shapes, shapes).map(lambda p: f"{p[0]}({p[1]}, {p[2]}, {p[3]})"),
        st.tuples(shapes, st.sampled_from(OPERATORS), shapes).map(lambda p: f"({p[0]}) {p[1]} ({p[2]})"),
        shapes.map(lambda x: f"-({x})"),
    )


FAMILY = [f"{fn}({SHARED}, {COPY})" for fn in FUNCTIONS] + [f"({SHARED}) {op} ({COPY})" for op in OPERATORS]


@FAST
@given(applied(), st.integers(0, 500))
@pytest.mark.parametrize("where", ["schedule", "objective", "sched in an objective"])
def test_nested_and_shared_values_through_every_function_and_operator_fail_fast_in_one_line(where, text, t):
    if where == "schedule":
        only_dreamreel_errors(lambda: Schedule.parse(text, "motion.zoom")(t))
    elif where == "objective":
        only_dreamreel_errors(objectives.parse, text, "objective", t)
    else:
        only_dreamreel_errors(objectives.parse, f"sched('0:({text})') * layer(\"blocks.9\")", "objective", t)


@pytest.mark.parametrize("text", FAMILY)
def test_the_measured_case_fails_fast_in_every_function_and_operator(text):
    """Through a schedule (a factory's name is refused there first) and an objective (every name known:
    the values are measured as they are built)."""
    for parse, says in ((lambda: Schedule.parse(text, "motion.zoom"), ""), (lambda: objectives.parse(text), "items")):
        with within_deadline(), pytest.raises(DreamreelError) as err:
            parse()
        assert "\n" not in str(err.value) and says in str(err.value)


def test_functions_of_numbers_take_numbers_and_factories_their_declared_types():
    names = {**expr.MATH, **objectives.FACTORIES}
    for text, says in [("max([1], [2])", "max() takes a number as x, not a list"),
                       ('min("a", "b")', "min() takes a number as x, not a string"),
                       ("abs([1])", "abs() takes a number as x, not a list"),
                       ("layers([1])", "layers() takes a mapping of strings to numbers as weights, not a list"),
                       ('layer("blocks.9", [1])', "layer() takes a number as weight, not a list"),
                       ('channel("blocks.9", 1.5)', "channel() takes a whole number as index, not a number"),
                       ("sin(x=1, y=2)", "sin(): got an unexpected keyword argument 'y'")]:
        with pytest.raises(expr.ExprError, match=r"^" + __import__("re").escape(says)):
            expr.evaluate(expr.parse(text), names)
    assert expr.evaluate(expr.parse("max(1, 2.5, -3) + min(4, t) + abs(-2)"), {**names, "t": 1}) == 5.5


@pytest.mark.parametrize("text", ['1e39 * layer("blocks.9")', 'layer("blocks.9", 1e39)', '1e30 * (1e30 * layer("blocks.9"))',
                                  'layers({"blocks.9": 1e20})', '1e7 * layers({"blocks.9": 1.0})', 'pixel(1e9) + layer("blocks.9")',
                                  'style("swirls.png", "blocks.2", {"stem": 1e9})'])
def test_weights_past_float32_or_the_gain_limit_are_refused_in_one_line(text):
    with pytest.raises(DreamreelError) as err:
        objectives.parse(text)
    assert "\n" not in str(err.value) and ("float32" in str(err.value) or "more than 1e+06" in str(err.value))
    assert objectives.parse('1e6 * layer("blocks.9") + 1e-7 * layer("blocks.5")').gain == 1e6


def test_a_long_schedule_is_parsed_in_linear_time_and_refused_past_its_limits():
    text = ", ".join(f"{i}:({i % 7}.5)" for i in range(5000))  # ~0.2 s of CPU; the rest is no longer copied at each key
    with within_deadline():
        schedule = Schedule.parse(text, "motion.zoom")
        assert [schedule(t) for t in (0, 2500, 4999, 5500)] == [0.5, 2500 % 7 + 0.5, 4999 % 7 + 0.5, 4999 % 7 + 0.5]
    with within_deadline(), pytest.raises(DreamreelError, match="more than 200000 or 10000"):
        Schedule.parse(", ".join(f"{i}:(1)" for i in range(10_001)), "motion.zoom")


HANG = f"max({SHARED}, {COPY})"  # 69 characters that used to freeze the process


@pytest.mark.parametrize("args", [["--zoom", HANG], ["--angle", HANG], ["--translate-x", HANG], ["--translate-y", HANG],
                                  ["--objective", f'{HANG} * layer("blocks.9")'],
                                  ["--objective", f"sched('{HANG}') * layer(\"blocks.9\")"], ["--preset", "PRESET"]],
                         ids=["zoom", "angle", "translate-x", "translate-y", "objective", "sched", "preset file"])
def test_every_command_line_entry_fails_fast_in_one_line(args, tmp_path, capsys):
    import cli

    preset = tmp_path / "hang.toml"
    preset.write_text(f'kind = "zoom"\n[motion]\nzoom = "{HANG}"\n')
    argv = ["zoom", "-o", str(tmp_path / "z.mp4"), "--frames", "2", "--quiet", *[str(preset) if a == "PRESET" else a for a in args]]
    with within_deadline():
        assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "items" in err and not list(tmp_path.glob("z*")), err
