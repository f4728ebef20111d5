"""A user's own net: ``--model FILE.pt`` (TorchScript, or a state dict whose keys fit a zoo
architecture) or ``--model ARCH:FILE.pth`` (a state dict for that zoo architecture; the class
count is read from the file). A TorchScript file's top-level children become the layers when
running them in turn equals its forward; otherwise it is one layer, ``output``. Inputs are RGB
in [0, 1] with no normalisation. Such a net has no default layers (`Facts` left empty).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import DreamreelError
from .net import DreamNet, Facts, load_state_dict
from .registry import ALIASES
from .zoo import ZOO, Zoo, build, rename_keys


class Scripted(nn.Module):
    """A TorchScript module behind a plain one, which takes the forward hooks TorchScript refuses."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class ScriptedChain(nn.Module):
    """A TorchScript module as a chain of its top-level children (checked against its forward)."""

    def __init__(self, module: torch.jit.ScriptModule, names: Sequence[str]) -> None:
        super().__init__()
        for name in names:
            self.add_module(name, Scripted(getattr(module, name)))


def _script_net(path: Path, module: torch.jit.ScriptModule, size: int) -> DreamNet:
    """Layers = the top-level children when running them in turn reproduces `forward`, else only ``output``."""
    names = [n for n, _ in module.named_children()]
    x = torch.rand(1, 3, size, size, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            y, chained = module(x), x
            for n in names:
                chained = getattr(module, n)(chained)
        ok = bool(names) and chained.shape == y.shape and torch.allclose(chained, y, rtol=1e-4, atol=1e-5)
    except Exception:  # a child that is not a chain link (needs other inputs): fall back to the whole
        ok = False
    if ok:
        return DreamNet(str(path), ScriptedChain(module, names), names, mean=(0, 0, 0), std=(1, 1, 1), facts=Facts(size))
    whole = nn.Module()
    whole.output = Scripted(module)
    return DreamNet(str(path), whole, ["output"], mean=(0, 0, 0), std=(1, 1, 1), facts=Facts(size))


def from_file(path: Path, arch: str | None = None) -> DreamNet:
    """A user's file: TorchScript, or a state dict for `arch` (detected among the zoo when None)."""
    if not path.is_file():
        raise DreamreelError(f"model file not found: {path}", "check the path")
    if arch is None:
        try:
            with warnings.catch_warnings():  # torch 2.10+ calls TorchScript deprecated; users' files still load
                warnings.simplefilter("ignore", DeprecationWarning)
                return _script_net(path, torch.jit.load(str(path), map_location="cpu"), 224)
        except RuntimeError:
            pass  # not TorchScript: a state dict
        sd = load_state_dict(path)
        fits = [z for z in ZOO.values() if _fits(z, sd)]
        if not fits:
            raise DreamreelError(f"{path} is neither TorchScript nor a state dict of a zoo net",
                                 f"name its architecture: --model ARCH:{path} with ARCH one of {', '.join(ZOO)}")
        arch = fits[0].name
    zoo = ZOO.get(ALIASES.get(arch, arch))
    if zoo is None:
        raise DreamreelError(f"unknown architecture {arch!r} for a weights file", f"use one of {', '.join(ZOO)}")
    return build(zoo, path, label=f"{zoo.name}:{path}")


def _fits(zoo: Zoo, sd: dict[str, torch.Tensor]) -> bool:
    with torch.device("meta"):  # key names only: allocate nothing (VGG alone is 0.5 GB)
        net, _, _, renames = zoo.architecture()
    ours = {k for k in net.state_dict() if not k.endswith("num_batches_tracked")}
    theirs = {k for k in rename_keys(sd, renames) if not k.endswith("num_batches_tracked")}
    return ours == theirs
