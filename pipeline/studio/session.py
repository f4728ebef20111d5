"""The live render: one thread runs a kind's plan frame by frame; changes arrive between frames.

The plan comes from the same builder as `dreamreel render` (`render.build`), and each frame
goes through `chain.advance` with the carry of the last one, so a live zoom is the render
loop with a pause between frames. The thread owns all render state: a change from the page
is queued, applied at the next frame boundary (the stages rebuilt from the recording's new
config, the carry kept), and answered through a `Future` with the new values or the one-line
`DreamreelError`, so a bad value never reaches the loop and the render goes on. What the page
sees is one immutable `Snapshot`, swapped whole under a lock after each frame or change.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import tomli_w
import torch

from .. import audio_plot, chain, mask, metrics, models
from ..config import RenderConfig
from ..errors import DreamreelError
from ..frames import Carry, Frame, Image
from ..motion import FlowFeedback
from ..plan import Plan, Progress, make_music, resolve_device
from ..renderer import build
from ..signals import Signals
from .record import Recording, picked, weight_slots, with_weight

HORIZON = 500  # a zoom is built this many frames past the current one (its schedules are checked that far)
INBOX = 16  # calls waiting for the render thread; one more is refused at once (`Busy`), never queued
HISTORY = 240  # points per plot
JPEG_QUALITY = 90


class Busy(DreamreelError):
    """The render thread has `INBOX` calls waiting (it is inside a long frame): this one is refused."""


class StudioProgress(Progress):
    """No bars; its `step` is the dreamers' `ascent.OnStep` (the builders hand it to them) and keeps
    the objective's value after each ascent step, for the plot. The tensor is kept as it is: read
    once per frame, not once per step (on a GPU each read waits for the device)."""

    def __init__(self) -> None:
        super().__init__(1, quiet=True)
        self.value: torch.Tensor | None = None

    def step(self, image: torch.Tensor, value: torch.Tensor) -> None:
        self.value = value

    def taken(self) -> float | None:
        """The last step's value as a number (None: no step since the last call, or not finite)."""
        value, self.value = self.value, None
        return None if value is None else _finite(float(value))


@dataclass(frozen=True)
class Point:
    """One finished frame's figures, for the live plots."""

    frame: int
    strength: float  # mean |dream - source|, 0-255
    seconds: float  # time to render the frame
    objective: float | None  # objective value after the frame's last ascent step
    warp_error: float | None  # video: flicker against the previous dream as the chain carried it (`carried_error`)


def carried_error(carried: Frame, done: Frame) -> float | None:
    """A video frame's warping error, from what the chain computed: the finished frame against
    the previous dream as `FlowFeedback` carried it onto this frame (warped along the chain's own
    flow: the plot computes none), mean squared in [0, 1] units over the pixels it carried (the
    rest had no reliable earlier dream). With `video.residual` (the default) the carried dream is
    laid on the new input, so the input's own change is left out: what is measured is the dream's
    flicker (Lai et al. 2018, less the input's share). None when nothing was carried (the first
    frame of a shot, an independent render)."""
    held = (carried.image != carried.source).any(-1)
    if not held.any():
        return None
    diff = (done.image.astype(np.float32) - carried.image.astype(np.float32)) / 255.0
    return float((diff[held] ** 2).mean())


