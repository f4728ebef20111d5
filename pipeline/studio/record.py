"""The studio's recording: the config a session started from, plus every live change keyed by frame.

A live change at frame ``n`` becomes two keys of a schedule, ``n-1: old`` and ``n: new``
(schedules interpolate linearly, so a step needs both). The studio renders *from the
recording itself*: after each change the stages are rebuilt from `Recording.config`, so the
exported preset is what the studio ran, and `dreamreel render EXPORTED.toml` at the preview
size draws the same frames bit for bit. That holds only for values a frame reads by its
index (`LIVE`, per kind): a zoom's motion schedules and ``motion.steps``, and the weights inside
the objective of a zoom or a video (each one becomes ``sched("...")``, which both kinds read
per frame). Every other key restarts the render from frame 0 with a new base.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from .. import expr, models
from ..config import MotionConfig, RenderConfig, from_mapping
from ..errors import DreamreelError
from ..presets import merge
from ..schedule import Schedule

# Keys a zoom reads per frame through a schedule: a change to one of them applies at the next frame.
SCHEDULED = tuple(f"motion.{key}" for key in MotionConfig.SCHEDULES)
OBJECTIVE = "dream.objective"
# What changes live, per kind (the page marks the rest "restarts"): keys a frame reads through a
# schedule, and OBJECTIVE for the objective's weights (a zoom's and a video's objective with
# ``sched(...)`` in it is re-weighted every frame). A still (one frame) restarts on anything.
LIVE: Mapping[str, tuple[str, ...]] = {"zoom": (*SCHEDULED, OBJECTIVE), "video": (OBJECTIVE,)}
# Keys the page may not change, with the reason (the API reads no path it is given).
FIXED = {
    "kind": "the kind is the preset's",
    "description": "the description is written on export",
    "source.input": "the input is the one the command line named",
    "dream.weights": "weights files are named on the command line",
    "output": "the studio writes no outputs; export the preset and render it",
    "scaleout": "chunked renders are not previewed",
    "carve.animate": "the studio writes no outputs",
    "mask": "masks are named on the command line (--mask)",
    "regions": "regions name masks: give them in the preset the studio starts from",
}
SAFE_FACTORIES = frozenset({"layer", "layers", "channel", "class_logit"})  # objectives that read no file

Keys = tuple[tuple[int, str], ...]  # (frame, expression text), frames increasing


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"motion": {"zoom": 1.05}}`` -> ``{"motion.zoom": 1.05}`` (lists stay values)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def nest(flat: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for dotted, value in flat.items():
        *path, last = dotted.split(".")
        node = out
        for part in path:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def _text(value: Any) -> str:
    """A schedule key's expression for a value (repr keeps floats exact)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DreamreelError(f"{value!r} is not a number or an expression", "send a number or an expression in t")
    return repr(value) if isinstance(value, (int, float)) else value.strip()


def _frame(f: float) -> str:
    return str(int(f)) if float(f).is_integer() else repr(f)


def schedule_text(keys: Keys) -> str:
    return ", ".join(f"{_frame(f)}:({text})" for f, text in keys)


def keys_of(value: Any, where: str) -> Keys:
    """A config value as schedule keys: a number or expression is one key at 0."""
    if isinstance(value, str) and ":" in value:
        return tuple((f, ast.unparse(tree)) for f, tree in Schedule.parse(value, where).keys)  # type: ignore[misc]
    return ((0, _text(value)),)


def splice(keys: Keys, old: str, new: str, at: int) -> Keys | None:
    """`keys` held at `old` up to frame at-1, then `new` from `at`; None if keys lie ahead of at-1."""
    if keys[-1][0] > at:
        return None
    if keys[-1][0] == at:  # a second change at the same boundary replaces the first
        return keys[:-1] + ((at, new),)
    held = keys if keys[-1][0] == at - 1 else keys + ((at - 1, old),)
    return held + ((at, new),)


# --- objective weights -------------------------------------------------------------------------


def _offsets(text: str) -> list[int]:
    starts, total = [], 0
    for line in text.splitlines(keepends=True) or [""]:
        starts.append(total)
        total += len(line)
    return starts


Slot = tuple[int, int, str, str]  # (start, end, literal, label) of one weight in the objective text


