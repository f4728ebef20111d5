"""How `torchvision_zoo.json` was made: torchvision's own state-dict keys and shapes for each zoo
net, and its logits for the weights `tests.test_zoo.reference_weights` makes from them.

`tests/test_zoo.py` loads those weights through dreamreel's loader and compares its nets' logits
with these, so a key renamed to the wrong module, a branch wired in another order or a wrong
normalisation fails there; nothing in the test goes through dreamreel's own rename table twice.

torchvision is not a dependency (its Linux wheels are CUDA builds); its model definitions are
plain Python. To remake the file, unpack a torchvision wheel that matches the installed torch
into a folder (its compiled ops are never loaded) and run from the repo root:

    python -m tests.data.torchvision_zoo /path/to/unpacked/wheel > tests/data/torchvision_zoo.json

Made with torchvision 0.28.0 and torch 2.13.0 (CPU).
"""

from __future__ import annotations

import json
import sys
import types

import torch

INDICES = (0, 1, 7, 107, 285, 400, 512, 640, 777, 850, 998, 999)  # the logits kept (ImageNet classes)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def nets() -> dict:
    from torchvision.models import googlenet, inception_v3, resnet50, vgg16, vgg19

    # the ImageNet weights' settings: aux classifiers in the file, transform_input on for the two Inceptions
    return {"googlenet": lambda: googlenet(weights=None, aux_logits=True, transform_input=True, init_weights=False),
            "inception-v3": lambda: inception_v3(weights=None, aux_logits=True, transform_input=True, init_weights=False),
            "vgg16": lambda: vgg16(weights=None), "vgg19": lambda: vgg19(weights=None), "resnet50": lambda: resnet50(weights=None)}


def main(wheel: str) -> None:
    package = types.ModuleType("torchvision")  # its models without its __init__ (which loads the compiled ops)
    package.__path__ = [f"{wheel}/torchvision"]
    sys.modules["torchvision"] = package
    from tests.test_zoo import reference_image, reference_weights

    out = {}
    for name, make in nets().items():
        with torch.device("meta"):
            keys = [(k, list(v.shape)) for k, v in make().state_dict().items()]
        net = make().eval()
        net.load_state_dict(reference_weights(name, keys), strict=True)
        x = reference_image()
        mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in (IMAGENET_MEAN, IMAGENET_STD))
        with torch.no_grad():
            logits = net((x - mean) / std)[0]  # torchvision's nets take ImageNet-normalised input
        out[name] = {"keys": keys, "logits": {str(i): logits[i].item() for i in INDICES},
                     "std": logits.std().item()}
    print("{")  # one key a line: a diff of the file reads as a diff of torchvision's names
    for n, (name, entry) in enumerate(out.items()):
        keys = ",\n".join(json.dumps(k) for k in entry["keys"])
        head = json.dumps({k: v for k, v in entry.items() if k != "keys"})[:-1]
        print(f'{json.dumps(name)}: {head}, "keys": [\n{keys}\n]}}' + ("," if n < len(out) - 1 else ""))
    print("}")


if __name__ == "__main__":
    main(sys.argv[1])
