"""The render recipe, typed and validated once at the edge (presets and CLI flags alike).

Each section is a frozen pydantic model that rejects unknown keys; `from_mapping` turns
pydantic's errors into one-line `DreamreelError`s that name the key, the nearest valid key
or the allowed range.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import annotated_types as at
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from . import objectives
from .errors import DreamreelError
from .schedule import Schedule, names_in
from .signals import Signals, check_stem


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SourceConfig(Section):
    input: str | None = None  # image, video or folder of frames; None: the bundled sample
    size: int | None = Field(None, ge=16, le=8192)  # longest side in pixels; None keeps the input's
    frames: int | None = Field(None, ge=1, le=10_000_000)  # frames to render (animations); None: the kind's default
    start: Literal["image", "noise"] = "image"  # zoom without an input: the bundled sample, or seeded noise
    # video / frames folder: a part of the input, in seconds or exact frames (end exclusive)
    start_time: float | None = Field(None, ge=0.0)
    end_time: float | None = Field(None, gt=0.0)
    start_frame: int | None = Field(None, ge=0)
    end_frame: int | None = Field(None, ge=1)
    fps: float | None = Field(None, gt=0.0, le=240.0)  # read (and write) at this rate; None: the source's (25 for frames)


class DreamConfig(Section):
    model: str = "efficientnet-lite0"
    weights: str | None = None  # a local weights file for `model`
    objective: str = 'layer("blocks.9")'
    octaves: int = Field(4, ge=1, le=12)  # levels in all, the full size included
    octave_scale: float = Field(1.4, gt=1.0, le=2.0)
    steps: int = Field(10, ge=0, le=1000)  # per octave
    step_size: float = Field(0.015, gt=0.0, le=1.0)  # in [0, 1] pixel units, L1-normalised gradient
    jitter: int = Field(32, ge=0, le=512)  # max random roll in pixels
    tile: int = Field(512, ge=32, le=8192)  # frames larger than this get tiled gradients
    noise: float = Field(0.0, ge=0.0, le=1.0)  # gaussian sigma added per octave
    salt_pepper: float = Field(0.0, ge=0.0, le=0.5)  # share of pixels flipped per octave
    max_loss: float | None = None  # early stop once the objective passes this
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"  # network compute type; auto: bf16 on CUDA, fp32 on CPU
    compile: Literal["auto", "on", "off"] = "auto"  # torch.compile the network; auto: on for CUDA
    dream_size: int | None = Field(None, ge=32, le=8192)  # short side the ascent runs at (the residual is upsampled edge-aware); None: full size
    tracks: dict[str, float | str] = Field(default_factory=dict, max_length=64)  # named schedules the objective reads by name (the studio's weight changes)

    @field_validator("tracks")
    @classmethod
    def _track_names(cls, v: dict[str, float | str]) -> dict[str, float | str]:
        for name in v:
            objectives.check_track(name)
        return v


class PostConfig(Section):
    blend: float = Field(0.0, ge=0.0, le=1.0)  # share of the source mixed back into the dream
    drift: float = Field(0.0, ge=0.0, le=1.0)  # drift control: share of the LAB mean/std match to the source
    decay: float = Field(0.0, ge=0.0, le=1.0)  # per frame, pull the accumulated dream this far back to the source


class MotionConfig(Section):
    """Zoom feedback, per frame; each a number or a keyframed schedule ("0:(1.02), 60:(1.05)")."""

    zoom: float | str = 1.03  # scale per frame about the centre (> 1 zooms in)
    angle: float | str = 0.0  # degrees per frame, counter-clockwise
    translate_x: float | str = 0.0  # pixels per frame (right)
    translate_y: float | str = 0.0  # pixels per frame (down)
    steps: int | str | None = None  # ascent steps per octave per frame; None: dream.steps

    SCHEDULES: ClassVar[tuple[str, ...]] = ("zoom", "angle", "translate_x", "translate_y", "steps")  # checked by RenderConfig (names of the stems)


class OutputConfig(Section):
    paths: tuple[str, ...] = ()  # format follows the extension
    fps: float = Field(25.0, gt=0.0, le=240.0)  # videos; GIFs use the nearest rate they can show (10, 20, 25, 50 exact)
    crf: int = Field(18, ge=0, le=51)  # H.264 quality (lower is better; VP9 gets crf + 13)
    contact_sheet: str | None = None  # a PNG grid of evenly spaced frames
    animate_steps: str | None = None  # a GIF of the ascent, one frame per step (stills)


class VideoConfig(Section):
    """Video stylisation (kind = "video"): flow-warped feedback, warm steps, cuts, strength hold."""

    independent: bool = False  # dream every frame from scratch (the flicker reference)
    flow: Literal["dis", "farneback"] = "dis"  # optical flow on the input frames
    blend: float = Field(1.0, ge=0.0, le=1.0)  # share of the warped previous dream carried where flow is reliable
    residual: bool = True  # carry the dream's residual over its (warped) input, laid on the new input
    steps_warm: int = Field(2, ge=0, le=1000)  # ascent steps on a carried frame (a cold start gets dream.steps per octave)
    step_size_warm: float | None = Field(0.01, gt=0.0, le=1.0)  # None: dream.step_size
    octaves_warm: int = Field(1, ge=1, le=12)  # octave levels for warm steps (1: full size only)
    fixed_jitter: bool = True  # the same roll sequence on every warm frame (less flicker)
    hold: bool = True  # hold the shot's dream strength at its first frame's level
    boost: float = Field(1.2, ge=1.0, le=2.0)  # at most this gain per frame when the strength sags (real footage loses ~5-10 % a frame)
    cut_threshold: float = Field(27.0, ge=0.0, le=255.0)  # PySceneDetect content score for a cut; 0: no cut detection
    feather: int = Field(1, ge=0, le=16)  # pixels: soften the occlusion mask's edge
    evolve: float = Field(0.0, ge=0.0, le=1.0)  # share of the warm steps that reliably carried, unchanged pixels still take (0: they hold still)
    long_term: tuple[Annotated[int, Field(ge=1, le=64)], ...] = (1, 2, 4, 8, 16)  # earlier frames a disoccluded pixel may take its dream from

    @field_validator("long_term")
    @classmethod
    def _long_term_starts_at_one(cls, v: tuple[int, ...]) -> tuple[int, ...]:
        if not v or v[0] != 1 or list(v) != sorted(set(v)) or len(v) > 8:
            raise ValueError("must rise from 1, at most 8 offsets, e.g. [1, 2, 4, 8] (or [1]: the previous frame alone)")
        return v


class ScaleoutConfig(Section):
    """Chunked renders (`--engine ray`): how long shots are split, how each chunk warms up."""

    chunk_seconds: float = Field(10.0, gt=0.0, le=86400.0)  # shots longer than this are split into chunks
    warmup_frames: int = Field(40, ge=0, le=10000)  # rendered before a chunk's first kept frame, then dropped
    fade_frames: int = Field(24, ge=0, le=10000)  # the last warm-up frames cross-fade over the previous chunk


class CarveConfig(Section):
    """Carving (kind = "carve"): the net's model and weights come from [dream]."""

    layer: str | None = None  # None: the model's carving layer (digits: conv3)
    maps: tuple[Annotated[int, Field(ge=0)], ...] = Field((0,), min_length=1)  # channel per tile, cycled
    tiles: tuple[Annotated[int, Field(ge=2, le=16)], ...] = (2,)  # 2: 2x2 quadrants; [2, 4] cascades to 4x4
    iterations: int = Field(4, ge=1, le=100)  # outer iterations (the series used 4-6)
    steps: int = Field(30, ge=1, le=1000)  # most ascent steps per (sub-)image
    tol: float = Field(0.02, ge=0.0, le=1.0)  # stop once 5 steps gain less than this share
    step_size: float = Field(0.01, gt=0.0, le=1.0)
    jitter: int = Field(2, ge=0, le=256)
    spread: float = Field(0.2, gt=0.0, le=0.5)  # per-image standardisation: std around 0.5
    gray: bool | None = None  # None: grey for grey nets (digits)
    stretch: bool = False  # contrast stretch for display
    animate: str | None = None  # a GIF of the outer iterations


