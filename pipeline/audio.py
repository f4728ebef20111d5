"""Music as per-frame numbers: `Signals` lends schedules and objectives ``onset``, ``beat``, ``rms``,
``low``, ``mid``, ``high``, ``bpm`` and ``s`` (and ``STEM_onset`` ... for each stem).

A track is decoded once by the bundled ffmpeg (mono float32 PCM at `RATE`) and analysed by
librosa from one magnitude spectrogram: onset strength (on its mel bands), beat tracking (on
that onset envelope), RMS and three band energies. Each curve is brought to the render's
frame rate (a frame takes the loudest onset and the mean energy of the hops it spans), smoothed
by an attack/release follower and scaled to [0, 1] over the track; silence stays 0. The result is
one immutable value the builder computes once and passes to the schedules: no state anywhere
else, and the same file gives the same numbers (the resume recipe holds the file's hash).
"""

from __future__ import annotations

import functools

import hashlib
import math
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .errors import DreamreelError

if TYPE_CHECKING:
    from .config import RenderConfig

RATE = 22050  # Hz: librosa's default rate, enough for onsets and three bands
HOP = 512  # samples per analysis hop (23 ms): about 2 hops per frame at 25 fps
N_FFT = 2048
CURVES = ("onset", "beat", "rms", "low", "mid", "high")  # per frame, each in [0, 1]
BANDS = {"low": (0.0, 250.0), "mid": (250.0, 2000.0), "high": (2000.0, RATE / 2 + 1.0)}  # Hz, [lo, hi)
SAMPLE = {"onset": 0.5, "beat": 0.5, "rms": 0.5, "low": 0.5, "mid": 0.5, "high": 0.5, "bpm": 120.0}
_STEM_NAME = re.compile(r"[a-z][a-z0-9]*")


def track_names(prefix: str = "") -> tuple[str, ...]:
    """The names one track lends: its curves and its ``bpm`` (``drums_onset`` ... with a prefix)."""
    return tuple(f"{prefix}{n}" for n in (*CURVES, "bpm"))


def names(stems: Iterable[str] = ()) -> tuple[str, ...]:
    """Every name an expression may use besides ``t`` and math: ``s``, the track's, each stem's."""
    return ("s", *track_names(), *(n for stem in stems for n in track_names(f"{stem}_")))


def is_variable(name: str) -> bool:
    """Whether `name` is one of the per-frame names (``s``, ``beat``, ``drums_onset``, ...)."""
    return name == "s" or name.rpartition("_")[2] in track_names()


def audio_names(used: Iterable[str], stems: Iterable[str] = ()) -> list[str]:
    """The names in `used` that need a soundtrack (all of `names` but ``s``)."""
    need = set(names(stems)) - {"s"}
    return sorted(set(used) & need)


