"""A small, safe expression language for objectives and schedules (no eval, no numexpr).

Python's own parser builds the tree; only an allow-list of nodes is walked: numbers,
strings, ``True``/``False``, ``+ - * / **``, unary minus, calls of whitelisted functions with literal
arguments, dict/list literals, and the names a caller lends (such as ``t``).

Everything is bounded so that no text can hang or exhaust memory: the text's length and its
tree's size and depth, powers (``9**9**9`` would otherwise build a 370-million-digit integer),
the size of integers, and the length of strings and lists an operator makes (``"a" * 10**9``).
No single step may outrun those bounds inside one C call either: lists built by ``*`` share
their items, so ``[[[[[1]*999]*999]*999]*999]*999`` is instant to build and ~10^15 steps to
compare; every value is measured with its nested items counted in full (`_Budget`, at most
`MAX_ITEMS`), and a function takes only the types it declares (`call`: ``max`` takes numbers,
``layers`` a mapping of names to numbers), so nothing reaches a comparison, a ``repr`` or a
hash that is not small. Every number is finite in float32, the type the dream computes in.
"""

from __future__ import annotations

import ast
import collections.abc
import inspect
import math
import operator
import types
import typing
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .errors import DreamreelError

MAX_TEXT = 2000  # characters in one expression
MAX_NODES = 400  # nodes in its tree
MAX_DEPTH = 40  # nesting, so the walk never nears Python's recursion limit
MAX_BITS = 256  # integers past 2**256 are refused
MAX_LEN = 1000  # items in a string or list an operator builds
MAX_ITEMS = 10_000  # items in any one value, nested ones counted in full however they are shared
MAX_STEPS = 100_000  # nodes walked plus items built in one evaluation
FLOAT32_MAX = 3.4028234663852886e38  # the dream computes in float32: a larger number is infinite there