class AudioConfig(Section):
    """Music that drives schedules and objectives (``beat``, ``onset``, ``low``, ...; see `pipeline.signals`)."""

    file: str | None = None  # audio (or video with sound); a video render without it uses its own soundtrack
    attack: float = Field(0.0, ge=0.0, le=10.0)  # seconds for a curve to rise (0: at once)
    release: float = Field(0.2, ge=0.0, le=10.0)  # seconds for a curve to fall back (beat's fall-off)
    stems: dict[str, str] = Field(default_factory=dict)  # name -> file: adds NAME_onset, NAME_beat, ...

    @field_validator("stems")
    @classmethod
    def _stem_names(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            check_stem(name)
        return v


class MaskConfig(Section):
    """Where the frame dreams (`pipeline.mask`): white dreams, black keeps the input, grey in between."""

    mask: str = Field(min_length=1, max_length=4096)  # an image, a frames folder or a video (one mask a frame), or "luma > 0.7"
    invert: bool = False  # dream where the mask is black instead
    feather: int = Field(8, ge=0, le=256)  # pixels each side of an edge over which the mask softens (0: hard)


class RegionConfig(MaskConfig):
    """A `[[regions]]` entry: a mask with its own objective, dreamed in the one ascent."""

    objective: str = Field(min_length=1)  # objective language, like [dream] objective (t, sched(...), the music too)
    strength: float = Field(1.0, ge=0.0, le=1.0)  # the share of the step its pixels take


class RenderConfig(Section):
    description: str = ""
    kind: Literal["dream", "zoom", "video", "carve"] = "dream"  # each has a builder in renderer.BUILDERS
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, le=1024)  # CPU threads; None: torch's default
    loop: bool = False  # zoom and video: the output plays round, its last frame flowing into its first (`pipeline.loop`)
    source: SourceConfig = SourceConfig()
    dream: DreamConfig = DreamConfig()
    motion: MotionConfig = MotionConfig()
    post: PostConfig = PostConfig()
    output: OutputConfig = OutputConfig()
    video: VideoConfig = VideoConfig()
    scaleout: ScaleoutConfig = ScaleoutConfig()
    carve: CarveConfig = CarveConfig()
    audio: AudioConfig = AudioConfig()
    mask: MaskConfig | None = None  # where the frame dreams at all
    regions: tuple[RegionConfig, ...] = Field((), max_length=8)  # each mask dreams its own objective

    @model_validator(mode="after")
    def _loops_animate(self) -> RenderConfig:
        if self.loop and self.kind not in ("zoom", "video"):
            raise DreamreelError(f"loop = true is for zoom and video renders, not {self.kind!r}",
                                 "remove loop, or render a zoom or a video")
        return self

    @model_validator(mode="after")
    def _expressions_parse(self) -> RenderConfig:
        """Schedules and the objective parse, reading only names that exist (the stems' included):
        a DreamreelError naming the column and the known names. With regions, the objective they
        compose to parses too (each region's objective must be one a mask can weight)."""
        if self.kind == "carve" and (self.mask is not None or self.regions):
            raise DreamreelError("carving takes no [mask] or [[regions]]", "drop them, or dream the image (kind = \"dream\")")
        music = Signals.sample(self.audio.stems)
        for e in self.expressions():
            parsed = e.parse(music)
            if isinstance(parsed, objectives.Objective) and (past := max(parsed.regions, default=0)) > len(self.regions):
                raise DreamreelError(f"{e.where} reads region {past}, but the recipe has {len(self.regions)} [[regions]]",
                                     "add a [[regions]] entry for it, or count regions from 1 (0: outside every region)")
        for k, part in enumerate(self._parts()):
            try:
                objectives.parse(part, where="regions", signals=music)
            except DreamreelError as e:
                where = f"regions[{k}].objective" if k else "dream.objective (outside the [[regions]])"
                raise DreamreelError(f"{where}: {e.problem}", e.fix) from None
        return self

    def _parts(self) -> list[str]:
        """With `[[regions]]` or a `[mask]`: the terms `objective()` adds up, each weighted by its
        region within the mask (a mask alone: the dream's objective within it, where it can be)."""
        if self.mask is None and not self.regions:
            return []
        base = objectives.parse(self.dream.objective, signals=Signals.sample(self.audio.stems))
        if base.regions or not self.regions and not base.local:
            return []
        return [f"region(0, {self.dream.objective})", *(f"region({k}, {r.objective})" for k, r in enumerate(self.regions, 1))]

    def expressions(self) -> Iterator[Expression]:
        """Every expression of the recipe, in its order: the objective, the tracks it reads, each
        region's objective, then each motion schedule given. The one walk the validator and the
        builders' "does it read the music" both use."""
        yield Expression("dream.objective", self.dream.objective, objective=True, tracks=self.dream.tracks)
        for name, track in self.dream.tracks.items():
            yield Expression(f"dream.tracks.{name}", track)
        for k, r in enumerate(self.regions, 1):
            yield Expression(f"regions[{k}].objective", r.objective, objective=True, tracks=self.dream.tracks)
        for name in MotionConfig.SCHEDULES:
            if (v := getattr(self.motion, name)) is not None:
                yield Expression(f"motion.{name}", v)

    def objective(self) -> str:
        """The objective the dreamer runs: `[dream] objective`, or with `[[regions]]` each region's
        weighted by its mask and the dream's by the pixels outside them (`objectives.region`), one
        ascent, all within `[mask]`. An objective that places regions itself (``region(1, ...)``)
        is run as written, and so is one a mask cannot weight (a class logit) under a mask alone:
        its steps are still masked."""
        return " + ".join(self._parts()) or self.dream.objective

    def composed(self) -> RenderConfig:
        """This recipe as the builders run it: the dream's objective is `objective()`."""
        if self.mask is None and not self.regions:
            return self
        return self.model_copy(update={"dream": self.dream.model_copy(update={"objective": self.objective()})})