@dataclass(frozen=True, eq=False)
class Signals:
    """Per-frame curves at `fps` (name -> float32 array of `frames` values) and per-track scalars.

    Read-only in practice (the arrays are not writeable); plain dicts so it pickles (Ray workers).
    ``frames == 0`` is the value used to check expressions before any audio is read: every
    name then reads as a typical value (0.5, 120 bpm) so ``1/onset`` is not refused as a
    division by zero. Past the end of the track a curve reads 0 (silence).
    """

    fps: float = 25.0
    frames: int = 0
    curves: Mapping[str, np.ndarray] = field(default_factory=dict)
    scalars: Mapping[str, float] = field(default_factory=dict)  # bpm, STEM_bpm
    beats: tuple[float, ...] = ()  # the track's beat times, seconds
    seconds: float = 0.0

    @classmethod
    def sample(cls, stems: Iterable[str] = (), fps: float = 25.0) -> Signals:
        """No audio yet: the names exist (for checking), each with a typical value."""
        prefixes = ["", *(f"{s}_" for s in stems)]
        return cls(fps, 0, {p + k: np.full(1, v, np.float32) for p in prefixes for k, v in SAMPLE.items() if k != "bpm"},
                   {f"{p}bpm": SAMPLE["bpm"] for p in prefixes})

    def at(self, t: float) -> dict[str, float]:
        """Every name's value at frame `t`."""
        i = int(math.floor(t + 1e-9))
        if self.frames == 0:
            values = {k: float(v[0]) for k, v in self.curves.items()}
        else:
            values = {k: float(v[i]) if 0 <= i < len(v) else 0.0 for k, v in self.curves.items()}
        return {"s": t / self.fps, **self.scalars, **values}

    def table(self) -> dict[str, np.ndarray]:
        """Name -> per-frame values (``s`` first): the CSV's columns, the picture's rows."""
        return {"s": np.arange(self.frames, dtype=np.float64) / self.fps, **self.curves}


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (the resume recipe's record of which audio a render used)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def decode(path: Path, start: float = 0.0) -> np.ndarray:
    """Mono float32 PCM at `RATE` from the first audio stream of any file ffmpeg reads."""
    from .media import has_audio, run

    if not path.is_file():
        raise DreamreelError(f"audio file {str(path)!r} not found", "give the path of an audio or video file with sound")
    if not has_audio(path):
        raise DreamreelError(f"{str(path)!r} has no audio stream", "give a file with sound (wav, mp3, flac, or a video with audio)")
    args = [*(["-ss", f"{start:.6f}"] if start else []), "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(RATE),
            "-f", "f32le", "-"]
    pcm = np.frombuffer(run(args, f"cannot decode the audio of {str(path)!r}", "check the file plays"), np.float32)
    if pcm.size == 0:
        raise DreamreelError(f"{str(path)!r} has no audio samples", "give a file with sound")
    return np.nan_to_num(pcm)


def analyse(pcm: np.ndarray, fps: float, attack: float = 0.0, release: float = 0.2, prefix: str = "",
            frames: int | None = None) -> Signals:
    """Curves of one mono track at `fps` (`frames` of them, default the track's length)."""
    import librosa  # the `audio` extra; imported on first use (numba loads its beat tracker: seconds)

    n = frames if frames is not None else max(1, round(len(pcm) / RATE * fps))
    mag = np.abs(librosa.stft(pcm, n_fft=N_FFT, hop_length=HOP))
    power = mag**2
    mel = librosa.feature.melspectrogram(S=power, sr=RATE)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=1.0), sr=RATE, hop_length=HOP)
    bpm, beats = _beats(onset)
    freqs = librosa.fft_frequencies(sr=RATE, n_fft=N_FFT)
    hop_curves = {"onset": onset, "rms": librosa.feature.rms(S=mag, frame_length=N_FFT)[0]}
    for band, (lo, hi) in BANDS.items():
        hop_curves[band] = np.sqrt(power[(freqs >= lo) & (freqs < hi)].mean(axis=0))
    hop_frame = np.floor(librosa.frames_to_time(np.arange(mag.shape[1]), sr=RATE, hop_length=HOP) * fps + 1e-9).astype(int)
    per_frame = {k: _to_frames(v, hop_frame, n, peak=k == "onset") for k, v in hop_curves.items()}
    per_frame["beat"] = _impulses(beats, fps, n)
    curves = {f"{prefix}{k}": _unit(_follow(per_frame[k], fps, attack, release)) for k in CURVES}
    return Signals(fps, n, curves, {f"{prefix}bpm": bpm}, tuple(beats), len(pcm) / RATE)


def _beats(onset: np.ndarray) -> tuple[float, list[float]]:
    """(tempo in bpm, beat times in seconds); (0, []) for a track without onsets (silence)."""
    import librosa

    if not np.any(onset > 0):
        return 0.0, []
    tempo, frames = librosa.beat.beat_track(onset_envelope=onset, sr=RATE, hop_length=HOP)
    times = [float(x) for x in librosa.frames_to_time(frames, sr=RATE, hop_length=HOP)]
    if len(times) > 2:  # the mean beat interval: librosa's tempo moves in whole hops (117.45 or 123.05 for 120)
        return round(60.0 * (len(times) - 1) / (times[-1] - times[0]), 2), times
    return round(float(np.atleast_1d(tempo)[0]), 2), times


def _to_frames(hop_values: np.ndarray, hop_frame: np.ndarray, n: int, peak: bool) -> np.ndarray:
    """One value per video frame from the hops inside it: the max (`peak`, so no onset is lost
    between frames) or the mean; a frame with no hop (fps above the hop rate) takes its neighbours'."""
    inside = (hop_frame >= 0) & (hop_frame < n)
    idx, vals = hop_frame[inside], hop_values[inside].astype(np.float64)
    out = np.zeros(n)
    count = np.bincount(idx, minlength=n)
    if peak:
        np.maximum.at(out, idx, vals)
    else:
        out = np.bincount(idx, vals, minlength=n) / np.maximum(count, 1)
    have = count > 0
    if have.any() and not have.all():
        out[~have] = np.interp(np.flatnonzero(~have), np.flatnonzero(have), out[have])
    return out


def _impulses(beats: Iterable[float], fps: float, n: int) -> np.ndarray:
    """1 on the frame that holds each beat, 0 elsewhere (the follower adds the fall-off)."""
    out = np.zeros(n)
    idx = np.floor(np.asarray(list(beats), np.float64) * fps + 1e-9).astype(int)
    out[idx[(idx >= 0) & (idx < n)]] = 1.0
    return out


