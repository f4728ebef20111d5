"""Music as per-frame numbers: a track decoded and analysed into a `signals.Signals` (``onset``,
``beat``, ``rms``, ``low``, ``mid``, ``high``, ``bpm`` and ``s``, and ``STEM_onset`` ... for each stem).

A track is decoded once by the bundled ffmpeg (mono float32 PCM at `RATE`) and analysed by
librosa from one magnitude spectrogram: onset strength (on its mel bands), beat tracking (on
that onset envelope), RMS and three band energies. Each curve is brought to the render's
frame rate (a frame takes the loudest onset and the mean energy of the hops it spans), smoothed
by an attack/release follower and scaled to [0, 1] over the track; silence stays 0. The result is
one immutable value the builder computes once and passes to the schedules: no state anywhere
else, and the same file gives the same numbers (the resume recipe holds the file's hash).
The names themselves live in `signals`; which track a render reads is the builders' choice
(`plan.make_music`).
"""

from __future__ import annotations

import functools
import hashlib
import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from .errors import DreamreelError
from .media import has_audio, run
from .signals import CURVES, Signals, check_stem

RATE = 22050  # Hz: librosa's default rate, enough for onsets and three bands
HOP = 512  # samples per analysis hop (23 ms): about 2 hops per frame at 25 fps
N_FFT = 2048
BANDS = {"low": (0.0, 250.0), "mid": (250.0, 2000.0), "high": (2000.0, RATE / 2 + 1.0)}  # Hz, [lo, hi)
MAX_SECONDS = 1800  # a track is decoded whole (159 MB of samples at 30 min, its spectrogram ~4x that): longer is refused


def file_hash(path: Path) -> str:
    """sha256 of a file's bytes (the resume recipe's record of which audio a render used)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def decode(path: Path, start: float = 0.0) -> np.ndarray:
    """Mono float32 PCM at `RATE` from the first audio stream of any file ffmpeg reads."""
    if not path.is_file():
        raise DreamreelError(f"audio file {str(path)!r} not found", "give the path of an audio or video file with sound")
    if not has_audio(path):
        raise DreamreelError(f"{str(path)!r} has no audio stream", "give a file with sound (wav, mp3, flac, or a video with audio)")
    args = [*(["-ss", f"{start:.6f}"] if start else []), "-i", str(path), "-map", "0:a:0", "-ac", "1", "-ar", str(RATE),
            "-t", str(MAX_SECONDS + 1), "-f", "f32le", "-"]  # decoding stops past the limit, whatever the header says
    pcm = np.frombuffer(run(args, f"cannot decode the audio of {str(path)!r}", "check the file plays"), np.float32)
    if pcm.size == 0:
        raise DreamreelError(f"{str(path)!r} has no audio samples", "give a file with sound")
    if pcm.size > MAX_SECONDS * RATE:
        raise DreamreelError(f"{str(path)!r} plays longer than {MAX_SECONDS / 60:g} minutes, the most dreamreel reads",
                             f"cut it first, e.g. ffmpeg -i IN -t {MAX_SECONDS} OUT.wav")
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

