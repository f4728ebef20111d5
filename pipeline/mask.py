"""Masks: where a frame dreams, and which region dreams which objective (SPEC: Regions).

A mask is white where the frame dreams, black where it keeps its input, grey in between. It is

- an image file (its alpha where it has one, else its brightness): the one mask of a still, of
  every frame of a zoom (it lies in the output's frame), or of a video's first frame, which the
  video then carries along the same flow that carries the dream;
- a frames folder or a video: one mask a frame, read in step with the frames;
- an expression over the picture, e.g. ``luma > 0.7`` or ``200 < hue < 260 and saturation > 0.3``
  (`NAMES`; comparisons give 0 or 1, ``and``/``or``/``not`` are min, max and 1 - x), computed on
  each frame's input (a zoom's: its start image).

Then it is inverted if asked. A mask of another size than the frames is resized, with a one-line
note on stderr.

A render's masks travel as one ``HxWxC uint8`` array per frame (`Frame.masks`): channel 0 is
``[mask]`` (white when none is given), channels 1.. the ``[[regions]]`` masks. `Masks.attach`
puts each frame's on it as the frame is read. `Weighted` feathers them (blurred over `feather`
pixels each side of an edge, nothing past them, so no seam shows) into the ascent's share of
each pixel (`Frame.weight`, which the steps and the post stages honour) and each region's share
(`Frame.regions`, by which `objectives.region` weights its objective: the dreamer hands them to
the ascent as the `View`'s masks). Video: `Held` and `motion.FlowFeedback` carry the image masks
from frame to frame (`fill` decides the pixels the previous frame did not show), and `Keeping`
puts them in the `Carry`, so resume restores them; a scene cut keeps the last ones. What is
carried is the sharp mask: a feathered edge carried along would leave its soft rim behind on the
background the object leaves.
"""

from __future__ import annotations

import ast
import functools
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from . import expr
from .chain import CarryOf
from .errors import DreamreelError
from .frames import Carry, Frame, Image, Stage
from .sources import IMAGE_EXTS, VideoSource, natural_key, read_rgba

Grey = np.ndarray  # H x W uint8: one mask, 255 dreams

NAMES = {  # what an expression reads from the picture: name -> what it is
    "luma": "brightness, 0-1 (0.299 R + 0.587 G + 0.114 B)", "red": "0-1", "green": "0-1", "blue": "0-1",
    "hue": "degrees, 0-360 (0 red, 120 green, 240 blue)", "saturation": "0-1", "value": "0-1 (HSV)",
    "x": "0 at the left edge, 1 at the right", "y": "0 at the top, 1 at the bottom",
}
EXAMPLE = "luma > 0.7"


def note(text: str) -> None:
    """A one-line note on stderr: something was adjusted, nothing failed."""
    print(f"dreamreel: note: {text}", file=sys.stderr)


# --- expressions over the picture ------------------------------------------------------------


