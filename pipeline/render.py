"""render(config): wires source -> stages -> sinks. Every choice is made in `build`, once.

`build` dispatches on ``cfg.kind`` through `BUILDERS` (kind -> ``(cfg, progress) -> Plan``);
a new kind of render is one builder added to that table, the loop stays as it is. The loop
is the same for a still, a zoom or a video: set ``frame.carry``, run the stages, write to
every sink, and (for several frames) keep the finished frame for `--resume`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path

from .config import RenderConfig
from .errors import DreamreelError
from .frames import Carry
from .plan import Plan, Progress, dream_steps, make_dreamer, make_sinks, output_paths, post_stages, resolve_device
from .resume import Parts, parts_dir
from .sources import ImageSource
from .video import build_video

__all__ = ["BUILDERS", "Plan", "Progress", "build", "outputs", "render", "resolve_device"]

Builder = Callable[[RenderConfig, Progress], Plan]


def outputs(cfg: RenderConfig) -> list[Path]:
    return [Path(p).expanduser() for p in output_paths(cfg)]


def build_still(cfg: RenderConfig, progress: Progress) -> Plan:
    """kind = "dream": one image through the dreamer and the post stages."""
    sinks = make_sinks(cfg, 1)
    source = ImageSource(Path(cfg.source.input).expanduser() if cfg.source.input else None, cfg.source.size)
    frames = list(source)  # one still: read now, so a bad input fails before the model loads
    dreamer = make_dreamer(cfg, progress)
    return Plan(frames, 1, [dreamer, *post_stages(cfg)], sinks, steps_of=lambda f: dream_steps(dreamer, f))


BUILDERS: dict[str, Builder] = {
    "dream": build_still,
    "video": build_video,
}


def build(cfg: RenderConfig, progress: Progress) -> Plan:
    """Choose and check everything (paths, device, model, layers) before any work is done."""
    if cfg.kind not in BUILDERS:
        raise DreamreelError(f"kind {cfg.kind!r} is not available in this build", f"use one of: {', '.join(BUILDERS)}")
    return BUILDERS[cfg.kind](cfg, progress)


def recipe(cfg: RenderConfig) -> dict:
    """What must match for `--resume` to continue a render: everything but where it is written."""
    data = cfg.model_dump(mode="json")
    data["output"].pop("paths", None)
    data["output"].pop("contact_sheet", None)
    return data


def render(cfg: RenderConfig, quiet: bool = False, resume: bool = False) -> list[Path]:
    """Render `cfg` and return the paths written. Raises DreamreelError on bad input.

    With several frames, finished frames are kept in ``OUT.parts/`` until the render is done;
    `resume` continues from there (see `pipeline.resume`).
    """
    progress = Progress(1, quiet)
    try:
        plan = build(cfg, progress)
        progress.set_frames(plan.frame_count)
        parts = Parts.open(parts_dir(output_paths(cfg)[0]), recipe(cfg), resume) if plan.frame_count != 1 else None
        with ExitStack() as stack:
            outs = [stack.enter_context(s) for s in plan.sinks]
            for extra in plan.extras:
                stack.enter_context(extra)
            carry: Carry | None = None
            if parts:
                for done in parts.finished():
                    for out in outs:
                        out.write(done)
                    progress.end_frame()
                carry = parts.carry
            for frame in plan.frames_from(parts.start if parts else 0):
                progress.start_frame(plan.steps_of(frame))
                frame = replace(frame, carry=carry)
                for stage in plan.stages:
                    frame = stage(frame)
                for out in outs:
                    out.write(frame)
                carry = plan.carry_of(frame)
                if parts:
                    parts.save(frame, carry)
                progress.end_frame()
        if parts:
            parts.clean()
    finally:
        progress.close()
    return outputs(cfg) + ([Path(cfg.output.contact_sheet).expanduser()] if cfg.output.contact_sheet else [])
