"""The registry of nets: name -> `ModelSpec`, resolved (aliases, a user's file) and loaded.

`catalog` registers every net by name when the package is imported, and a resolver that
turns ``FILE.pt`` / ``ARCH:FILE`` into an entry; the family module that builds a net (`lite`,
`zoo`, `digits`, `files`) and torch itself are imported only when a net is built. `load`
builds a net once per (name, weights, device); `architecture` builds it on the meta device
(no weights), which is all `dreamreel layers` and a net's `Facts` need. Nothing here downloads.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DreamreelError

if TYPE_CHECKING:  # names, aliases and resolving need no torch (`dreamreel models`, a preset's check)
    import torch

    from .net import DreamNet, Facts


@dataclass(frozen=True)
class ModelSpec:
    """A registered net: `build(weights)` loads it (the default weights when None); `architecture()`
    makes it with untrained weights on the meta device (no memory, no file), for its layer names."""

    name: str
    build: Callable[[Path | None], DreamNet]
    summary: str
    architecture: Callable[[], DreamNet] | None = None


REGISTRY: dict[str, ModelSpec] = {}
ALIASES: dict[str, str] = {}
DEFAULT = "efficientnet-lite0"


def register(spec: ModelSpec, *aliases: str) -> None:
    REGISTRY[spec.name] = spec
    for a in aliases:
        ALIASES[a] = spec.name


# Turn a name that is not registered into an entry (files.resolve_file: ``FILE.pt`` -> its net).
RESOLVERS: list[Callable[[str], str | None]] = []


def resolve(name: str) -> str:
    name = ALIASES.get(name, name)
    for resolver in RESOLVERS if name not in REGISTRY else ():
        if found := resolver(name):
            return found
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, [*REGISTRY, *ALIASES], n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DreamreelError(f"unknown model {name!r}", f"{hint}known models: {', '.join(REGISTRY)}")
    return name


@cache
def _load_cached(name: str, weights: str | None, device: torch.device) -> DreamNet:
    return REGISTRY[name].build(Path(weights).expanduser() if weights else None).to(device)


def load(name: str = DEFAULT, weights: str | Path | None = None, device: torch.device | str = "cpu") -> DreamNet:
    """The named model, frozen, on `device`. Built once per (name, weights, device) per process:
    each device holds its own copy, and a cached net is never moved (moving one in place would
    move it under every other holder)."""
    name = resolve(name)  # an unknown name fails before torch is imported
    import torch  # ~2-3 s on 2 cores: only where a net is built

    return _load_cached(name, str(weights) if weights else None, torch.device(device))


def architecture(name: str) -> DreamNet:
    """The named net without its weights (meta tensors): layer names and channel counts only.
    Nets without a known architecture (a user's file) are loaded."""
    spec = REGISTRY[resolve(name)]
    if spec.architecture is None:
        return load(spec.name)
    import torch  # as in `load`

    with torch.device("meta"):
        return spec.architecture()


def facts(name: str) -> Facts:
    """The named net's own facts (loads a user's file; the registered nets know theirs without weights)."""
    return architecture(name).facts
