"""The music analysis in a fresh process: prints a JSON line (seconds of decode and analysis).

A generated track (`clips.beat_track`, the gallery's kick/hat/pad at 120 bpm) of `--seconds`
is decoded (bundled ffmpeg -> mono float32 at 22.05 kHz) and analysed (`audio.analyse`: one
spectrogram, onsets, beats, RMS, three bands, per frame at 25 fps). The first analysis in a
process also pays librosa's import and numba's load (compiled once per install, then cached);
the second is the steady cost.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--fps", type=float, default=25.0)
    a = p.parse_args()
    from benchmarks.clips import beat_track
    from pipeline import audio

    with tempfile.TemporaryDirectory() as tmp:
        track = beat_track(Path(tmp) / "music.wav", a.seconds, sound="music")
        t0 = time.perf_counter()
        pcm = audio.decode(track)
        t1 = time.perf_counter()
        first = audio.analyse(pcm, a.fps)
        t2 = time.perf_counter()
        audio.analyse(pcm, a.fps)
        t3 = time.perf_counter()
    print(json.dumps({"seconds": a.seconds, "decode": t1 - t0, "first": t2 - t1, "analyse": t3 - t2,
                      "bpm": first.scalars["bpm"], "beats": len(first.beats)}))


if __name__ == "__main__":
    main()
