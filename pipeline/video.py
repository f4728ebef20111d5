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

With ``loop = true`` the clip is read once first (its exact length; a note when its end does
not flow into its start), its last frames run before frame 0 and the closing frames blend into
them (`loop`): the output plays round, as many frames as the input.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from . import mask
from .chain import CarryOf, keep_last
from .config import RenderConfig, VideoConfig
from .dream import Dreamer, ScheduledDreamer, ShotDreamer
from .dreamsize import at_dream_size
from .errors import DreamreelError
from .frames import Frame, Stage
from .loop import OFF, Lap, Loop, Survey
from .motion import FlowFeedback, SceneCut
from .plan import Plan, Progress, make_dreamer, make_music, make_sinks, note, post_stages
from .post import Drift, HoldStrength
from .schedule import uses_time
from .signals import Signals
from .steady import History
from .sources import open_frames


def stages(cfg: RenderConfig, dreamer: Dreamer, music: Signals | None = None, loop: Loop = OFF) -> list[Stage]:
    """The whole per-frame chain of a video render, post and strength hold included: the one
    list that a local render, a resumed render and every chunk of a chunked render run.
    An objective that reads t, sched(...) or the music (`music`) is re-weighted per frame. With
    `[dream] dream_size` the dreamer runs at that short side and flow too (a 4K frame's motion
    is found at 540 px). A `loop` adds its closing blend last."""
    v, size = cfg.video, cfg.dream.dream_size
    post = anchored(post_stages(cfg))
    per_frame = per_frame_objective(cfg, dreamer, music)
    weighted, carried = mask.stages(cfg), mask.carried(cfg)
    if v.independent:
        return loop.stages([*weighted, at_dream_size(per_frame or dreamer, size), *post])
    hold: list[Stage] = [HoldStrength(boost=v.boost)] if v.hold else []
    held: list[Stage] = [mask.Held(carried)] if carried else []
    return loop.stages([*held, SceneCut(v.cut_threshold),
                        FlowFeedback(v.blend, v.residual, v.flow, feather=v.feather, evolve=v.evolve, flow_size=size,
                                     masks=carried),
                        *weighted, at_dream_size(ShotDreamer(dreamer, dreamer.ascent.warm(v), v.fixed_jitter, per_frame), size),
                        *post, *hold])


def carry_of(v: VideoConfig, loop: Loop = OFF, dream_size: int | None = None) -> CarryOf:
    """What a frame hands the next: itself, plus earlier frames for long-term consistency (kept at
    the dream size, where flow runs, when there is one), its masks (None without any) and a loop's lead."""
    inner = keep_last if v.independent or len(v.long_term) == 1 else History(v.long_term, dream_size)
    return loop.carry_of(mask.Keeping(inner))


def looping(cfg: RenderConfig, frames: int) -> Loop:
    """The loop a render of `frames` frames closes (`loop`), or OFF."""
    return Loop.video(frames) if cfg.loop else OFF


def per_frame_objective(cfg: RenderConfig, dreamer: Dreamer, music: Signals | None) -> ScheduledDreamer | None:
    """The dreamer re-weighted each frame when the objective reads t, sched(...) or the music."""
    d = cfg.dream
    return ScheduledDreamer(dreamer, objective=d.objective, signals=music, tracks=d.tracks) if uses_time(d.objective, d.tracks) else None


def build_video(cfg: RenderConfig, progress: Progress) -> Plan:
    """Source, sinks (at the source's rate, with its audio), model and stages, all checked up front."""
    s = cfg.source
    if not s.input:
        raise DreamreelError("no input video", "give a video file or a folder of frames: dreamreel video IN.mp4 -o OUT.mp4")
    path = Path(s.input).expanduser()
    source = open_frames(path, s.size, s.start_time, s.end_time, s.start_frame, s.end_frame, s.frames, s.fps)
    count = source.frame_count or None
    mask.check_loop(cfg, video=True)
    if cfg.loop:  # the exact length, and whether the clip's end flows into its start
        survey = Survey.of(source)
        count = survey.frames
        if line := survey.note(path.name):
            note(line)
    cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"fps": source.fps})})
    # the music: --audio FILE (muxed instead of the source's sound), else the source's own when the objective reads it
    music, track = make_music(cfg, source.fps, source.audio, source.start_seconds, count)
    given = track is not None and track != source.audio
    sinks = make_sinks(cfg, count, audio_from=track if given else source.audio,
                       audio_start=0.0 if given else source.start_seconds)
    dreamer = make_dreamer(cfg, progress)
    loop = looping(cfg, count or 0)
    chain = stages(cfg, dreamer, music, loop)
    shot = next((getattr(st, "inner", st) for st in chain if isinstance(getattr(st, "inner", st), ShotDreamer)), None)

    def steps_of(frame: Frame) -> int:  # the loop asks before the carry is set: a guess (warm after the first frame)
        h, w = frame.image.shape[:2]
        warm = frame.index > -loop.lead
        return shot.steps(warm, h, w) if shot else ShotDreamer(dreamer, dreamer.ascent).steps(False, h, w)

    laps = Lap(source.iter_from, count, loop.lead) if loop.lead else source
    frames = mask.attached(cfg, laps, count, source.start_frame, source.fps)
    return Plan(frames, count, chain, sinks, steps_of=steps_of, carry_of=carry_of(cfg.video, loop, cfg.dream.dream_size))


def anchored(post: list[Stage]) -> list[Stage]:
    """Video drift control anchors the LAB *mean* only (brightness, colour balance). Matching the
    spread too would, compounded through the carry frame after frame, fade the dream's own
    contrast and colour within a shot (the cold first frame vivid, the rest washed out)."""
    return [replace(s, spread=False) if isinstance(s, Drift) else s for s in post]