@dataclass(frozen=True)
class Snapshot:
    """The session as the page sees it at one moment. The render thread, the only writer, swaps a
    new one in under the session's lock after each frame, change or pause; the server reads one
    whole (never half of one moment and half of the next) and derives everything from it."""

    recording: Recording  # what renders now: its values, its export
    music: bool  # the page draws the music's curves (a zoom with --audio)
    still: bool = False  # a one-frame render: exported without a frame count
    index: int = 0  # the next frame to render
    paused: bool = False
    done: bool = False  # a still is finished, or a video ran out of frames
    error: str = ""  # why the render stopped (a schedule undefined at some frame, ...)
    shown: int = 0  # frames shown since the session began (restarts included)
    points: tuple[Point, ...] = ()  # the last HISTORY frames' figures
    times: tuple[float, ...] = ()  # monotonic clock when the last few frames were shown
    image: Image | None = None  # the last finished frame (never written to: stages make new arrays)

    @property
    def kind(self) -> str:
        return self.recording.base["kind"]

    def params(self) -> dict[str, Any]:
        values = self.recording.current()
        values.pop("output", None)
        return values

    def weights(self) -> list[dict[str, Any]]:
        """The current objective's weights in order (the page changes one by its index)."""
        _, slots = weight_slots(self.recording.current()["dream"]["objective"])
        return [{"label": label, "value": _finite(float(literal))} for _, _, literal, label in slots]

    def fps(self) -> float:
        t = self.times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def status(self) -> dict[str, Any]:
        stats = {f.name: [getattr(p, f.name) for p in self.points] for f in fields(Point)}
        return {"frames": self.index, "shown": self.shown, "fps": round(self.fps(), 3), "kind": self.kind,
                "paused": self.paused, "done": self.done, "error": self.error, "params": self.params(),
                "weights": self.weights(), "stats": stats, "audio": self.music}

    def preset(self) -> str:
        """The recorded session as a preset TOML: `dreamreel render` on it draws this session's frames."""
        cfg = self.recording.config(None if self.still or self.index == 0 else self.index)
        data = cfg.model_dump(mode="json", exclude_defaults=True)
        data.update(kind=cfg.kind, seed=cfg.seed, device=cfg.device, threads=cfg.threads)
        data["description"] = f"recorded in dreamreel studio ({self.index} frames at {cfg.source.size or 'input'} px)"
        data.pop("output", None)
        if cfg.output.fps != RenderConfig().output.fps:
            data["output"] = {"fps": cfg.output.fps}
        return tomli_w.dumps(_without_none(data))


def studio_config(cfg: RenderConfig, workdir: Path) -> RenderConfig:
    """The command line's config with device and threads pinned (the export must name them for a
    bit-exact replay) and one output in the session's folder (builders want one; nothing is written)."""
    threads = cfg.threads or torch.get_num_threads()
    output = cfg.output.model_copy(update={"paths": (str(workdir / "preview.png"),), "contact_sheet": None,
                                           "animate_steps": None})
    carve = cfg.carve.model_copy(update={"animate": None})
    source = cfg.source
    if source.input:  # absolute: the export renders from any folder
        source = source.model_copy(update={"input": str(Path(source.input).expanduser().resolve())})
    music = cfg.audio
    if music.file:
        music = music.model_copy(update={"file": str(Path(music.file).expanduser().resolve()),
                                         "stems": {k: str(Path(v).expanduser().resolve()) for k, v in music.stems.items()}})
    masks = {"mask": cfg.mask and mask.placed(cfg.mask), "regions": tuple(map(mask.placed, cfg.regions))}
    return cfg.model_copy(update={"device": resolve_device(cfg.device).type, "threads": threads, "output": output,
                                  "carve": carve, "source": source, "audio": music, **masks,
                                  "loop": False})  # a live render has no last frame to close a loop on


def music_of(cfg: RenderConfig) -> Signals | None:
    """A zoom's track (``--audio``) as curves at its fps, drawn under the frame; None without one
    (the same analysis the render reads: `plan.make_music`, cached per file and settings)."""
    if cfg.kind != "zoom" or not cfg.audio.file:
        return None
    return make_music(cfg, cfg.output.fps)[0]


