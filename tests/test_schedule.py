import math

import pytest
import torch

from pipeline import objectives, presets
from pipeline.errors import DreamreelError
from pipeline.schedule import Schedule, uses_time


def test_keys_interpolate_linearly_and_hold_outside():
    s = Schedule.parse("0:(1.02), 60:(1.05)")
    assert [s(t) for t in (-5, 0, 30, 60, 500)] == pytest.approx([1.02, 1.02, 1.035, 1.05, 1.05])


def test_unsorted_keys_and_spaces_are_fine():
    s = Schedule.parse(" 10 : ( 2 ) ,  0:(0) ")
    assert s(5) == pytest.approx(1.0)


def test_math_in_t_is_evaluated_per_frame():
    s = Schedule.parse("0:(1.0+0.01*sin(t/12))")
    assert s(0) == pytest.approx(1.0) and s(18) == pytest.approx(1.0 + 0.01 * math.sin(1.5))
    ramp = Schedule.parse("0:(t), 10:(0)")  # each key's expression at t, then mixed
    assert ramp(5) == pytest.approx(0.5 * 5 + 0.5 * 0)


def test_numbers_and_bare_expressions_are_constant_schedules():
    assert Schedule.parse(1.03)(99) == pytest.approx(1.03)
    assert Schedule.parse("1 + t/100")(50) == pytest.approx(1.5)


@pytest.mark.parametrize("text, column, what", [
    ("0:(1.02) 60:(1.05)", 10, "expected ','"),
    ("0:(1.02), 60(1.05)", 13, "expected ':'"),
    ("0:(1.02), x:(1)", 10, "expected a frame number"),
    ("0:(1), 10:(foo(t))", 12, "name 'foo' is not allowed"),
    ("0:(1", 3, "never closed"),
    ("0:(1), 0:(2)", 8, "given twice"),
    ('0:(__import__("os"))', 4, "not allowed"),
])
def test_malformed_schedules_name_the_column(text, column, what):
    with pytest.raises(DreamreelError, match=rf"motion.zoom: bad schedule .* at column {column}: .*{what}"):
        Schedule.parse(text, where="motion.zoom")


def test_schedules_in_a_preset_are_checked_at_load(tmp_path):
    p = tmp_path / "z.toml"
    p.write_text('kind = "zoom"\n[motion]\nangle = "0:(1), 30:(2"\n')
    with pytest.raises(DreamreelError, match="motion.angle: bad schedule.*column"):
        presets.load(str(p))


def test_objective_weights_follow_sched_and_t():
    text = 'sched("0:(1), 90:(0)") * layer("a") + sched("0:(0), 90:(1)") * layer("b")'
    acts = {"a": torch.full((1, 1, 8, 8), 2.0), "b": torch.full((1, 1, 8, 8), 3.0)}  # layer = mean square
    values = [objectives.parse(text, t=t)(acts).item() for t in (0, 45, 90)]
    assert values == pytest.approx([4.0, 6.5, 9.0])
    assert objectives.parse('layer("a", 1 + t)', t=2)(acts).item() == pytest.approx(12.0)
    assert uses_time(text) and not uses_time('layer("a")')
