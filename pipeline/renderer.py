"""render(config): wires source -> stages -> sinks. Every choice is made in `build`, once.

`build` dispatches on ``cfg.kind`` through `BUILDERS` (kind -> ``(cfg, progress) -> Plan``);
a new kind of render is one builder added to that table, the loop stays as it is. The loop
is the same for a still, a zoom or a video: set ``frame.carry``, run the stages, write to
every sink, and (for several frames) keep the finished frame for `--resume`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from . import audio, chain, guard, mask
from .config import RenderConfig
from .errors import DiskFull, DreamreelError
from .frames import Carry
from . import sinks as sinks_
from .carving import build_carve
from .dreamsize import at_dream_size
from .plan import (Plan, Progress, StepFrames, dream_steps, make_dreamer, make_sinks, output_paths, post_stages,
                   resolve_device, still_frames)
from .resume import Parts
from .video import build_video
from .zoom import build_zoom

__all__ = ["BUILDERS", "Plan", "Progress", "build", "outputs", "render", "resolve_device"]

Builder = Callable[[RenderConfig, Progress], Plan]


def outputs(cfg: RenderConfig) -> list[Path]:
    return [Path(p).expanduser() for p in output_paths(cfg)]


def build_still(cfg: RenderConfig, progress: Progress) -> Plan:
    """kind = "dream": one image through the dreamer and the post stages."""
    sinks = make_sinks(cfg, 1)
    frames = list(mask.attached(cfg, still_frames(cfg), 1, check=True))
    extras, on_step = [], None
    if steps_out := cfg.output.animate_steps:  # one GIF frame per ascent step
        sinks_.check_output(steps_out)
        gif = sinks_.for_path(steps_out, cfg.kind, fps=cfg.output.fps, crf=cfg.output.crf, frame_count=None)
        on_step = StepFrames(gif, frames[0].image.shape[1::-1], progress.step)
        extras.append(gif)
    dreamer = make_dreamer(cfg, progress, on_step)
    return Plan(frames, 1, [*mask.stages(cfg), at_dream_size(dreamer, cfg.dream.dream_size), *post_stages(cfg)], sinks, extras,
                steps_of=lambda f: dream_steps(dreamer, f))


BUILDERS: dict[str, Builder] = {
    "dream": build_still,
    "video": build_video,
    "zoom": build_zoom,
    "carve": build_carve,
}


def build(cfg: RenderConfig, progress: Progress) -> Plan:
    """Choose and check everything (paths, device, model, layers) before any work is done."""
    if cfg.kind not in BUILDERS:
        raise DreamreelError(f"kind {cfg.kind!r} is not available in this build", f"use one of: {', '.join(BUILDERS)}")
    return BUILDERS[cfg.kind](cfg.composed(), progress)  # regions: their objectives in the one the dreamer runs


def recipe(cfg: RenderConfig) -> dict:
    """What must match for `--resume` to continue a render: everything but where it is written."""
    data = cfg.model_dump(mode="json")
    data["output"].pop("paths", None)
    a = cfg.audio  # the music's bytes, not its name: a changed track is a different render
    data["audio"]["hashes"] = {name: audio.file_hash(Path(p).expanduser())
                               for name, p in [("file", a.file), *a.stems.items()] if p and Path(p).expanduser().is_file()}
    masks = [m.mask for m in (cfg.mask, *cfg.regions) if m is not None]  # a mask image's bytes too
    data["mask_hashes"] = [audio.file_hash(Path(m).expanduser()) if mask.is_image(m) else None for m in masks]
    for key in ("contact_sheet", "animate_steps", "fps", "crf"):  # encoding only: the frames are the same
        data["output"].pop(key, None)
    return data


@guard.guarded
def render(cfg: RenderConfig, quiet: bool = False, resume: bool = False) -> list[Path]:
    """Render `cfg` and return the paths written. Raises DreamreelError on bad input.

    With several frames, finished frames are kept in ``OUT.parts/`` until the render is done;
    `resume` continues from there (see `pipeline.resume`). Every output is locked for the
    render's length and none may be one of the inputs (`guard.guarded`).
    """
    _render(cfg, quiet, resume)
    extra = [cfg.output.contact_sheet, cfg.output.animate_steps]
    return outputs(cfg) + [Path(p).expanduser() for p in extra if p]


def _render(cfg: RenderConfig, quiet: bool, resume: bool) -> None:
    progress = Progress(1, quiet)
    parts: Parts | None = None
    plan: Plan | None = None
    try:
        plan = build(cfg, progress)
        progress.set_frames(plan.frame_count)
        if plan.frame_count != 1:
            parts = Parts.open(guard.parts_dir(output_paths(cfg)[0]), recipe(cfg), resume)
        run(plan, parts, progress)
        if parts:
            parts.clean()
    except BaseException as e:
        if parts and parts.empty():  # failed before a frame was finished: nothing worth resuming
            parts.clean()
        if isinstance(e, DiskFull) and plan and plan.frame_count == 1:  # a still has no --resume
            raise DreamreelError(e.problem, "free space, then rerun") from None
        raise
    finally:
        progress.close()


def run(plan: Plan, parts: Parts | None, progress: Progress) -> None:
    """The loop: replay what an interrupted run finished, then carry -> stages -> every sink."""
    with ExitStack() as stack:
        outs = [stack.enter_context(s) for s in plan.sinks]
        for extra in plan.extras:
            stack.enter_context(extra)
        carry: Carry | None = None
        if parts:
            stack.enter_context(parts)  # exits first: finished frames are kept even if a sink fails
            for done in parts.finished():
                for out in outs:
                    out.write(done)
                progress.end_frame()
            carry = parts.carry
        frames = (progress.starting(f, plan.steps_of(f)) for f in plan.frames_from(parts.start if parts else 0))
        for frame, carry in chain.run(frames, plan.stages, carry, plan.carry_of):
            if frame.index < 0:  # a loop's lead: it primes the chain, the output starts at frame 0
                continue
            for out in outs:
                out.write(frame)
            if parts:
                parts.save(frame, carry)
            progress.end_frame()
