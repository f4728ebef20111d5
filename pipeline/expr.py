"""A small, safe expression language for objectives and schedules (no eval, no numexpr).

Python's own parser builds the tree; only an allow-list of nodes is walked: numbers,
strings, ``+ - * / **``, unary minus, calls of whitelisted functions with literal
arguments, dict/list literals, and the names a caller lends (such as ``t``).
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

from .errors import DreamreelError

_BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.Pow: operator.pow, ast.Mod: operator.mod,
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
    try:
        return ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"syntax error: {e.msg}", (e.offset or 1) - 1) from None


def evaluate(tree: ast.AST, names: Mapping[str, Any]) -> Any:
    """Walk `tree` allowing only literals, arithmetic, and the callables/values in `names`."""

    def walk(node: ast.AST) -> Any:
        match node:
            case ast.Expression(body=body):
                return walk(body)
            case ast.Constant(value=v) if isinstance(v, (int, float, str)) and not isinstance(v, bool):
                return v
            case ast.BinOp(left=l, op=op, right=r) if type(op) in _BINARY:
                return _BINARY[type(op)](walk(l), walk(r))
            case ast.UnaryOp(op=op, operand=x) if type(op) in _UNARY:
                return _UNARY[type(op)](walk(x))
            case ast.Name(id=name) if name in names:
                return names[name]
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=kws) if callable(names.get(fname)):
                return names[fname](*map(walk, args), **{k.arg: walk(k.value) for k in kws if k.arg})
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