def _power(a: Any, b: Any) -> Any:
    """``a ** b`` bounded: an integer power whose result would pass MAX_BITS is refused unevaluated."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and b * math.log2(abs(a)) > MAX_BITS:
        raise OverflowError(f"{a} ** {b} is too large")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.pow(a, b) if isinstance(a, float) or isinstance(b, float) or b < 0 else a ** b
    raise TypeError(f"cannot raise {type(a).__name__} to {type(b).__name__}")


def _modulo(a: Any, b: Any) -> Any:
    """``a % b`` on numbers only: ``"%0200000000d" % 1`` would build a string of any width."""
    if isinstance(a, (str, bytes)):
        raise ValueError("% formats text, which expressions do not do")
    return operator.mod(a, b)


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: _power, ast.Mod: _modulo,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


# The math an expression may use: each a typed function, so `call` refuses a list or a string
# (``max(A, B)`` on two nested lists would compare them item by item inside one C call).
def sin(x: float) -> float:
    return math.sin(x)


def cos(x: float) -> float:
    return math.cos(x)


def tan(x: float) -> float:
    return math.tan(x)


def sqrt(x: float) -> float:
    return math.sqrt(x)


def exp(x: float) -> float:
    return math.exp(x)


def log(x: float, base: float | None = None) -> float:
    return math.log(x) if base is None else math.log(x, base)


def floor(x: float) -> int:
    return math.floor(x)


def ceil(x: float) -> int:
    return math.ceil(x)


def absolute(x: float) -> float:
    return abs(x)


def least(x: float, *more: float) -> float:
    return min(x, *more)


def most(x: float, *more: float) -> float:
    return max(x, *more)


MATH: dict[str, Any] = {
    "sin": sin, "cos": cos, "tan": tan, "abs": absolute, "min": least, "max": most,
    "sqrt": sqrt, "exp": exp, "log": log, "floor": floor, "ceil": ceil,
    "pi": math.pi, "e": math.e,
}


class ExprError(ValueError):
    def __init__(self, message: str, col: int | None = None) -> None:
        self.col = col
        super().__init__(message)


def parse(text: str) -> ast.expression:
    if len(text) > MAX_TEXT:
        raise ExprError(f"expression is {len(text)} characters long, more than {MAX_TEXT}")
    try:
        with warnings.catch_warnings():  # a user's "\)" in a string is theirs, not a warning about our code
            warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as e:  # ValueError: a NUL byte
        raise ExprError(f"syntax error: {getattr(e, 'msg', e)}", (getattr(e, "offset", None) or 1) - 1) from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise ExprError(f"expression has more than {MAX_NODES} parts")
    if _depth(tree) > MAX_DEPTH:
        raise ExprError(f"expression is nested more than {MAX_DEPTH} deep")
    return tree


def _depth(node: ast.AST) -> int:
    """Nesting depth, iteratively (the tree is at most MAX_NODES large here)."""
    deepest, todo = 0, [(node, 1)]
    while todo:
        node, d = todo.pop()
        deepest = max(deepest, d)
        todo.extend((child, d + 1) for child in ast.iter_child_nodes(node))
    return deepest


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass
class _Budget:
    """What one evaluation may spend: `steps` (nodes walked plus items built) and the size of each
    value, its nested items counted in full (`size`). Sizes are remembered by identity (the value
    kept alive with it, so an id is never reused), so a list repeated 999 times is measured once."""

    steps: int = MAX_STEPS
    _sizes: dict[int, tuple[Any, int]] = field(default_factory=dict)

    def size(self, value: Any) -> int:
        """Items in `value` with every nested item counted as often as it appears (at most MAX_ITEMS + 1)."""
        if isinstance(value, str):
            return len(value)
        if not isinstance(value, (list, dict)):
            return 1
        if (known := self._sizes.get(id(value))) is not None:
            return known[1]
        total = 1
        for item in (x for kv in value.items() for x in kv) if isinstance(value, dict) else value:
            total += self.size(item)
            if total > MAX_ITEMS:
                break
        self._sizes[id(value)] = (value, min(total, MAX_ITEMS + 1))
        return self._sizes[id(value)][1]

    def spend(self, steps: int) -> None:
        self.steps -= steps
        if self.steps < 0:
            raise ValueError(f"the expression takes more than {MAX_STEPS} steps")

    def bounded(self, value: Any) -> Any:
        """`value`, refused if no expression of ours needs it and it would make the next step slow."""
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_BITS:
            raise OverflowError(f"an integer of {value.bit_length()} bits")
        if isinstance(value, float) and not abs(value) <= FLOAT32_MAX:
            raise OverflowError(f"{value:g} is not a finite number in float32")
        if isinstance(value, (str, list, dict)):
            if len(value) > MAX_LEN:
                raise ValueError(f"a {type(value).__name__} longer than {MAX_LEN}")
            size = self.size(value)
            if size > MAX_ITEMS:
                raise ValueError(f"a value of more than {MAX_ITEMS} items, nested ones counted")
            self.spend(size)
        return value

    def times(self, a: Any, b: Any) -> Any:
        """``a * b``, refusing a string or list repeated past the bounds before it is built."""
        for seq, n in ((a, b), (b, a)):
            if isinstance(seq, (str, list)) and isinstance(n, int) and not isinstance(n, bool):
                if len(seq) * n > MAX_LEN:
                    raise ValueError(f"a {type(seq).__name__} longer than {MAX_LEN}")
                if self.size(seq) * n > MAX_ITEMS:
                    raise ValueError(f"a value of more than {MAX_ITEMS} items, nested ones counted")
        return operator.mul(a, b)


def evaluate(tree: ast.AST, names: Mapping[str, Any]) -> Any:
    """Walk `tree` allowing only literals, arithmetic, and the callables/values in `names`."""
    budget = _Budget()

    def walk(node: ast.AST) -> Any:
        budget.spend(1)
        match node:
            case ast.Expression(body=body):
                return walk(body)
            case ast.Constant(value=v) if isinstance(v, (int, float, str)):  # True and False too (``softmax=True``)
                return budget.bounded(v)
            case ast.BinOp(left=l, op=ast.Mult(), right=r):
                return budget.bounded(budget.times(walk(l), walk(r)))
            case ast.BinOp(left=l, op=op, right=r) if type(op) in _BINARY:
                return budget.bounded(_BINARY[type(op)](walk(l), walk(r)))
            case ast.UnaryOp(op=op, operand=x) if type(op) in _UNARY:
                return budget.bounded(_UNARY[type(op)](walk(x)))
            case ast.Name(id=name) if name in names:
                return names[name]
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=kws) if (
                    callable(names.get(fname)) and all(k.arg for k in kws) and not any(isinstance(a, ast.Starred) for a in args)):
                return budget.bounded(call(fname, names[fname], [walk(a) for a in args], {k.arg: walk(k.value) for k in kws}))
            case ast.Dict(keys=keys, values=values) if all(k is not None for k in keys):
                return budget.bounded({walk(k): walk(v) for k, v in zip(keys, values)})
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return budget.bounded([walk(x) for x in elts])
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            node = node.func
        what = f"name {node.id!r}" if isinstance(node, ast.Name) else type(node).__name__
        raise ExprError(f"{what} is not allowed here{_known(names) if isinstance(node, ast.Name) else ''}",
                        getattr(node, "col_offset", None))

    try:
        return walk(tree)
    except ExprError:
        raise
    except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
        raise ExprError(str(e)) from None


# --- calls: a function takes the types it declares ------------------------------------------


def call(name: str, fn: Callable[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """``fn(*args, **kwargs)`` once every argument is of the type `fn` declares for it (a TypeError
    naming the argument otherwise). An argument without a declared type takes a number or a string."""
    sig, hints = _signature(fn)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{name}(): {e}") from None
    for param, value in bound.arguments.items():
        kind, hint = sig.parameters[param].kind, hints.get(param, _SCALAR)
        for v in (value if kind is inspect.Parameter.VAR_POSITIONAL else value.values()
                  if kind is inspect.Parameter.VAR_KEYWORD else (value,)):
            if not _fits(v, hint):
                raise TypeError(f"{name}() takes {_describe(hint)} as {param}, not {_kind(v)}")
    return fn(*args, **kwargs)


_SCALAR = typing.Union[int, float, str]
_SIGNATURES: dict[Any, tuple[inspect.Signature, dict[str, Any]]] = {}


def _signature(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    """`fn`'s signature and resolved type hints, cached by its code (closures made per call share it)."""
    key = getattr(fn, "__code__", fn)
    if key not in _SIGNATURES:
        try:
            hints = typing.get_type_hints(fn)
        except (NameError, TypeError):
            hints = {}
        _SIGNATURES[key] = (inspect.signature(fn), hints)
    return _SIGNATURES[key]


