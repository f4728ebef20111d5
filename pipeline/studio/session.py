"""The live render: one thread runs a kind's plan frame by frame; changes arrive between frames.

The plan comes from the same builder as `dreamreel render` (`render.build`), and each frame
goes through `chain.advance` with the carry of the last one, so a live zoom is the render
loop with a pause between frames. The thread owns all render state: a change from the page
is queued, applied at the next frame boundary (the stages rebuilt from the recording's new
config, the carry kept), and answered through a `Future` with the new values or the one-line
`DreamreelError`, so a bad value never reaches the loop and the render goes on.
"""

from __future__ import annotations

import math
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import cv2
import tomli_w
import torch

from .. import audio, audio_plot, chain, flow, metrics
from ..config import RenderConfig
from ..errors import DreamreelError
from ..frames import Carry, Frame, Image
from ..plan import Plan, Progress, resolve_device
from ..renderer import build
from .record import Recording, weight_slots

HORIZON = 500  # a zoom is built this many frames past the current one (its schedules are checked that far)
HISTORY = 240  # points per plot
JPEG_QUALITY = 90


class StudioProgress(Progress):
    """No bars; keeps the objective's value after each ascent step (the plot's objective)."""

    def __init__(self) -> None:
        super().__init__(1, quiet=True)
        self.value = math.nan

    def step(self, *args: object) -> None:
        if len(args) >= 2 and isinstance(args[1], torch.Tensor):
            self.value = float(args[1])


@dataclass(frozen=True)
class Point:
    """One finished frame's figures, for the live plots."""

    frame: int
    strength: float  # mean |dream - source|, 0-255
    seconds: float  # time to render the frame
    objective: float | None  # objective value after the frame's last ascent step
    warp_error: float | None  # video: warping error against the previous frame (Lai et al. 2018)


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
    return cfg.model_copy(update={"device": resolve_device(cfg.device).type, "threads": threads, "output": output,
                                  "carve": carve, "source": source, "audio": music})


def music_of(cfg: RenderConfig) -> audio.Signals | None:
    """A zoom's track (``--audio``) as curves at its fps, drawn under the frame; None without one."""
    a = cfg.audio
    if cfg.kind != "zoom" or not a.file:
        return None
    return audio.read(Path(a.file), cfg.output.fps, a.attack, a.release, {k: Path(v) for k, v in a.stems.items()})


