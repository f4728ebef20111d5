"""Presets: TOML recipes found by name or path, merged with overrides, validated once.

A name is looked up in the folders of ``$DREAMREEL_PRESETS`` (``DIR[:DIR]``, searched first, so
a user's file shadows a bundled one of the same name), then among the bundled presets.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import RenderConfig, from_mapping
from .errors import DreamreelError

USER_DIRS = "DREAMREEL_PRESETS"
BUNDLED = "pipeline.bundled_presets"  # the top-level presets/ folder, mapped into the wheel (setup.py)
SOURCE_TREE = Path(__file__).resolve().parent.parent / "presets"


def bundled() -> Path:
    """The presets shipped with dreamreel: package data of `BUNDLED` in an installed wheel, the
    top-level ``presets/`` in a source checkout or an editable install (no such package there)."""
    spec = importlib.util.find_spec(BUNDLED)
    return Path(spec.submodule_search_locations[0]) if spec and spec.submodule_search_locations else SOURCE_TREE


def folders() -> list[Path]:
    """Where names are looked up, first match wins: ``$DREAMREEL_PRESETS`` then the bundled presets."""
    user = os.environ.get(USER_DIRS, "")
    return [*(Path(d).expanduser() for d in user.split(os.pathsep) if d), bundled()]


def files() -> dict[str, Path]:
    """Every preset by name; a name in an earlier folder shadows the same name in a later one."""
    found: dict[str, Path] = {}
    for folder in folders():
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def names() -> list[str]:
    return list(files())


def find(name: str) -> Path:
    """A preset's file: an existing path, or a name in `folders()`."""
    path = Path(name).expanduser()
    if path.suffix == ".toml" or os.sep in name:
        if not path.is_file():
            raise DreamreelError(f"preset file not found: {path}", "check the path")
        return path
    path = files().get(name)
    if path is None:
        close = difflib.get_close_matches(name, names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DreamreelError(f"unknown preset {name!r}", f"{hint}`dreamreel presets` lists them")
    return path


def read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise DreamreelError(f"preset {path.name}: bad TOML ({e})", "fix the syntax at that line") from None
    except (OSError, UnicodeDecodeError) as e:
        raise DreamreelError(f"cannot read preset {path}: {e}", "give a readable UTF-8 TOML file") from None


def merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep merge; `None` in `over` means "not given" and keeps the base value."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping):  # a section the base lacks gets only the keys given, not their Nones
            out[k] = merge(out[k] if isinstance(out.get(k), Mapping) else {}, v)
        elif v is not None:
            out[k] = v
    return out


def load(name: str = "default", overrides: Mapping[str, Any] | None = None) -> RenderConfig:
    """The preset `name` with `overrides` (nested like the TOML) applied, validated once."""
    path = find(name)
    return from_mapping(merge(read(path), overrides or {}), where=f"preset {path.stem}")


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) of every preset `find` knows by name."""
    return [(n, str(read(path).get("description", ""))) for n, path in files().items()]
