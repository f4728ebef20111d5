"""The one chain every engine runs: frames through a kind's stages, each handed the last one's carry.

A local render (`renderer.run`), a chunk of a chunked render (`scaleout.chunk`) and a live
preview run frames through this one function over the stage list a kind's builder returns;
an engine decides only which frames go where. Stages are pure, so a frame depends only on
(seed, index, carry, source frame): any engine that starts from the same carry draws the
same frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import replace

from .frames import Carry, Frame, Stage

CarryOf = Callable[[Frame], Carry]


def keep_last(frame: Frame) -> Carry:
    """The default feedback: the next frame sees this frame's source and finished dream."""
    return Carry(frame.source, frame.image)


def advance(frame: Frame, carry: Carry | None, stages: Sequence[Stage]) -> Frame:
    """One frame through every stage, starting from the previous frame's carry."""
    frame = replace(frame, carry=carry)
    for stage in stages:
        frame = stage(frame)
    return frame


def run(frames: Iterable[Frame], stages: Sequence[Stage], carry: Carry | None = None,
        carry_of: CarryOf = keep_last) -> Iterator[tuple[Frame, Carry]]:
    """Each finished frame with the carry the next one receives (what resume saves beside it)."""
    for frame in frames:
        frame = advance(frame, carry, stages)
        carry = carry_of(frame)
        yield frame, carry
