"""`dreamreel audio`: the per-frame variables of a track as a picture (one lane a curve) and a CSV.

Drawn with OpenCV (already a dependency): a lane per curve, filled under its line, the beats as
thin vertical lines across every lane, a time axis in seconds. Read at a glance: where the beats
fall, which band carries them, how long `release` keeps a curve up.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import cv2
import numpy as np

from .signals import Signals
from .sinks import check_output, committed, write_image

__all__ = ["check_output", "picture", "write_csv", "write_png"]

WIDTH, LANE, LEFT, TOP, BOTTOM = 960, 56, 92, 30, 26
INK, GRID, BEAT = (30, 30, 30), (225, 225, 225), (235, 120, 120)
COLOURS = {"onset": (200, 60, 40), "beat": (220, 40, 120), "rms": (60, 60, 60), "low": (40, 90, 200),
           "mid": (40, 150, 80), "high": (200, 140, 20)}
FONT = cv2.FONT_HERSHEY_SIMPLEX


def _colour(name: str) -> tuple[int, int, int]:
    return COLOURS.get(name.rpartition("_")[2], INK)


def picture(signals: Signals, title: str = "", at: int | None = None) -> np.ndarray:
    """An RGB image: one lane per curve over the track's frames, beats marked, seconds below;
    `at`: a frame marked by a dark line (the studio's current frame)."""
    names = list(signals.curves)
    h = TOP + LANE * len(names) + BOTTOM
    img = np.full((h, WIDTH, 3), 255, np.uint8)
    plot_w = WIDTH - LEFT - 10
    n = max(signals.frames, 1)
    x_of = lambda frame: LEFT + frame * plot_w / n  # noqa: E731 (frame index -> pixel column)
    for beat in signals.beats:
        x = round(x_of(beat * signals.fps))
        cv2.line(img, (x, TOP), (x, h - BOTTOM), BEAT, 1)
    for lane, name in enumerate(names):
        _lane(img, signals.curves[name], name, TOP + lane * LANE, x_of)
    _axis(img, signals, x_of, h - BOTTOM)
    if at is not None and 0 <= at < n:
        x = round(x_of(at + 0.5))
        cv2.line(img, (x, TOP - 4), (x, h - BOTTOM), INK, 2)
    bpm = signals.scalars.get("bpm", 0.0)
    head = f"{title}  {bpm:.1f} bpm, {len(signals.beats)} beats, {signals.frames} frames at {signals.fps:g} fps"
    cv2.putText(img, head.strip(), (8, 20), FONT, 0.5, INK, 1, cv2.LINE_AA)
    return img


def _lane(img: np.ndarray, values: np.ndarray, name: str, y0: int, x_of) -> None:
    base, top = y0 + LANE - 6, y0 + 6
    cv2.line(img, (LEFT, base), (WIDTH - 10, base), GRID, 1)
    pts = [(round(x_of(i + 0.5)), round(base - float(v) * (base - top))) for i, v in enumerate(values)]
    if pts:
        poly = np.array([(pts[0][0], base), *pts, (pts[-1][0], base)], np.int32)
        fill = tuple(int(c + (255 - c) * 0.7) for c in _colour(name))
        cv2.fillPoly(img, [poly], fill)
        cv2.polylines(img, [np.array(pts, np.int32)], False, _colour(name), 1, cv2.LINE_AA)
    cv2.putText(img, name, (8, y0 + LANE // 2 + 5), FONT, 0.45, _colour(name), 1, cv2.LINE_AA)


def _axis(img: np.ndarray, signals: Signals, x_of, y: int) -> None:
    seconds = signals.frames / signals.fps
    step = next((s for s in (0.5, 1, 2, 5, 10, 15, 30, 60, 120) if seconds / s <= 12), 300)
    for k in range(int(seconds / step) + 1):
        x = round(x_of(k * step * signals.fps))
        cv2.line(img, (x, y), (x, y + 4), INK, 1)
        cv2.putText(img, f"{k * step:g}s", (x - 8, y + 18), FONT, 0.4, INK, 1, cv2.LINE_AA)


def write_png(signals: Signals, path: Path, title: str = "") -> None:
    write_image(Path(path).expanduser(), picture(signals, title))


def write_csv(signals: Signals, path: Path) -> None:
    """One row per frame: frame, s, then every curve (6 decimals)."""
    table = signals.table()
    buf = io.StringIO()
    out = csv.writer(buf, lineterminator="\n")
    out.writerow(["frame", *table])
    for i in range(signals.frames):
        out.writerow([i, *(f"{float(col[i]):.6f}" for col in table.values())])
    with committed(Path(path).expanduser()) as partial:
        partial.write_text(buf.getvalue())
