"""Keyframed schedules: ``"0:(1.02), 60:(1.05)"`` (Deforum's syntax) -> a value for each frame t.

Between keys the value is interpolated linearly; before the first key it is the first key's
value, after the last the last's. Each value is a small expression in ``t`` (the frame
index) evaluated by `expr` (an allow-list, never eval): ``"0:(1.0 + 0.01*sin(t/12))"``.
A schedule also reads ``N`` (the render's frame count: ``sin(2*pi*t/N)`` loops) and the music
(`signals.Signals`: ``s``, ``bpm``, ``onset``, ``beat``, ...):
parsed with typical values, then `bind` gives it the render's track.
A plain number (``1.03``) or a bare expression without keys (``"1 + t/1000"``) is a
schedule that holds for every frame. A malformed schedule is a one-line `DreamreelError`
that names the column.
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from . import expr
from .errors import DreamreelError
from .signals import NO_AUDIO, Signals, is_variable

EXAMPLE = '"0:(1.02), 60:(1.05)" or "0:(1.0 + 0.01*sin(t/12))"'
MAX_TEXT = 200_000  # characters in one schedule (each key's expression is bounded by `expr` as well)
MAX_KEYS = 10_000  # keys in one schedule (a studio session adds two per live change)
_FRAME = re.compile(r"\s*(-?\d+(?:\.\d*)?)\s*")
_SPACE = re.compile(r"\s*")


def _names(t: float, signals: Signals) -> dict[str, Any]:
    return {**expr.MATH, "t": t, **signals.at(t)}


@dataclass(frozen=True)
class Schedule:
    text: str
    keys: tuple[tuple[float, ast.Expression], ...]  # (frame, expression), frames increasing
    signals: Signals = NO_AUDIO  # what ``s``, ``beat``, ... read

    @classmethod
    def parse(cls, value: str | float | int, where: str = "schedule", signals: Signals = NO_AUDIO) -> Schedule:
        """A number, a bare expression in t, or ``frame:(expr), frame:(expr), ...``; `signals`
        gives the names besides t (`Signals.sample(stems)` to check a recipe with stems)."""
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > expr.MAX_BITS:
            raise DreamreelError(f"{where}: a number of {value.bit_length()} bits is too large", f"write e.g. {EXAMPLE}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = repr(float(value))
        if not isinstance(value, str):
            raise DreamreelError(f"{where}: a {type(value).__name__} is not a schedule", f"write a number or e.g. {EXAMPLE}")
        if len(value) > MAX_TEXT or value.count(":") > MAX_KEYS:  # checked before any parsing
            raise DreamreelError(f"{where}: the schedule is {len(value)} characters long with {value.count(':')} keys, "
                                 f"more than {MAX_TEXT} or {MAX_KEYS}", "write fewer keys")
        text = value
        try:
            found = _parse_keys(text) if ":" in text else ((0.0, _parse_expr(text, 0), len(text) - len(text.lstrip())),)
            for frame, tree, offset in found:
                try:
                    _number(tree, _names(frame, signals))  # unknown names, wrong types: caught now, not at frame 500
                except expr.ExprError as e:
                    raise expr.ExprError(str(e), offset + e.col if e.col is not None else offset) from None
        except expr.ExprError as e:
            at = f" at column {e.col + 1}" if e.col is not None else ""
            raise DreamreelError(f"{where}: bad schedule {text!r}{at}: {e}", f"write e.g. {EXAMPLE}") from None
        return cls(text, tuple((frame, tree) for frame, tree, _ in found), signals)

    def bind(self, signals: Signals) -> Schedule:
        """This schedule reading `signals` (the render's track at its frame rate)."""
        return replace(self, signals=signals)

    def names(self) -> set[str]:
        """The variables its expressions read (``beat``, ``t``, ...)."""
        return {n.id for _, tree in self.keys for n in ast.walk(tree) if isinstance(n, ast.Name)}

    def __call__(self, t: float) -> float:
        keys = self.keys
        if t <= keys[0][0]:
            return self._at(0, t)
        if t >= keys[-1][0]:
            return self._at(len(keys) - 1, t)
        i = bisect.bisect_right(keys, t, key=lambda k: k[0])  # the first key after t
        (f0, _), (f1, _) = keys[i - 1], keys[i]
        w = (t - f0) / (f1 - f0)
        a, b = self._at(i - 1, t), self._at(i, t)
        return a if a == b else (1.0 - w) * a + w * b  # a hold is exact: (1-w)*a + w*a can miss a by an ulp

    def _at(self, i: int, t: float) -> float:
        try:
            return _number(self.keys[i][1], _names(t, self.signals))
        except expr.ExprError as e:
            raise DreamreelError(f"schedule {self.text!r} fails at frame {t:g}: {e}", "keep the expression defined there") from None

    def values(self, frames: int) -> list[float]:
        return [self(t) for t in range(frames)]


def _number(tree: ast.Expression, names: dict[str, Any]) -> float:
    return expr.real(expr.evaluate(tree, names))


def _parse_expr(text: str, offset: int) -> ast.Expression:
    """Parse `text` (found at `offset` in the schedule); errors carry the schedule's column."""
    try:
        return expr.parse(text)
    except expr.ExprError as e:
        lead = len(text) - len(text.lstrip())
        raise expr.ExprError(str(e), offset + lead + (e.col or 0)) from None


def _parse_keys(text: str) -> list[tuple[float, ast.Expression, int]]:
    """(frame, expression, column of the expression) per key, sorted by frame."""
    keys: dict[float, tuple[ast.Expression, int]] = {}
    i = 0
    while True:
        m = _FRAME.match(text, i)
        if not m:
            raise expr.ExprError("expected a frame number", i)
        frame, i = float(m[1]), m.end()
        if frame in keys:
            raise expr.ExprError(f"frame {frame:g} given twice", m.start(1))
        if text[i:i + 1] != ":":
            raise expr.ExprError("expected ':' after the frame number", i)
        i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
        if text[i:i + 1] != "(":
            raise expr.ExprError("expected '(' before the value", i)
        close = _matching(text, i)
        inner = text[i + 1:close]
        keys[frame] = (_parse_expr(inner, i + 1), i + 1 + len(inner) - len(inner.lstrip()))
        i = _SPACE.match(text, close + 1).end()  # type: ignore[union-attr]
        if i == len(text):
            return [(frame, tree, col) for frame, (tree, col) in sorted(keys.items(), key=lambda kv: kv[0])]
        if text[i] != ",":
            raise expr.ExprError("expected ',' between keys", i)
        i += 1


def _matching(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        depth += {"(": 1, ")": -1}.get(text[j], 0)
        if depth == 0:
            return j
    raise expr.ExprError("'(' is never closed", open_at)


def names_in(text: str) -> set[str]:
    """The names an expression (e.g. an objective) reads, those inside ``sched("...")`` included."""
    try:
        tree = expr.parse(text)
    except expr.ExprError:
        return set()
    found = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "sched":
            for arg in call.args:
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found |= Schedule.parse(arg.value).names() if _parses(arg.value) else set()
    return found


def _parses(text: str) -> bool:
    try:
        Schedule.parse(text)
    except DreamreelError:
        return False
    return True


def uses_time(text: str, tracks: Iterable[str] = ()) -> bool:
    """Whether an expression (e.g. an objective) reads ``t``, ``sched(...)``, the music, ``N`` (the
    frame count, which only a render's builder knows) or one of `tracks` (named schedules): then it
    changes per frame."""
    named = set(tracks)
    return any(n in ("t", "sched", "N") or n in named or is_variable(n) for n in names_in(text))