def _fits(value: Any, hint: Any) -> bool:
    """Whether `value` is of the declared type (``float`` takes an int too; a bool is neither)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if hint is float:
        return _number(value)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is bool:  # 0 and 1 stand for False and True as well
        return isinstance(value, int) and value in (0, 1)
    if hint is type(None):
        return value is None
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, a) for a in args)
    if origin in (dict, collections.abc.Mapping):
        return isinstance(value, dict) and all(_fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items())
    if origin in (list, tuple, collections.abc.Sequence):
        return isinstance(value, list) and all(_fits(v, args[0]) for v in value)
    return isinstance(hint, type) and isinstance(value, hint)


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint in (float, int):
        return "a number" if hint is float else "a whole number"
    if hint is str:
        return "a string"
    if hint is bool:
        return "0 or 1"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin in (dict, collections.abc.Mapping):
        return f"a mapping of {_describe(args[0]).removeprefix('a ')}s to {_describe(args[1]).removeprefix('a ')}s"
    if origin in (list, tuple, collections.abc.Sequence):
        return f"a list of {_describe(args[0]).removeprefix('a ')}s"
    return "nothing" if hint is type(None) else f"a {getattr(hint, '__name__', hint)}"


def _kind(value: Any) -> str:
    return {bool: "a bool", int: "a number", float: "a number", str: "a string", list: "a list",
            dict: "a mapping", type(None): "None"}.get(type(value), f"a {type(value).__name__}")


def real(value: Any, what: str = "value") -> float:
    """`value` as a float, or an ExprError: a number (not a bool), finite in float32."""
    if not _number(value):
        raise ExprError(f"{what} is {_kind(value)}, not a number")
    if not abs(value) <= FLOAT32_MAX:
        raise ExprError(f"{what} {value:g} is not a finite number in float32")
    return float(value)


def _known(names: Mapping[str, Any]) -> str:
    """The variables an expression may use (callables are the functions; not listed)."""
    return f" (known names: {', '.join(k for k, v in names.items() if not callable(v))})"


def fail(where: str, text: str, err: ExprError, fix: str) -> DreamreelError:
    at = f" at column {err.col + 1}" if err.col is not None else ""
    return DreamreelError(f"{where}: bad expression {text!r}{at}: {err}", fix)
