"""Presets: TOML recipes in `presets/`, found by name or path, merged with overrides, validated once."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .config import RenderConfig, from_mapping
from .errors import DreamreelError

PRESET_DIR = Path(os.environ.get("DREAMREEL_PRESETS", Path(__file__).resolve().parent.parent / "presets"))


def names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def find(name: str) -> Path:
    """A preset's file: an existing path, or a name in `presets/`."""
    path = Path(name).expanduser()
    if path.suffix == ".toml" or os.sep in name:
        if not path.is_file():
            raise DreamreelError(f"preset file not found: {path}", "check the path")
        return path
    path = PRESET_DIR / f"{name}.toml"
    if not path.is_file():
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
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = merge(out[k], v)
        elif v is not None:
            out[k] = v
    return out


def load(name: str = "default", overrides: Mapping[str, Any] | None = None) -> RenderConfig:
    """The preset `name` with `overrides` (nested like the TOML) applied, validated once."""
    path = find(name)
    return from_mapping(merge(read(path), overrides or {}), where=f"preset {path.stem}")


def describe() -> list[tuple[str, str]]:
    """(name, one-line description) of every bundled preset."""
    return [(n, str(read(PRESET_DIR / f"{n}.toml").get("description", ""))) for n in names()]