def jpeg(image: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    return buf.tobytes() if ok else b""


def png(image: Image) -> bytes:
    ok, buf = cv2.imencode(".png", cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return buf.tobytes() if ok else b""


class Session:
    """A live render and its recording. `apply` and `render_one` run on the render thread (or in a
    test, directly); the server talks to it through `submit`, `pause`, `status` and `latest`."""

    def __init__(self, cfg: RenderConfig, workdir: Path, on_frame: Callable[[Frame], None] | None = None) -> None:
        self.recording = Recording.start(studio_config(cfg, workdir))
        self.progress = StudioProgress()
        self.on_frame = on_frame
        self.index = 0  # the next frame to render
        self.carry: Carry | None = None
        self.paused = False
        self.done = False  # a still is finished, or a video ran out of frames
        self.error = ""  # why the render stopped (a schedule undefined at some frame, ...)
        self.serial = 0  # frames shown since the session began (restarts included)
        self.points: deque[Point] = deque(maxlen=HISTORY)
        self._times: deque[float] = deque(maxlen=10)
        self._image: Image | None = None
        self._jpeg = b""
        self._lock = threading.Lock()
        self._inbox: queue.Queue[tuple[Callable[[], Any], Future[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.plan = self._build(self.recording, 0)
        self._frames = self.plan.frames_from(0)
        self.music = music_of(self.recording.config())  # the curves under the frame (attack/release as started)

    # --- the render thread's side ------------------------------------------------------------

    def _build(self, recording: Recording, at: int) -> Plan:
        zoom = recording.base["kind"] == "zoom"
        return build(recording.config(at + HORIZON if zoom else None), self.progress)

    def apply(self, change: Mapping[str, Any]) -> dict[str, Any]:
        """Apply a partial config from the next frame on (or restart); raises DreamreelError."""
        recording, restart = self.recording.change(change, self.index)
        if recording is not self.recording:
            at = 0 if restart else self.index
            plan = self._build(recording, at)  # a bad layer, a schedule out of range: raised here, nothing changed
            close = getattr(self._frames, "close", None)
            if close:
                close()
            self.recording, self.plan, self.index = recording, plan, at
            if restart:
                self.carry = None
            self._frames = plan.frames_from(at)
            self.done, self.error = False, ""
        return self.params()

    def render_one(self) -> Frame | None:
        """The next frame through the chain, published to the page; None when there is none."""
        frame = next(self._frames, None)
        if frame is None and self.recording.base["kind"] == "zoom":  # past the horizon: build further ahead
            self.plan = self._build(self.recording, self.index)
            self._frames = self.plan.frames_from(self.index)
            frame = next(self._frames, None)
        if frame is None:
            self.done = True
            return None
        self.progress.value = math.nan
        start = time.perf_counter()
        done = chain.advance(frame, self.carry, self.plan.stages)
        seconds = time.perf_counter() - start
        previous, self.carry = self.carry, self.plan.carry_of(done)
        self.index = done.index + 1
        if self.plan.frame_count == 1:
            self.done = True  # a still: shown until a change restarts it
        self._publish(done, seconds, previous)
        return done

    def _publish(self, frame: Frame, seconds: float, previous: Carry | None) -> None:
        warp = None
        if self.recording.base["kind"] == "video" and previous is not None:
            field, reliable = flow.track(previous.source, frame.source)
            warp = metrics.pair_error(previous.dream, frame.image, field, reliable)
        value = self.progress.value
        point = Point(frame.index, metrics.dream_strength(frame.image, frame.source), seconds,
                      None if math.isnan(value) else value, warp)
        encoded = jpeg(frame.image)
        with self._lock:
            self._image, self._jpeg = frame.image, encoded
            self.points.append(point)
            self._times.append(time.monotonic())
            self.serial += 1
        if self.on_frame:
            self.on_frame(frame)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._handle(wait=self.paused or self.done)
            if self.paused or self.done or self._stop.is_set():
                continue
            try:
                self.render_one()
            except DreamreelError as e:  # e.g. a schedule undefined at this frame: stop, keep the page alive
                self.done, self.error = True, str(e)
            except Exception as e:  # noqa: BLE001 - shown on the page; a change restarts the render
                self.done, self.error = True, f"studio: the render failed: {type(e).__name__}: {e}"

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
        self._stop.set()
        if self._thread:
            self._thread.join()

    def _call(self, fn: Callable[[], Any]) -> Future[Any]:
        future: Future[Any] = Future()
        self._inbox.put((fn, future))
        return future

    def submit(self, change: Mapping[str, Any]) -> Future[dict[str, Any]]:
        """Queue a change; the future holds the new values, or the DreamreelError."""
        return self._call(lambda: self.apply(change))

    def pause(self, paused: bool) -> Future[bool]:
        def set_paused() -> bool:
            self.paused = paused
            return paused

        return self._call(set_paused)

    def params(self) -> dict[str, Any]:
        values = self.recording.current()
        values.pop("output", None)
        return values

    def weights(self) -> list[dict[str, Any]]:
        """The current objective's weights (each a live control on the page), where they sit in its text."""
        _, slots = weight_slots(self.recording.current()["dream"]["objective"])
        return [{"label": label, "value": float(literal), "start": start, "end": end} for start, end, literal, label in slots]

    def fps(self) -> float:
        with self._lock:
            times = list(self._times)
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    def status(self) -> dict[str, Any]:
        with self._lock:
            points = [asdict(p) for p in self.points]
            serial = self.serial
        stats = {key: [p[key] for p in points] for key in ("frame", "strength", "seconds", "objective", "warp_error")}
        return {"frames": self.index, "shown": serial, "fps": round(self.fps(), 3), "kind": self.recording.base["kind"],
                "paused": self.paused, "done": self.done, "error": self.error, "params": self.params(),
                "weights": self.weights(), "stats": stats, "audio": self.music is not None}

    def curves_png(self) -> bytes:
        """The track's curves with the frame being rendered marked (empty without audio)."""
        return png(audio_plot.picture(self.music, at=self.index)) if self.music else b""

    def latest(self) -> tuple[int, bytes]:
        """(serial, JPEG) of the last finished frame; serial 0 before the first."""
        with self._lock:
            return self.serial, self._jpeg

    def latest_png(self) -> bytes:
        with self._lock:
            image = self._image
        return png(image) if image is not None else b""

    def layers(self) -> list[str]:
        """Layer names of the model in use (the page's layer picker)."""
        from .. import models

        return list(models.architecture(self.recording.base["dream.model"]).listed)  # no weights, no device move

    def preset(self) -> str:
        """The recorded session as a preset TOML: `dreamreel render` on it draws this session's frames."""
        rec = self.recording
        still = self.plan.frame_count == 1
        cfg = rec.config(None if still or self.index == 0 else self.index)
        data = cfg.model_dump(mode="json", exclude_defaults=True)
        data.update(kind=cfg.kind, seed=cfg.seed, device=cfg.device, threads=cfg.threads)
        data["description"] = f"recorded in dreamreel studio ({self.index} frames at {cfg.source.size or 'input'} px)"
        data.pop("output", None)
        if cfg.output.fps != RenderConfig().output.fps:
            data["output"] = {"fps": cfg.output.fps}
        return tomli_w.dumps(_without_none(data))


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """TOML has no null: a None is the default again when the preset is read."""
    return {k: _without_none(v) if isinstance(v, dict) else v for k, v in data.items() if v is not None}

