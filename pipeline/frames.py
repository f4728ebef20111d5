"""Frames as they travel between stages, and the one crossing between uint8 images and tensors.

At the edges (sources, sinks, motion, post) a frame is a numpy ``HxWx3 uint8`` RGB array.
Inside the dreamer it is a torch ``1x3xHxW float32`` tensor in [0, 1]. `to_tensor` and
`to_image` are the only places where one becomes the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:  # the edges (sinks, sources, `dreamreel audio`) use frames without torch; the crossing imports it
    import torch

Image = npt.NDArray[np.uint8]  # H x W x 3 RGB; exists only at the edges


class Followed(NamedTuple):
    """The shot's key (its first frame: input and finished dream, as `steady.History` keeps them) and
    how a frame's pixels follow back to it: the backward field composed frame by frame (at flow size;
    None: none, the key is this frame) and the share of each pixel followed the whole way."""

    source: Image
    dream: Image
    field: np.ndarray | None = None  # h x w x 2 float32
    trust: np.ndarray | None = None  # h x w float32 in [0, 1]
    camera: np.ndarray | None = None  # h x w x 2 float32: the camera's motion alone, composed the same way


class Carry(NamedTuple):
    """The last finished frame, handed to the next one by the render loop (feedback).

    Video keeps a few earlier frames too (`steady.History`, long-term consistency): stacked
    most recent first, at most the configured count, so resume and chunks restore them exactly.
    A loop (`loop`) keeps the finished frames of its lead, which its closing frames blend toward.
    """

    source: Image
    dream: Image
    past_sources: np.ndarray | None = None  # K x H x W x 3 uint8: earlier inputs, most recent first
    past_dreams: np.ndarray | None = None  # K x H x W x 3 uint8: their finished dreams
    past_index: np.ndarray | None = None  # K int64: their frame indices
    lead: np.ndarray | None = None  # C x H x W x 3 uint8: a loop's last lead frames, oldest first (`loop.Keep`)
    masks: np.ndarray | None = None  # H x W x C uint8: the frame's masks (`mask.Masks`), carried along the flow by video
    key_source: np.ndarray | None = None  # the shot's key (`Followed`): its input, as History keeps it
    key_dream: np.ndarray | None = None  # its finished dream
    key_field: np.ndarray | None = None  # h x w x 2 float32: this frame's pixels followed back to it (None: this is the key)
    key_trust: np.ndarray | None = None  # h x w float32: the share of each followed the whole way
    key_camera: np.ndarray | None = None  # h x w x 2 float32: the camera's motion back to it


@dataclass(frozen=True, slots=True)
class Frame:
    index: int
    source: Image  # untouched input: flow, blending and metrics read this, never `image`
    image: Image  # what flows down the chain
    carry: Carry | None = None  # None at the start and after a scene cut
    alpha: Image | None = None  # HxW uint8 of a still with transparency: stages never touch it, PNG sinks write it back
    weight: np.ndarray | None = None  # H x W float32: share of the ascent's step per pixel (None: 1 everywhere)
    masks: np.ndarray | None = None  # H x W x C uint8: channel 0 where to dream, 1.. each region's mask, sharp (`mask.Masks`)
    regions: np.ndarray | None = None  # H x W x (K+1) float32: the feathered share of each pixel outside every region, then each region's
    followed: Followed | None = None  # video: the shot's key, followed to this frame (`steady.carried`), for the next one


class Stage(Protocol):
    """A pure step of the pipeline: all feedback state travels in `Frame.carry`."""

    def __call__(self, frame: Frame) -> Frame: ...


def to_tensor(image: Image, device: torch.device | str = "cpu") -> torch.Tensor:
    """``HxWx3 uint8`` -> ``1x3xHxW float32`` in [0, 1] on `device`."""
    import torch  # loaded already wherever a tensor is made: a dictionary look-up

    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 image, got {image.shape} {image.dtype}")
    t = torch.from_numpy(np.ascontiguousarray(image))
    if torch.device(device).type == "cuda":  # pinned: the copy runs async, beside the compute
        t = t.pin_memory().to(device, non_blocking=True)
    return t.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


def to_image(tensor: torch.Tensor) -> Image:
    """``1x3xHxW`` float in [0, 1] -> ``HxWx3 uint8`` (rounded, clamped)."""
    import torch  # as in `to_tensor`

    if tensor.ndim != 4 or tensor.shape[:2] != (1, 3):
        raise ValueError(f"expected a 1x3xHxW tensor, got {tuple(tensor.shape)}")
    t = tensor.detach()[0].clamp(0, 1).mul(255.0).round_().to(torch.uint8)
    return t.permute(1, 2, 0).contiguous().cpu().numpy()