def _follow(x: np.ndarray, fps: float, attack: float, release: float) -> np.ndarray:
    """Attack/release envelope follower: rises with time constant `attack`, falls with `release` (s)."""
    up, down = (1.0 - math.exp(-1.0 / (tau * fps)) if tau > 0 else 1.0 for tau in (attack, release))
    out = np.empty_like(x)
    level = 0.0
    for i, v in enumerate(x.tolist()):
        level += (up if v > level else down) * (v - level)
        out[i] = level
    return out


def _unit(x: np.ndarray) -> np.ndarray:
    """Scaled to [0, 1] over the track (min -> 0, max -> 1), read-only; a flat curve (silence) is all 0."""
    lo, hi = (float(x.min()), float(x.max())) if len(x) else (0.0, 0.0)
    out = ((x - lo) / (hi - lo) if hi - lo > 1e-12 else np.zeros(len(x))).astype(np.float32)
    out.flags.writeable = False
    return out


def check_stem(name: str) -> str:
    """A stem's name becomes a prefix (``drums`` -> ``drums_onset``): lower-case letters and digits."""
    if not _STEM_NAME.fullmatch(name):
        raise DreamreelError(f"audio.stems: bad stem name {name!r}", "use lower-case letters and digits, e.g. drums or bass")
    return name


def read(path: Path, fps: float, attack: float = 0.0, release: float = 0.2, stems: Mapping[str, Path] | None = None,
         start: float = 0.0, frames: int | None = None) -> Signals:
    """Decode and analyse a track and its stems at `fps`; stems are cut or padded to the track's frames.

    The same files with the same settings are analysed once per process (a studio rebuilds its
    render at every change; a song's decode and beat tracking take seconds): `Signals` is immutable."""
    files = (path, *sorted((stems or {}).items()))
    stamp = tuple((str(p), *_stat(p)) for p in (path, *(stems or {}).values()))
    return _read(files, stamp, fps, attack, release, start, frames)


def _stat(path: Path) -> tuple[int, int]:
    try:
        st = Path(path).stat()
        return st.st_size, st.st_mtime_ns
    except OSError:
        return -1, -1  # decode() says what is wrong


@functools.lru_cache(maxsize=4)
def _read(files: tuple, _stamp: tuple, fps: float, attack: float, release: float, start: float,
          frames: int | None) -> Signals:
    path, stems = files[0], dict(files[1:])
    main = analyse(decode(path, start), fps, attack, release, frames=frames)
    curves, scalars = dict(main.curves), dict(main.scalars)
    for name, stem_path in (stems or {}).items():
        stem = analyse(decode(stem_path, start), fps, attack, release, prefix=f"{check_stem(name)}_", frames=main.frames)
        curves.update(stem.curves)
        scalars.update(stem.scalars)
    return Signals(fps, main.frames, curves, scalars, main.beats, main.seconds)


def expression_names(cfg: RenderConfig) -> list[tuple[str, str]]:
    """(where, name) for every variable the recipe's schedules and objective read."""
    from .config import MotionConfig
    from .schedule import Schedule, names_in

    found = [("dream.objective", n) for n in sorted(names_in(cfg.dream.objective))]
    for key in MotionConfig.SCHEDULES:
        if (v := getattr(cfg.motion, key)) is not None:
            found += [(f"motion.{key}", n) for n in sorted(Schedule.parse(v, signals=Signals.sample(cfg.audio.stems)).names())]
    return found


def for_render(cfg: RenderConfig, fps: float, soundtrack: Path | None = None, start: float = 0.0,
               frames: int | None = None) -> tuple[Signals, Path | None]:
    """The render's signals and the file they came from: ``[audio] file`` (``--audio``), else
    `soundtrack` (a video's own) when an expression reads the music, else none (``s`` still works).
    An expression that reads the music with no audio at all is a one-line error."""
    a = cfg.audio
    stems = {name: Path(p).expanduser() for name, p in a.stems.items()}
    need = [(where, n) for where, n in expression_names(cfg) if audio_names([n], a.stems)]
    path = Path(a.file).expanduser() if a.file else (soundtrack if need or stems else None)
    if path is None:
        if need:
            where, name = need[0]
            raise DreamreelError(f"{where} reads {name!r} but no audio is given", "add --audio FILE (or [audio] file = ...)")
        return Signals.sample(fps=fps), None
    start = start if path == soundtrack else 0.0  # a given track plays from its start, as it is muxed (not the video's range)
    return read(path, fps, a.attack, a.release, stems, start, frames), path