def jpeg(image: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return buf.tobytes() if ok else b""


def png(image: Image) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return buf.tobytes() if ok else b""


class Session:
    """A live render and its recording.

    Two threads share it. The render thread (`start`; in a test, the caller of `apply` and
    `render_one`) owns the render: the plan, its frame iterator, the carry, the progress. The
    server queues calls for it (`submit`, `set_weight`, `pick`, `pause`: each answered through a
    `Future`) and reads only `snapshot()`, the immutable `Snapshot` the render thread swaps in
    under the lock. `music` is set once here and never replaced.
    """

    def __init__(self, cfg: RenderConfig, workdir: Path, on_frame: Callable[[Frame], None] | None = None) -> None:
        recording = Recording.start(studio_config(cfg, workdir))
        self.music = music_of(recording.config())  # the curves under the frame (attack/release as started)
        self.on_frame = on_frame
        self._lock = threading.Lock()
        self._inbox: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue(INBOX)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # the render thread's own state: never read by the server
        self._progress = StudioProgress()
        self._plan = self._build(recording, 0)
        self._frames = self._plan.frames_from(0)
        self._carry: Carry | None = None
        self._snapshot = Snapshot(recording, music=self.music is not None, still=self._plan.frame_count == 1)
        self._jpeg: tuple[int, bytes] = (0, b"")  # the server's side: the last frame it encoded (`latest`)

    def snapshot(self) -> Snapshot:
        with self._lock:
            return self._snapshot

    def _publish(self, **changes: Any) -> Snapshot:
        """A new snapshot with `changes`, swapped in (the render thread's only way to show anything)."""
        with self._lock:
            self._snapshot = replace(self._snapshot, **changes)
            return self._snapshot

    # --- the render thread's side ------------------------------------------------------------

    def _build(self, recording: Recording, at: int) -> Plan:
        zoom = recording.base["kind"] == "zoom"
        return build(recording.config(at + HORIZON if zoom else None), self._progress)

    def _close_frames(self) -> None:
        """End the frame source early (a video's decoder thread and its ffmpeg end with it)."""
        close = getattr(self._frames, "close", None)
        if close:
            close()

    def _start_at(self, plan: Plan, at: int) -> None:
        self._close_frames()
        self._plan, self._frames = plan, plan.frames_from(at)

    def apply(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a partial config from the next frame on (or restart); raises DreamreelError."""
        now = self.snapshot()
        recording, restart = now.recording.change(change, now.index)
        if recording is not now.recording:
            at = 0 if restart else now.index
            plan = self._build(recording, at)  # a bad layer, a schedule out of range: raised here, nothing changed
            self._start_at(plan, at)
            if restart:
                self._carry = None
            now = self._publish(recording=recording, index=at, still=plan.frame_count == 1, done=False, error="")
        return now.params()

    def _objective(self) -> str:
        return self.snapshot().recording.current()["dream"]["objective"]

    def render_one(self) -> Frame | None:
        """The next frame through the chain, published to the page; None when there is none."""
        now = self.snapshot()
        frame = next(self._frames, None)
        if frame is None and now.kind == "zoom":  # past the horizon: build further ahead
            self._start_at(self._build(now.recording, now.index), now.index)
            frame = next(self._frames, None)
        if frame is None:
            self._publish(done=True)
            return None
        self._progress.taken()  # a value left from a failed frame is not this one's
        start = time.perf_counter()
        carried, done = self._advance(frame)
        seconds = time.perf_counter() - start
        self._carry = self._plan.carry_of(done)
        point = Point(done.index, metrics.dream_strength(done.image, done.source), seconds, self._progress.taken(),
                      None if carried is None else carried_error(carried, done))
        self._publish(index=done.index + 1, done=self._plan.frame_count == 1, shown=now.shown + 1, image=done.image,
                      points=(*now.points, point)[-HISTORY:], times=(*now.times, time.monotonic())[-10:])
        if self.on_frame:
            self.on_frame(done)
        return done

    def _advance(self, frame: Frame) -> tuple[Frame | None, Frame]:
        """`frame` through the plan's stages (`chain.advance`), and as it stood after `FlowFeedback`
        (None without one): the warping error's plot reads the dream it carried, so flow is
        computed once per frame, by the chain. The stages are the builder's, run in order."""
        stages = self._plan.stages
        cut = next((i + 1 for i, stage in enumerate(stages) if isinstance(stage, FlowFeedback)), 0)
        if not cut:
            return None, chain.advance(frame, self._carry, stages)
        carried = chain.advance(frame, self._carry, stages[:cut])
        return carried, chain.advance(carried, carried.carry, stages[cut:])  # a scene cut before it dropped the carry

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.snapshot()
            self._handle(wait=now.paused or now.done)
            now = self.snapshot()
            if now.paused or now.done or self._stop.is_set():
                continue
            try:
                self.render_one()
            except DreamreelError as e:  # e.g. a schedule undefined at this frame: stop, keep the page alive
                self._publish(done=True, error=str(e))
            except Exception as e:  # noqa: BLE001 - shown on the page; a change restarts the render
                self._publish(done=True, error=f"studio: the render failed: {type(e).__name__}: {e}")

    def _handle(self, wait: bool) -> None:
        """Run the queued calls (changes, pause); with `wait`, block a little for the first one."""
        try:
            call, future = self._inbox.get(timeout=0.2) if wait else self._inbox.get_nowait()
        except queue.Empty:
            return
        while True:
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except DreamreelError as e:
                    future.set_exception(e)
                except Exception as e:  # noqa: BLE001 - answered as an error, the render goes on
                    future.set_exception(DreamreelError(f"studio: {type(e).__name__}: {e}", "report this"))
            try:
                call, future = self._inbox.get_nowait()
            except queue.Empty:
                return

    # --- the server's side -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="studio-render", daemon=True)
        self._thread.start()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Stop the render thread, then (its state now no one's) close the frame source."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._close_frames()

    def _call(self, fn: Callable[[], Any]) -> Future[Any]:
        """Queue `fn` for the render thread (answered through the future); `Busy` when `INBOX` wait already."""
        future: Future[Any] = Future()
        try:
            self._inbox.put_nowait((fn, future))
        except queue.Full:
            raise Busy(f"studio: {INBOX} changes are already waiting for the render", "wait for the next frame, then send it again") from None
        return future

    def submit(self, change: Mapping[str, Any]) -> Future[dict[str, Any]]:
        """Queue a change; the future holds the new values, or the DreamreelError."""
        return self._call(lambda: self.apply(change))

    def set_weight(self, index: int, value: float) -> Future[dict[str, Any]]:
        """Queue a change of the objective's `index`-th weight (live where the kind allows)."""
        return self._call(lambda: self.apply({"dream": {"objective": with_weight(self._objective(), index, value)}}))

    def pick(self, layer: str, weight: float, channel: int | None) -> Future[dict[str, Any]]:
        """Queue a new objective: one layer (or one of its channels) at `weight`."""
        return self._call(lambda: self.apply({"dream": {"objective": picked(layer, weight, channel)}}))

    def pause(self, paused: bool) -> Future[bool]:
        return self._call(lambda: self._publish(paused=paused).paused)

    def status(self) -> dict[str, Any]:
        return self.snapshot().status()

    def curves_png(self) -> bytes:
        """The track's curves with the frame being rendered marked (empty without audio)."""
        return png(audio_plot.picture(self.music, at=self.snapshot().index)) if self.music else b""

    def latest(self) -> tuple[int, bytes]:
        """(serial, JPEG) of the last finished frame; serial 0 before the first.

        Encoded here, on the server's side, once per frame (the last one kept): the render thread
        goes on to the next frame instead of waiting for the JPEG (OpenCV lets go of the GIL)."""
        now = self.snapshot()
        if now.image is None:
            return 0, b""
        shown, data = self._jpeg
        if shown != now.shown:
            shown, data = self._jpeg = (now.shown, jpeg(now.image))  # two pages at once may both encode: harmless
        return shown, data

    def latest_png(self) -> tuple[int, bytes]:
        """(serial, PNG) of the last finished frame; serial 0 before the first."""
        now = self.snapshot()
        return now.shown, png(now.image) if now.image is not None else b""

    def layers(self) -> list[str]:
        """Layer names of the model in use (the page's layer picker)."""
        model = self.snapshot().recording.base["dream.model"]
        return list(models.architecture(model).listed)  # no weights, no device move

    def preset(self) -> str:
        return self.snapshot().preset()


def _finite(value: float) -> float | None:
    """JSON has no inf or nan: those are sent as null."""
    return value if math.isfinite(value) else None


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: a None is the default again when the preset is read."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}