def weight_slots(text: str) -> tuple[str, tuple[Slot, ...]]:
    """The objective with its weights cut out (the skeleton) and each weight's (start, end, literal, label).

    A weight is a float literal, a number given as a dict value (``layers({"blocks.4": 1})``)
    or a number multiplied with something; integer arguments (a channel index) are not weights.
    """
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return text, ()
    starts = _offsets(text)
    labels: dict[int, str] = {}  # weight node -> what it weighs (a layer name, an expression)
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            labels.update((id(v), ast.unparse(k).strip("'\"")) for k, v in zip(node.keys, node.values) if k is not None)
        elif isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Mult, ast.Div)):
            labels.update(((id(node.left), ast.unparse(node.right)), (id(node.right), ast.unparse(node.left))))
        elif isinstance(node, ast.Call) and len(node.args) > 1 and isinstance(node.args[0], ast.Constant):
            labels.update((id(a), str(node.args[0].value)) for a in node.args[1:])  # layer("blocks.4", 0.5)
    slots = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool)
                and (isinstance(node.value, float) or id(node) in labels and not isinstance(_parent(tree, node), ast.Call))):
            start = starts[node.lineno - 1] + node.col_offset
            end = starts[node.end_lineno - 1] + node.end_col_offset  # type: ignore[operator]
            slots.append((start, end, text[start:end], labels.get(id(node), f"weight {len(slots) + 1}")))
    slots.sort()
    skeleton, last = [], 0
    for start, end, *_ in slots:
        skeleton += [text[last:start], "\0"]
        last = end
    return "".join(skeleton) + text[last:], tuple(slots)


def _parent(tree: ast.AST, child: ast.AST) -> ast.AST | None:
    return next((n for n in ast.walk(tree) for c in ast.iter_child_nodes(n) if c is child), None)


def _fill(text: str, slots: tuple[Slot, ...], values: list[str]) -> str:
    out, last = [], 0
    for (start, end, *_), value in zip(slots, values):
        out += [text[last:start], value]
        last = end
    return "".join(out) + text[last:]


def with_weight(text: str, index: int, value: float) -> str:
    """`text` with its `index`-th weight set to `value`, written as Python reads it back (``1e-07``)."""
    _, slots = weight_slots(text)
    if not 0 <= index < len(slots):
        raise DreamreelError(f"studio: the objective has {len(slots)} weights, no weight {index}",
                             "reload the page: the objective changed")
    return _fill(text, slots[index:index + 1], [repr(float(value))])


def picked(layer: str, weight: float, channel: int | None) -> str:
    """The layer picker's objective: one layer, or one channel of it, at `weight`."""
    name, w = json.dumps(layer), repr(float(weight))  # a JSON string is a Python string literal too
    return f"layers({{{name}: {w}}})" if channel is None else f"{w} * channel({name}, {int(channel)})"


