"""Laying the source's audio under a finished picture: one ffmpeg pass that copies the video.

Muxing live while the frames are piped in (``-af apad -shortest``) failed 4 runs in 5 on a
phone-style MP4 (MP3 as the first stream, starting 67 ms after the video): ffmpeg ended with
"Error sending frames to consumers", and the whole render was lost with it. So the picture is
encoded alone first, and the audio is laid on afterwards by `lay`, cut to the picture's exact
duration (``-t`` on the output: deterministic, the picture is never cut). The sinks and the
chunked join (`scaleout.segments.join`) both lay audio this one way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .media import Encoder, run


@dataclass(frozen=True, slots=True)
class Audio:
    """Where the source's audio for the rendered range is: path, codec, start and length in s."""

    path: Path
    codec: str | None  # the first audio stream's codec (decides whether it can be copied)
    start: float
    seconds: float  # the picture's duration: the audio is padded or cut to it

    def args(self, encoder: str, copyable: tuple[str, ...] = ()) -> tuple[list[str], list[str]]:
        """(input args, output args) that lay this audio on stream 1: copied when the container
        takes its codec as it is, else encoded by `encoder` and padded with silence (a track a few
        ms short would end the file before its last frame)."""
        seek = ["-ss", f"{self.start:.6f}"] if self.start else []
        copy = "*" in copyable or self.codec is not None and self.codec in copyable
        codec = ["-c:a", "copy"] if copy else ["-c:a", encoder, "-af", "apad"]
        return [*seek, "-i", str(self.path)], ["-map", "1:a:0", *codec, "-t", f"{self.seconds:.6f}"]


def lay(video_in: list[str], audio: Audio | None, partial: Path, output: Path, encoder: Encoder, fix: str = "") -> None:
    """Write `partial` (to become `output`, a final file: `encoder`'s container flags) from the video
    input `video_in`, copied, and `audio` (copied where `encoder`'s container takes its codec)."""
    a_in, a_out = audio.args(str(encoder.audio_codec), encoder.audio) if audio else ([], [])
    run([*video_in, *a_in, "-map", "0:v:0", "-c:v", "copy", *a_out, *encoder.container, str(partial)],
        f"ffmpeg could not write {output.name}", fix, output=output)