@dataclass(frozen=True)
class Expression:
    """One expression of a recipe: where it sits (``motion.zoom``, ``dream.objective``) and its
    text, in the objective language or a schedule."""

    where: str
    value: str | float
    objective: bool = False
    tracks: Mapping[str, float | str] = field(default_factory=dict)  # the objective's named schedules

    def parse(self, signals: Signals) -> objectives.Objective | Schedule:
        """Parsed reading `signals` (`Signals.sample(stems)` to check); a one-line error names `where`."""
        if self.objective:
            return objectives.parse(str(self.value), where=self.where, signals=signals, tracks=self.tracks)
        return Schedule.parse(self.value, where=self.where, signals=signals)

    def names(self, signals: Signals) -> set[str]:
        """The variables it reads (``t``, ``beat``, ...; inside an objective's ``sched("...")`` too)."""
        if self.objective:
            return names_in(str(self.value))
        return Schedule.parse(self.value, where=self.where, signals=signals).names()


def _model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """The section model that holds the field at `loc` (all but its last part)."""
    model = root
    for part in loc[:-1]:
        if isinstance(part, int) or str(part) not in model.model_fields:  # an entry of a list of sections
            continue
        ann = model.model_fields[str(part)].annotation
        inner = [a for a in (ann, *get_args(ann), *(b for a in get_args(ann) for b in get_args(a)))
                 if isinstance(a, type) and issubclass(a, BaseModel)]
        if inner:  # a section, an optional one (`X | None`) or a list of them (`tuple[X, ...]`)
            model = inner[0]
    return model