def safe_objective(text: str) -> None:
    """A new objective from the page may call only factories that read no file."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError:
        return  # the config model gives the one-line syntax error
    allowed = SAFE_FACTORIES | set(expr.MATH) | {"sched"}
    for node in ast.walk(tree):
        other = isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in allowed)
        if other or isinstance(node, ast.Constant) and "@" in str(node.value):  # LAYER@IMAGE reads a file
            raise DreamreelError(f"{OBJECTIVE}: the studio takes {', '.join(sorted(SAFE_FACTORIES))} objectives",
                                 "image-guided objectives come from the preset on the command line")


# --- the recording -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    """`base` (the validated config at frame 0, flat) and the keys of every value changed live.

    `tracks` maps a scheduled key to its keys; the objective's weights are tracked as
    ``dream.objective#i`` against `template` (the objective text whose weights they are).
    """

    base: Mapping[str, Any]
    tracks: Mapping[str, Keys]
    template: str

    @classmethod
    def start(cls, cfg: RenderConfig) -> Recording:
        base = flatten(cfg.model_dump(mode="json"))
        return cls(base, {}, base[OBJECTIVE])

    def _values(self, latest: bool) -> dict[str, Any]:
        """The flat config: each track as its schedule (or, `latest`, as its last key's value)."""
        out = dict(self.base)
        for key, keys in self.tracks.items():
            if "#" not in key:
                out[key] = keys[-1][1] if latest else schedule_text(keys)
        _, slots = weight_slots(self.template)
        if any(k.startswith(OBJECTIVE + "#") for k in self.tracks):
            values = []
            for i, (_, _, literal, _) in enumerate(slots):
                keys = self.tracks.get(f"{OBJECTIVE}#{i}", ((0, literal),))
                values.append(keys[-1][1] if latest or len(keys) == 1 else f'sched("{schedule_text(keys)}")')
            out[OBJECTIVE] = _fill(self.template, slots, values)
        return out

    def current(self) -> dict[str, Any]:
        """The values in force now, nested like a preset (what the page shows)."""
        return nest({k: _number(v) if k in SCHEDULED else v for k, v in self._values(latest=True).items()})

    def mapping(self, frames: int | None = None) -> dict[str, Any]:
        """The recorded session as a preset mapping; `frames` sets ``source.frames``."""
        flat = self._values(latest=False)
        if frames is not None:
            flat["source.frames"] = frames
        return nest(flat)

    def config(self, frames: int | None = None) -> RenderConfig:
        return from_mapping(self.mapping(frames), where="studio")

    def change(self, partial: Mapping[str, Any], at: int) -> tuple[Recording, bool]:
        """The recording with `partial` applied from frame `at`, and whether the render restarts.

        Raises DreamreelError (one line) for a fixed key, an unsafe objective or a bad value.
        """
        flat = flatten(partial)
        for key in flat:
            if fixed := next((FIXED[k] for k in FIXED if key == k or key.startswith(k + ".")), None):
                raise DreamreelError(f"studio: {key} cannot be changed here", fixed)
        now = self._values(latest=True)
        changed = {k: v for k, v in flat.items() if _number(now.get(k)) != _number(v)}
        if model := changed.get("dream.model"):
            if model not in models.REGISTRY:  # a name that is a path would be read: registry names only
                raise DreamreelError(f"studio: unknown model {model!r}", f"use one of: {', '.join(models.REGISTRY)}")
        if OBJECTIVE in changed and weight_slots(str(changed[OBJECTIVE]).strip())[0] != weight_slots(self.template)[0]:
            safe_objective(str(changed[OBJECTIVE]))  # a new objective; new weights alone name nothing new
        whole = from_mapping(merge(nest(now), nest(changed)), where="studio")  # the CLI's one-line errors
        if not changed:
            return self, False
        live = self._live(changed, now, at, LIVE.get(whole.kind, ())) if at > 0 else None
        if live is None:  # a restart from frame 0 with these values
            return Recording.start(whole), True
        return live, False

    def _live(self, changed: Mapping[str, Any], now: Mapping[str, Any], at: int, live: tuple[str, ...]) -> Recording | None:
        """The splice of `changed` at frame `at`, or None if some key cannot change live (`live`: the kind's)."""
        tracks = dict(self.tracks)
        for key, value in changed.items():
            if key not in live:
                return None
            if key == OBJECTIVE:
                if not self._weights(tracks, str(value), at):
                    return None
                continue
            if isinstance(value, str) and ":" in value:
                return None  # keyframes typed live, or a key read once: start again with them
            if value is None:
                return None
            base = self.base[key] if self.base[key] is not None else now["dream.steps"]  # steps None: dream.steps
            keys = tracks.get(key) or keys_of(base, key)
            spliced = splice(keys, keys[-1][1], _text(value), at)  # the last key's value holds until at-1
            if spliced is None:
                return None
            tracks[key] = spliced
        return replace(self, tracks=tracks)

    def _weights(self, tracks: dict[str, Keys], text: str, at: int) -> bool:
        """Splice the objective's changed weights into `tracks`; False if more than weights changed."""
        skeleton, slots = weight_slots(self.template)
        new_skeleton, new_slots = weight_slots(text.strip())
        if not slots or new_skeleton != skeleton or len(new_slots) != len(slots):
            return False
        for i, ((_, _, old, _), (_, _, new, _)) in enumerate(zip(slots, new_slots)):
            key = f"{OBJECTIVE}#{i}"
            keys = tracks.get(key, ((0, old),))
            if float(new) == float(keys[-1][1]):
                continue
            spliced = splice(keys, keys[-1][1], new, at)
            if spliced is None:
                return False
            tracks[key] = spliced
        return True


def _number(value: Any) -> Any:
    """A key's text as the number it spells, when it is one (the page shows numbers as numbers)."""
    try:
        return float(value) if isinstance(value, str) else value
    except ValueError:
        return value
