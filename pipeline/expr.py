"""A small, safe expression language for objectives and schedules (no eval, no numexpr).

Python's own parser builds the tree; only an allow-list of nodes is walked: numbers,
strings, ``+ - * / **``, unary minus, calls of whitelisted functions with literal
arguments, dict/list literals, and the names a caller lends (such as ``t``).

Everything is bounded so that no text can hang or exhaust memory: the text's length and its
tree's size and depth, powers (``9**9**9`` would otherwise build a 370-million-digit integer),
the size of integers, and the length of strings and lists an operator makes (``"a" * 10**9``).
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from .errors import DreamreelError

MAX_TEXT = 2000  # characters in one expression
MAX_NODES = 400  # nodes in its tree
MAX_DEPTH = 40  # nesting, so the walk never nears Python's recursion limit
MAX_BITS = 256  # integers past 2**256 are refused (floats overflow to an error on their own)
MAX_LEN = 1000  # items in a string or list an operator builds


def _power(a: Any, b: Any) -> Any:
    """``a ** b`` bounded: an integer power whose result would pass MAX_BITS is refused unevaluated."""
    if isinstance(a, int) and isinstance(b, int) and b > 0 and abs(a) > 1 and b * math.log2(abs(a)) > MAX_BITS:
        raise OverflowError(f"{a} ** {b} is too large")
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.pow(a, b) if isinstance(a, float) or isinstance(b, float) or b < 0 else a ** b
    raise TypeError(f"cannot raise {type(a).__name__} to {type(b).__name__}")


def _times(a: Any, b: Any) -> Any:
    """``a * b``, refusing a string or list repeated past MAX_LEN before it is built."""
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, list)) and isinstance(n, int) and len(seq) * n > MAX_LEN:
            raise ValueError(f"a {type(seq).__name__} longer than {MAX_LEN}")
    return operator.mul(a, b)


def _modulo(a: Any, b: Any) -> Any:
    """``a % b`` on numbers only: ``"%0200000000d" % 1`` would build a string of any width."""
    if isinstance(a, (str, bytes)):
        raise ValueError("% formats text, which expressions do not do")
    return operator.mod(a, b)


_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: _times,
    ast.Div: operator.truediv, ast.Pow: _power, ast.Mod: _modulo,
}
_UNARY: dict[type, Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}

MATH: dict[str, Any] = {
    "sin": math.sin, "cos": math.cos, "tan": math.tan, "abs": abs, "min": min, "max": max,
    "sqrt": math.sqrt, "exp": math.exp, "log": math.log, "floor": math.floor, "ceil": math.ceil,
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


def _bounded(value: Any) -> Any:
    """Refuse a value no expression of ours needs and that would make the next step slow."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_BITS:
        raise OverflowError(f"an integer of {value.bit_length()} bits")
    if isinstance(value, float) and not math.isfinite(value):
        raise OverflowError("the result is not a finite number")
    if isinstance(value, (str, list, dict)) and len(value) > MAX_LEN:
        raise ValueError(f"a {type(value).__name__} longer than {MAX_LEN}")
    return value


def evaluate(tree: ast.AST, names: Mapping[str, Any]) -> Any:
    """Walk `tree` allowing only literals, arithmetic, and the callables/values in `names`."""

    def walk(node: ast.AST) -> Any:
        match node:
            case ast.Expression(body=body):
                return walk(body)
            case ast.Constant(value=v) if isinstance(v, (int, float, str)) and not isinstance(v, bool):
                return _bounded(v)
            case ast.BinOp(left=l, op=op, right=r) if type(op) in _BINARY:
                return _bounded(_BINARY[type(op)](walk(l), walk(r)))
            case ast.UnaryOp(op=op, operand=x) if type(op) in _UNARY:
                return _UNARY[type(op)](walk(x))
            case ast.Name(id=name) if name in names:
                return names[name]
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=kws) if callable(names.get(fname)):
                return _bounded(names[fname](*map(walk, args), **{k.arg: walk(k.value) for k in kws if k.arg}))
            case ast.Dict(keys=keys, values=values) if all(k is not None for k in keys):
                return {walk(k): walk(v) for k, v in zip(keys, values)}
            case ast.List(elts=elts) | ast.Tuple(elts=elts):
                return [walk(x) for x in elts]
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


def _known(names: Mapping[str, Any]) -> str:
    """The variables an expression may use (callables are the functions; not listed)."""
    return f" (known names: {', '.join(k for k, v in names.items() if not callable(v))})"


def fail(where: str, text: str, err: ExprError, fix: str) -> DreamreelError:
    at = f" at column {err.col + 1}" if err.col is not None else ""
    return DreamreelError(f"{where}: bad expression {text!r}{at}: {err}", fix)