def _range(model: type[BaseModel], name: str) -> str:
    lo = hi = None
    for m in model.model_fields[name].metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            lo = f"{'[' if isinstance(m, at.Ge) else '('}{getattr(m, 'ge', getattr(m, 'gt', None))}"
        if isinstance(m, (at.Le, at.Lt)):
            hi = f"{getattr(m, 'le', getattr(m, 'lt', None))}{']' if isinstance(m, at.Le) else ')'}"
    return f"{lo or '(-inf'}, {hi or 'inf)'}" if lo or hi else ""


def from_mapping(data: Mapping[str, Any], where: str = "config") -> RenderConfig:
    """Validate a nested mapping (a parsed preset merged with CLI overrides) into a RenderConfig."""
    try:
        return RenderConfig.model_validate(dict(data))
    except ValidationError as e:
        raise _explain(e, where) from None


def _explain(e: ValidationError, where: str) -> DreamreelError:
    err = e.errors()[0]
    loc = tuple(err["loc"])
    dotted = ".".join(map(str, loc)).replace("regions.", "regions[", 1)
    if dotted.startswith("regions[") and len(loc) > 1 and isinstance(loc[1], int):  # regions count from 1 (0: outside them)
        dotted = f"regions[{loc[1] + 1}]" + dotted[len(f"regions[{loc[1]}"):]
    model = _model_at(RenderConfig, loc)
    if err["type"] == "missing":
        return DreamreelError(f"{where}: {dotted} is missing", f"give {dotted}")
    if err["type"] == "extra_forbidden":
        known = list(model.model_fields)
        close = difflib.get_close_matches(str(loc[-1]), known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        return DreamreelError(f"{where}: unknown key {dotted!r}", f"{hint}valid keys here: {', '.join(known)}")
    name = str(loc[-1])
    rng = _range(model, name) if name in model.model_fields else ""
    got = err.get("input")
    fix = f"use a value in {rng}" if rng else err["msg"].lower()
    return DreamreelError(f"{where}: {dotted} = {got!r} is invalid ({err['msg'].lower()})", fix)
