"""The render recipe, typed and validated once at the edge (presets and CLI flags alike).

Each section is a frozen pydantic model that rejects unknown keys; `from_mapping` turns
pydantic's errors into one-line `DreamreelError`s that name the key, the nearest valid key
or the allowed range.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal

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


class RenderConfig(Section):
    description: str = ""
    kind: Literal["dream", "zoom", "video", "carve"] = "dream"  # each has a builder in renderer.BUILDERS
    seed: int = Field(0, ge=0, le=2**31 - 1)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, le=1024)  # CPU threads; None: torch's default
    source: SourceConfig = SourceConfig()
    dream: DreamConfig = DreamConfig()
    motion: MotionConfig = MotionConfig()
    post: PostConfig = PostConfig()
    output: OutputConfig = OutputConfig()
    video: VideoConfig = VideoConfig()
    scaleout: ScaleoutConfig = ScaleoutConfig()
    carve: CarveConfig = CarveConfig()
    audio: AudioConfig = AudioConfig()

    @model_validator(mode="after")
    def _expressions_parse(self) -> RenderConfig:
        """Schedules and the objective parse, reading only names that exist (the stems' included):
        a DreamreelError naming the column and the known names."""
        music = Signals.sample(self.audio.stems)
        for e in self.expressions():
            e.parse(music)
        return self

    def expressions(self) -> Iterator[Expression]:
        """Every expression of the recipe, in its order: the objective, then each motion schedule
        given. The one walk the validator and the builders' "does it read the music" both use."""
        yield Expression("dream.objective", self.dream.objective, objective=True)
        for name in MotionConfig.SCHEDULES:
            if (v := getattr(self.motion, name)) is not None:
                yield Expression(f"motion.{name}", v)


@dataclass(frozen=True)
class Expression:
    """One expression of a recipe: where it sits (``motion.zoom``, ``dream.objective``) and its
    text, in the objective language or a schedule."""

    where: str
    value: str | float
    objective: bool = False

    def parse(self, signals: Signals) -> objectives.Objective | Schedule:
        """Parsed reading `signals` (`Signals.sample(stems)` to check); a one-line error names `where`."""
        if self.objective:
            return objectives.parse(str(self.value), where=self.where, signals=signals)
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
        ann = model.model_fields[str(part)].annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            model = ann
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
    dotted = ".".join(map(str, loc))
    model = _model_at(RenderConfig, loc)
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
