"""kind = "video": the builder that turns a `[video]` recipe into a `Plan` for the render loop.

Per frame, in order (see DEVELOPERS.md, "Video"):

    SceneCut       a hard cut drops the carry: the shot restarts cold
    FlowFeedback   dream t-1 warped onto frame t along the *input's* flow (occlusions: the new frame)
    ShotDreamer    cold frame: the full octave dream; carried frame: `steps_warm` steps only
    post           drift control (colour anchored to the source), blend
    HoldStrength   the finished frame's dream strength stays at the shot's first frame's level

With `independent`, every frame is dreamed from scratch (the flicker reference). The chain's
only state is `frame.carry` (last source + last dream): a render, a resumed render and a
chunk of a longer video all start a shot the same way, cold, from `carry = None`.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .ascent import Ascent
from .chain import CarryOf, keep_last
from .config import RenderConfig, VideoConfig
from .dream import Dreamer, ShotDreamer
from .dreamsize import at_dream_size
from .errors import DreamreelError
from .frames import Frame, Stage
from .motion import FlowFeedback, SceneCut
from .plan import Plan, Progress, make_dreamer, make_sinks, post_stages
from .post import Drift, HoldStrength
from .steady import History
from .sources import open_frames


def warm_ascent(cold: Ascent, v: VideoConfig) -> Ascent:
    """The warm frames' ascent: few steps, usually at full size only, usually a smaller step."""
    return Ascent(octaves=v.octaves_warm, octave_scale=cold.octave_scale, steps=v.steps_warm,
                  step_size=v.step_size_warm or cold.step_size, jitter=cold.jitter, tile=cold.tile, min_size=cold.min_size)


def video_stages(v: VideoConfig, dreamer: Dreamer, dream_size: int | None = None) -> list[Stage]:
    """The stages before post: cut check, flow feedback, shot dreamer; with a `dream_size`, the
    dreamer runs at that short side and flow too (a 4K frame's motion is found at 540 px)."""
    if v.independent:
        return [at_dream_size(dreamer, dream_size)]
    return [SceneCut(v.cut_threshold),
            FlowFeedback(v.blend, v.residual, v.flow, feather=v.feather, evolve=v.evolve, flow_size=dream_size),
            at_dream_size(ShotDreamer(dreamer, warm_ascent(dreamer.ascent, v), v.fixed_jitter), dream_size)]


def video_carry(v: VideoConfig) -> CarryOf:
    """What a frame hands the next: itself, plus earlier frames for long-term consistency."""
    return keep_last if v.independent or len(v.long_term) == 1 else History(v.long_term)


def build_video(cfg: RenderConfig, progress: Progress) -> Plan:
    """Source, sinks (at the source's rate, with its audio), model and stages, all checked up front."""
    s = cfg.source
    if not s.input:
        raise DreamreelError("no input video", "give a video file or a folder of frames: dreamreel video IN.mp4 -o OUT.mp4")
    source = open_frames(Path(s.input).expanduser(), s.size, s.start_time, s.end_time, s.start_frame, s.end_frame,
                         s.frames, s.fps)
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"fps": source.fps})})
    sinks = make_sinks(cfg, source.frame_count or None, audio_from=source.audio, audio_start=source.start_seconds)
    dreamer = make_dreamer(cfg, progress)
    stages = video_stages(cfg.video, dreamer, cfg.dream.dream_size)
    shot = next((getattr(st, "inner", st) for st in stages if isinstance(getattr(st, "inner", st), ShotDreamer)), None)

    def steps_of(frame: Frame) -> int:  # the loop asks before the carry is set: a guess (warm after frame 0)
        h, w = frame.image.shape[:2]
        return shot.steps(frame.index > 0, h, w) if shot else ShotDreamer(dreamer, dreamer.ascent).steps(False, h, w)

    hold: list[Stage] = [HoldStrength(boost=cfg.video.boost)] if cfg.video.hold and not cfg.video.independent else []
    return Plan(source, source.frame_count or None, [*stages, *anchored(post_stages(cfg)), *hold], sinks, steps_of=steps_of,
                carry_of=video_carry(cfg.video))


def anchored(post: list[Stage]) -> list[Stage]:
    """Video drift control anchors the LAB *mean* only (brightness, colour balance). Matching the
    spread too would, compounded through the carry frame after frame, fade the dream's own
    contrast and colour within a shot (the cold first frame vivid, the rest washed out)."""
    return [replace(s, spread=False) if isinstance(s, Drift) else s for s in post]