def _planes(image: Image) -> dict[str, Callable[[], np.ndarray]]:
    """The picture's names as lazily computed ``HxW float32`` planes (hue costs a colour conversion)."""
    rgb = image.astype(np.float32) * np.float32(1 / 255)
    h, w = image.shape[:2]
    hsv = lambda i: cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., i]  # noqa: E731  (float input: H in degrees, S, V in 0-1)
    return {
        "luma": lambda: rgb @ np.array([0.299, 0.587, 0.114], np.float32),
        "red": lambda: rgb[..., 0], "green": lambda: rgb[..., 1], "blue": lambda: rgb[..., 2],
        "hue": lambda: hsv(0), "saturation": lambda: hsv(1), "value": lambda: hsv(2),
        "x": lambda: np.broadcast_to((np.arange(w, dtype=np.float32) + 0.5) / w, (h, w)),
        "y": lambda: np.broadcast_to(((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None], (h, w)),
    }


_COMPARE = {ast.Lt: np.less, ast.LtE: np.less_equal, ast.Gt: np.greater, ast.GtE: np.greater_equal}
_ARITH = {ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power}


def _unit(x: Any) -> Any:
    return np.clip(x, 0.0, 1.0)


def _ramp(lo: Any, hi: Any, x: Any) -> Any:
    """0 below `lo`, 1 above `hi`, straight in between: a soft threshold."""
    return _unit((np.asarray(x, np.float32) - lo) / np.maximum(np.asarray(hi, np.float32) - lo, 1e-6))


_CALLS: dict[str, Callable[..., Any]] = {
    "min": lambda *a: np.minimum.reduce(np.broadcast_arrays(*a)), "max": lambda *a: np.maximum.reduce(np.broadcast_arrays(*a)),
    "abs": np.abs, "ramp": _ramp,
}


def _evaluate(tree: ast.AST, planes: dict[str, Callable[[], np.ndarray]]) -> Any:
    """Walk an allow-list of nodes: numbers, the picture's names, arithmetic, comparisons, and/or/not, `_CALLS`."""
    seen: dict[str, np.ndarray] = {}

    def walk(node: ast.AST) -> Any:
        match node:
            case ast.Expression(body=body):
                return walk(body)
            case ast.Constant(value=v) if isinstance(v, (int, float)) and not isinstance(v, bool):
                if abs(v) > 1e30:  # no picture needs it; a 400-digit integer would not even become a float
                    raise expr.ExprError(f"the number {str(v)[:12]}... is too large")
                return np.float32(v)
            case ast.Name(id=name) if name in planes:
                if name not in seen:
                    seen[name] = planes[name]()
                return seen[name]
            case ast.BinOp(left=a, op=op, right=b) if type(op) in _ARITH:
                return _ARITH[type(op)](walk(a), walk(b))
            case ast.UnaryOp(op=ast.USub(), operand=x):
                return -walk(x)
            case ast.UnaryOp(op=ast.Not(), operand=x):
                return 1.0 - _unit(walk(x))
            case ast.BoolOp(op=op, values=values):
                parts = [_unit(walk(v)) for v in values]
                return (np.minimum if isinstance(op, ast.And) else np.maximum).reduce(np.broadcast_arrays(*parts))
            case ast.Compare(left=left, ops=ops, comparators=rights) if all(type(o) in _COMPARE for o in ops):
                out, a = None, walk(left)
                for op, right in zip(ops, rights):
                    b = walk(right)
                    part = _COMPARE[type(op)](a, b).astype(np.float32)
                    out, a = part if out is None else np.minimum(out, part), b
                return out
            case ast.Call(func=ast.Name(id=fname), args=args, keywords=[]) if fname in _CALLS:
                return _CALLS[fname](*map(walk, args))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            node = node.func
        what = f"name {node.id!r}" if isinstance(node, ast.Name) else type(node).__name__
        raise expr.ExprError(f"{what} is not allowed here (known names: {', '.join(NAMES)}; functions: {', '.join(_CALLS)})",
                             getattr(node, "col_offset", None))

    with np.errstate(all="ignore"):
        try:
            return walk(tree)
        except (TypeError, ValueError, ArithmeticError) as e:
            raise expr.ExprError(str(e)) from None


def picture(tree: ast.AST, image: Image) -> Grey:
    """An expression's mask on `image`: ``HxW uint8``, clipped to 0-1 (NaN: 0)."""
    value = np.nan_to_num(np.asarray(_evaluate(tree, _planes(image)), np.float32), nan=0.0)
    return np.broadcast_to(np.rint(_unit(value) * 255.0), image.shape[:2]).astype(np.uint8)


def _expression(text: str) -> ast.Expression | None:
    """`text` parsed as an expression over the picture, or None when it reads as a path
    (``mask.png`` parses with an attribute, ``masks/`` not at all; a bare name is a path unless it is one of `NAMES`)."""
    try:
        tree = expr.parse(text)
    except expr.ExprError:
        return None
    body = tree.body
    if any(isinstance(n, ast.Attribute) for n in ast.walk(tree)) or (isinstance(body, ast.Name) and body.id not in NAMES):
        return None  # expressions have no attributes: "masks/m.png", "a-b.png" are paths
    if isinstance(body, ast.Constant) and not isinstance(body.value, (int, float)):
        return None
    return tree


# --- one configured mask ---------------------------------------------------------------------


def _path(text: str) -> Path | None:
    """The existing file or folder `text` names, or None (an expression; a name too long for a path)."""
    try:
        path = Path(text).expanduser()
        return path if path.exists() else None
    except (OSError, ValueError, RuntimeError):  # ENAMETOOLONG, a NUL byte, an unknown ~user
        return None


def placed(m: Any) -> Any:
    """A `[mask]` or `[[regions]]` entry whose mask names a path, with the path made absolute (an
    export renders from any folder); an expression as it is."""
    path = _path(m.mask)
    return m.model_copy(update={"mask": str(path.resolve())}) if path else m


def is_image(text: str) -> bool:
    """Whether a mask names an image file (one mask; a video carries it along the flow)."""
    path = _path(text)
    return path is not None and path.is_file() and path.suffix.lower() in IMAGE_EXTS


def _grey_of(rgb: Image, alpha: Image | None) -> Grey:
    """A mask from a decoded image: its alpha where it has one, else its brightness."""
    return alpha if alpha is not None else cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


def _read(path: Path, where: str) -> Grey:
    """An image file as a mask, or a one-line error naming the mask."""
    try:
        return _grey_of(*read_rgba(path))
    except DreamreelError as e:
        raise DreamreelError(f"{where}: {e.problem}", e.fix) from None


@functools.lru_cache(maxsize=16)
def _disc_kernel(feather: int) -> np.ndarray:
    """A Gaussian (sigma feather / 2) cut off at a radius of `feather` pixels, summing to 1."""
    y, x = np.mgrid[-feather:feather + 1, -feather:feather + 1].astype(np.float32)
    d2 = x * x + y * y
    k = np.where(d2 <= feather * feather, np.exp(-d2 / (2 * (feather / 2.0) ** 2)), 0.0).astype(np.float32)
    return k / k.sum()


def feathered(mask: np.ndarray, feather: int) -> np.ndarray:
    """`mask` (``HxW``, any type) softened over `feather` pixels each side of an edge, as float32:
    a round Gaussian cut off at `feather` pixels, so nothing spreads further than that."""
    mask = mask.astype(np.float32)
    if feather <= 0:
        return mask
    soft = cv2.filter2D(mask, -1, _disc_kernel(feather), borderType=cv2.BORDER_REPLICATE)
    soft[np.abs(soft) < 1e-3] = 0.0  # large kernels go through a DFT: its round-off is not a dream
    return soft


@dataclass(frozen=True)
class Mask:
    """One configured mask, checked: exactly one of `image`, `sequence`, `tree` is set."""

    text: str
    where: str  # "mask", "regions[2].mask": errors name it
    invert: bool = False
    feather: int = 0
    image: Grey | None = None  # an image file, read once
    sequence: Path | None = None  # a frames folder or a video: one mask a frame
    tree: ast.Expression | None = None  # an expression over the picture

    @classmethod
    def of(cls, text: str, where: str, invert: bool = False, feather: int = 0) -> Mask:
        """The mask `text` names (an existing path wins over an expression of the same spelling)."""
        path = _path(text)
        if path is not None and is_image(text):
            mask = cls(text, where, invert, feather, image=_read(path, where))
            mask.check(255 - mask.image if invert else mask.image)
            return mask
        if path is not None:
            return cls(text, where, invert, feather, sequence=path)
        if (tree := _expression(text)) is None:
            raise DreamreelError(f"{where}: {text!r} is neither a file nor a picture expression",
                                 f"give an image, a frames folder or a video, or an expression such as {EXAMPLE!r} "
                                 f"(names: {', '.join(NAMES)})")
        mask = cls(text, where, invert, feather, tree=tree)
        mask.on(np.zeros((2, 2, 3), np.uint8), (2, 2))  # unknown names and bad operations fail now, not mid-render
        return mask

    @property
    def carried(self) -> bool:
        """A video carries an image mask from its first frame along the flow."""
        return self.image is not None

    def on(self, source: Image, size: tuple[int, int], given: Grey | None = None, noted: set[str] | None = None) -> Grey:
        """This mask for a frame of `size` (h, w) whose input is `source`; `given`: this frame's
        mask of a sequence. Resized (with a note, once per `noted`) when its size differs."""
        if self.tree is not None:
            try:
                grey = picture(self.tree, source)
            except expr.ExprError as e:
                raise expr.fail(self.where, self.text, e, f"write e.g. {EXAMPLE!r}") from None
        else:
            grey = self.image if given is None else given
            if grey.shape[:2] != size:
                if noted is not None and self.where not in noted:
                    note(f"{self.where} {self.text} is {grey.shape[1]}x{grey.shape[0]}, the frames {size[1]}x{size[0]}: resized")
                    noted.add(self.where)
                shrink = grey.shape[0] > size[0]
                grey = cv2.resize(grey, size[::-1], interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
        return 255 - grey if self.invert else grey

    def check(self, grey: Grey) -> Grey:
        """Refuse a mask that selects nothing: black everywhere, nothing would be dreamed."""
        if not grey.any():
            what = "the expression" if self.tree is not None else "the file"
            fix = f"white dreams, black keeps: check {what}" + (", or drop --invert-mask" if self.invert else ", or invert it")
            raise DreamreelError(f"{self.where} {self.text} is black everywhere: nothing would be dreamed", fix)
        return grey

    def frames(self, start: int, fps: float | None, count: int | None) -> Iterator[Grey]:
        """The sequence's masks from frame `start`, checked to hold `count` more (None: unknown)."""
        if self.sequence is None:
            raise ValueError("not a sequence")
        if self.sequence.is_dir():
            files = sorted((p for p in self.sequence.iterdir() if p.suffix.lower() in IMAGE_EXTS), key=natural_key)[start:]
            self._enough(len(files), count)
            return (_read(f, self.where) for f in files)
        video = self._video(start, fps)
        self._enough(video.frame_count, count)
        return (cv2.cvtColor(f.image, cv2.COLOR_RGB2GRAY) for f in video)

    def _video(self, start: int, fps: float | None) -> VideoSource:
        try:
            return VideoSource.open(self.sequence, start_frame=start or None, fps=fps)
        except DreamreelError as e:
            raise DreamreelError(f"{self.where}: {e.problem}", e.fix) from None

    def _enough(self, have: int, need: int | None) -> None:
        if need is not None and have < need:
            raise DreamreelError(f"{self.where} {self.text} has {have} mask frame(s) for {need} frames",
                                 "give one mask a frame (or an image: a video carries it along the flow)")


# --- a render's masks ------------------------------------------------------------------------


@dataclass(frozen=True)
class Masks:
    """The masks of a render: `[mask]` (channel 0; None: dream everywhere), then each region's,
    with its strength (the share of the step its pixels take)."""

    base: Mask | None
    regions: tuple[Mask, ...] = ()
    strengths: tuple[float, ...] = ()

    @classmethod
    def of(cls, cfg: Any) -> Masks | None:
        """The recipe's masks, every file read or opened and every expression checked; None without any."""
        m = cfg.mask
        base = Mask.of(m.mask, "mask", m.invert, m.feather) if m is not None else None
        regions = tuple(Mask.of(r.mask, f"regions[{k}].mask", r.invert, r.feather) for k, r in enumerate(cfg.regions, 1))
        if base is None and not regions:
            return None
        return cls(base, regions, tuple(r.strength for r in cfg.regions))

    @property
    def channels(self) -> tuple[Mask | None, ...]:
        return (self.base, *self.regions)

    @property
    def carried(self) -> tuple[int, ...]:
        """The channels a video carries along the flow (image masks)."""
        return tuple(i for i, m in enumerate(self.channels) if m is not None and m.carried)

    def on(self, source: Image, given: Sequence[Grey | None], noted: set[str] | None = None) -> np.ndarray:
        """The ``HxWxC uint8`` masks of a frame whose input is `source` (`given`: each channel's
        sequence mask for it, or None)."""
        size = source.shape[:2]
        planes = [np.full(size, 255, np.uint8) if m is None else m.on(source, size, g, noted)
                  for m, g in zip(self.channels, given)]
        return np.stack(planes, -1)

    def check(self, masks: np.ndarray) -> np.ndarray:
        """Refuse a frame's masks where one of them selects nothing (a still's, a zoom's first)."""
        for c, m in enumerate(self.channels):
            if m is not None:
                m.check(masks[..., c])
        return masks

    def attach(self, source: Iterable[Frame], count: int | None = None, start: int = 0, fps: float | None = None) -> Attached:
        """`source` with each frame's masks on it: sequences read from their frame `start` (the
        render's first frame in them) at `fps`, checked to hold `count` frames."""
        attached = Attached(source, self, start, fps, count)
        attached.check_counts()
        return attached


@dataclass(frozen=True)
class Attached:
    """A source whose frames carry their masks (`Frame.masks`); resumes (`iter_from`) like the source."""

    source: Iterable[Frame]
    masks: Masks
    start: int = 0  # the sequences' frame for frame 0
    fps: float | None = None
    count: int | None = None  # frames the render takes

    def check_counts(self) -> None:
        """Sequences too short for the render fail now, before any work."""
        for m in self.masks.channels:
            if m is not None and m.sequence is not None:
                m.frames(self.start, self.fps, self.count)

    def __iter__(self) -> Iterator[Frame]:
        return self._masked(iter(self.source), 0)  # the whole source: a loop's lead (frames before 0) too

    def iter_from(self, first: int) -> Iterator[Frame]:
        frames = iter(self.source.iter_from(first)) if first and hasattr(self.source, "iter_from") else \
            (f for f in self.source if f.index >= first)
        return self._masked(frames, first)

    def _masked(self, frames: Iterator[Frame], first: int) -> Iterator[Frame]:
        """`frames` with their masks; sequences are read from their frame for `first` on."""
        left = None if self.count is None else self.count - first
        sequences = [None if m is None or m.sequence is None else m.frames(self.start + first, self.fps, left)
                     for m in self.masks.channels]
        noted: set[str] = set()
        for frame in frames:
            given = []
            for m, seq in zip(self.masks.channels, sequences):
                if seq is None:
                    given.append(None)
                    continue
                grey = next(seq, None)
                if grey is None:
                    raise DreamreelError(f"{m.where} {m.text} ends before frame {frame.index}", "give one mask a frame")
                given.append(grey)
            yield replace(frame, masks=self.masks.on(frame.source, given, noted))


def attached(cfg: Any, source: Iterable[Frame], count: int | None = None, start: int = 0, fps: float | None = None,
             check: bool = False) -> Iterable[Frame]:
    """`source` with the recipe's masks on its frames (itself without any): sequences read from
    their frame `start` at `fps`, checked to hold `count` frames; `check`: the first frame's
    masks must select something (a still, a zoom), read now, before any work."""
    masks = Masks.of(cfg)
    if masks is None:
        return source
    out = masks.attach(source, count, start, fps)
    if check:
        masks.check(next(iter(out)).masks)
    return out


def check_loop(cfg: Any, video: bool) -> None:
    """A loop (`loop`) starts its chain before frame 0 (its lead): a mask given per frame (a folder
    or a video) has no frame there, and a video's image mask is its first frame's, which the lead
    (the clip's last frames) does not show. Expressions, and a zoom's image, hold on every frame."""
    masks = Masks.of(cfg) if cfg.loop else None
    for m in masks.channels if masks else ():
        if m is not None and (m.sequence is not None or video and m.carried):
            raise DreamreelError(f"{m.where} {m.text!r} is drawn for frame 0 on, but a loop starts its chain before it",
                                 "give a mask expression such as 'luma > 0.7' (or an image, for a zoom), or drop --loop")


def stages(cfg: Any) -> list[Stage]:
    """The stage that weights each frame's steps by its masks (none without masks)."""
    if cfg.mask is None and not cfg.regions:
        return []
    feathers = (0 if cfg.mask is None else cfg.mask.feather, *(r.feather for r in cfg.regions))
    return [Weighted(tuple(r.strength for r in cfg.regions), feathers)]


def carried(cfg: Any) -> tuple[int, ...]:
    """The channels a video carries along the flow: image masks (the first frame's). Sequences
    and expressions give every frame its own."""
    given = [cfg.mask, *cfg.regions]
    return tuple(c for c, m in enumerate(given) if m is not None and is_image(m.mask))


# --- stages ----------------------------------------------------------------------------------


def shares(masks: np.ndarray, strengths: Sequence[float], feathers: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """From a frame's sharp masks, each feathered: the step's share per pixel (``HxW float32``:
    `[mask]` times (outside every region, plus each region times its strength)) and the regions'
    shares within `[mask]` (``HxWx(K+1) float32``: outside every region, then each), by which
    their objectives are weighted and their gradients normalised."""
    m = [feathered(masks[..., c], f) * np.float32(1 / 255) for c, f in enumerate(feathers)]
    base = m[0]
    if len(m) == 1:
        return base, base[..., None]
    regions = np.stack(m[1:], -1)
    outside = np.clip(1.0 - regions.sum(-1), 0.0, 1.0)
    weight = base * (outside + regions @ np.asarray(strengths, np.float32))
    return weight.astype(np.float32), np.concatenate([outside[..., None], regions], -1) * base[..., None]


@dataclass(frozen=True)
class Weighted:
    """The frame's masks, feathered, as the ascent's share of each pixel (`Frame.weight`, times what
    a video held there: the steps, `post.Drift`, `post.Blend` and `post.HoldStrength` leave black
    alone) and each region's share (`Frame.regions`, for the regions' objectives)."""

    strengths: tuple[float, ...] = ()
    feathers: tuple[int, ...] = (0,)  # per channel: `[mask]`, then each region

    def __call__(self, frame: Frame) -> Frame:
        if frame.masks is None:
            return frame
        weight, regions = shares(frame.masks, self.strengths, self.feathers)
        return replace(frame, weight=weight if frame.weight is None else frame.weight * weight, regions=regions)


@dataclass(frozen=True)
class Held:
    """Video: the channels it carries start from the last frame's masks (before the scene-cut check:
    a cut keeps them as they were; otherwise `motion.FlowFeedback` moves them along the flow)."""

    channels: tuple[int, ...]

    def __call__(self, frame: Frame) -> Frame:
        last = frame.carry.masks if frame.carry is not None else None
        if last is None or frame.masks is None or not self.channels or last.shape != frame.masks.shape:
            return frame
        masks = frame.masks.copy()
        masks[..., self.channels] = last[..., self.channels]
        return replace(frame, masks=masks)


@dataclass(frozen=True)
class Keeping:
    """A `carry_of` that also hands the frame's masks on (resume saves them with the carry)."""

    carry_of: CarryOf

    def __call__(self, frame: Frame) -> Carry:
        return self.carry_of(frame)._replace(masks=frame.masks)


# --- video: the pixels the flow cannot carry ----------------------------------------------------

RADII = (1, 2, 4, 8, 16, 32, 64)  # pixels: how far `fill` looks for a carried pixel that looks alike
DIRECTIONS = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))
FILL_SIZE = 256  # short side `fill` searches at (larger frames: at this size, then scaled up)
NEAR = 8.0  # grey levels (R + G + B) a look-alike pixel one pixel further away must be closer in colour


def _shifted(a: np.ndarray, dy: int, dx: int, empty: float) -> np.ndarray:
    """`a` moved so that out[y, x] = a[y + dy, x + dx]; outside the frame: `empty`."""
    h, w = a.shape[:2]
    out = np.full_like(a, empty)
    if abs(dy) < h and abs(dx) < w:
        out[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = a[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
    return out


def _nearest_alike(values: np.ndarray, solid: np.ndarray, guide: np.ndarray) -> np.ndarray:
    """For each pixel, `values` of the solid pixel within `RADII` (8 directions) whose `guide`
    colour is closest (ties: the nearer); where none is found, the mean of the solid pixels."""
    best = np.full(solid.shape, np.inf, np.float32)
    out = np.broadcast_to(values[solid].mean(0) if solid.any() else 0.0, values.shape).astype(np.float32).copy()
    for r in RADII:
        if r >= max(solid.shape):
            break
        for uy, ux in DIRECTIONS:
            dy, dx = uy * r, ux * r
            ok = _shifted(solid, dy, dx, False)
            cost = np.abs(_shifted(guide, dy, dx, 0.0) - guide).sum(-1) + NEAR * r
            better = ok & (cost < best)
            best[better] = cost[better]
            out[better] = _shifted(values, dy, dx, 0.0)[better]
    return out


def fill(carried: np.ndarray, covered: np.ndarray, source: Image) -> np.ndarray:
    """Masks for a video frame (``HxWxc uint8``) from those the flow carried: `carried` is their
    sum weighted by `covered` (the share of each pixel the previous frame's masks reach, as the
    dream's own fill decides: its reliable flow, or unchanged in place). The rest, mostly content
    an object uncovered, takes the mask of the nearby covered pixel that looks most like it in
    the new input (what was uncovered looks like what is around it, not like what moved off it)."""
    covered = covered.astype(np.float32)
    values = carried / np.maximum(covered, 1e-6)[..., None]
    solid = covered > 0.5
    if solid.all() or not solid.any():
        out = carried if solid.all() else np.zeros_like(carried)
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)
    h, w = covered.shape
    k = min(1.0, FILL_SIZE / min(h, w))
    small = (lambda a, mode: cv2.resize(a, (max(1, round(w * k)), max(1, round(h * k))), interpolation=mode)) if k < 1 else \
        (lambda a, _mode: a)  # noqa: E731
    guide = small(source, cv2.INTER_AREA).astype(np.float32)
    sv = small(values, cv2.INTER_AREA).reshape(guide.shape[0], guide.shape[1], -1)
    near = _nearest_alike(sv, small(solid.astype(np.uint8), cv2.INTER_NEAREST).astype(bool), guide)
    if k < 1:
        near = cv2.resize(near, (w, h), interpolation=cv2.INTER_LINEAR).reshape(h, w, -1)
    out = carried + (1.0 - np.minimum(covered, 1.0))[..., None] * near
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
