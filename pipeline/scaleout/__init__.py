"""Scale-out: long videos rendered in chunks, in this process or across a Ray cluster.

    plan.py        frame range -> chunks (cut at scene cuts, long shots split, warm-up frames)
    chunk.py       ChunkRenderer: model loaded once, renders one chunk to its segment files
    segments.py    OUT.parts/segments/, atomic commits (resume), concat join, GIF palette pass
    job.py         render(): plan, render what is missing on an engine, join, clean up
    ray_engine.py  Ray Core actors + ActorPool with retries (imported only for --engine ray)
    interim.py     stand-ins for the video pieces (source, cuts, flow carry, warping error)

Nothing here imports Ray at module level: `ray_engine` is imported by `job.render` only
when the engine is "ray".
"""

from .job import ENGINES, render
from .layout import Chunk, plan

__all__ = ["ENGINES", "Chunk", "plan", "render"]
