"""The studio's web app (Starlette on uvicorn): the page, its static files and a small JSON API.

    GET  /                  the page (controls come from `GET /api/schema`)
    GET  /api/status        {"frames": N, "fps": F, "params": {...}, "stats": {...}, ...}
    GET  /api/frame.jpg     the latest frame (JPEG); /api/frame.png lossless
    GET  /api/stream.mjpg   every finished frame (MJPEG)
    GET  /api/curves.png    the music's curves, the frame being rendered marked (404 without music)
    GET  /api/schema        what the page is built from: the config's JSON schema, the controls
                            and plots for this kind, which keys change live, the model's layers
    POST /api/params        a partial config as JSON -> 200 {"params": ...} or 422 {"error": "one line"}
    POST /api/weight        {"index": I, "value": V}: the objective's I-th weight (a number)
    POST /api/pick          {"layer": L, "weight": W, "channel": C|null}: a new one-layer objective
    POST /api/pause         {"paused": true|false}
    GET  /api/preset.toml   the recorded session as a preset

Every body is read by one function (`_body`) against its pydantic model (`Change`, `Weight`,
`Pick`, `Pause`: unknown keys, wrong types, NaN and infinities refused in one line); numbers
travel as JSON numbers and the server writes them into the objective's text itself, so the page
never writes Python.

Security: a non-loopback host gets a token that every request (page and API) must carry as
``?token=``, ``Authorization: Bearer`` or the same-site cookie the page sets, else 401; the Host header must name this server (a
DNS-rebinding page cannot reach it); POST bodies are JSON only (a cross-site form cannot send
one without a preflight we never answer) and at most `MAX_BODY` bytes. No route reads a path
it is given: the input and the preset are the ones the command line named.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import Future
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import RenderConfig
from ..errors import DreamreelError
from .record import FIXED, LIVE, OBJECTIVE, SCHEDULED
from .session import Session

COOKIE = "dreamreel_token"
MAX_BODY = 16 * 1024  # bytes: a partial config is a few hundred
STATIC = resources.files("pipeline.studio") / "static"
FRAME_POLL = 0.04  # seconds between looks for a new frame in the MJPEG stream
# Each part of the MJPEG stream is followed at once by the next one's boundary and headers:
# Chromium shows a part only when the next begins, and a finished render (a still, the end of
# a clip) sends no next frame. Parts end at the boundary (no Content-Length).
HEAD = b"--frame\r\nContent-Type: image/jpeg\r\n\r\n"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def token_for(host: str) -> str | None:
    """No token on loopback; any other host gets a fresh one (printed in the URL)."""
    return None if is_loopback(host) else secrets.token_urlsafe(18)


class Guard:
    """ASGI middleware: the token on every request, the Host header, the body size limit."""

    def __init__(self, app: ASGIApp, token: str | None, hosts: set[str] | None) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        if self.hosts is not None and request.headers.get("host", "").rsplit(":", 1)[0].strip("[]") not in self.hosts:
            return await _error(400, "studio: unexpected Host header", "open the URL the command printed")(scope, receive, send)
        if self.token is not None and not self._authorised(request):
            return await _error(401, "studio: missing or wrong token", "open the URL the command printed (it has ?token=)")(
                scope, receive, send)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await _error(413, f"studio: request body over {MAX_BODY} bytes", "send a partial config")(scope, receive, send)
        await self.app(scope, _capped(receive), send)

    def _authorised(self, request: Request) -> bool:
        given = (request.query_params.get("token") or request.headers.get("authorization", "").removeprefix("Bearer ")
                 or request.cookies.get(COOKIE, ""))
        return hmac.compare_digest(given.encode(), self.token.encode())  # type: ignore[union-attr]


def _capped(receive: Receive) -> Receive:
    """A chunked body (no Content-Length) is cut off past MAX_BODY as well."""
    seen = 0

    async def wrapped() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > MAX_BODY:
                raise DreamreelError(f"studio: request body over {MAX_BODY} bytes", "send a partial config")
        return message

    return wrapped


def _error(status: int, problem: str, fix: str) -> JSONResponse:
    return JSONResponse({"error": str(DreamreelError(problem, fix))}, status_code=status)


# The controls the page offers, per kind, by section ("render": top-level keys), in order; the
# JSON schema gives each one's type, bounds and choices.
_DREAM = tuple(f"dream.{k}" for k in ("objective", "octaves", "octave_scale", "steps", "step_size", "jitter", "noise"))
_VIDEO = tuple(f"video.{k}" for k in ("blend", "steps_warm", "step_size_warm", "octaves_warm", "fixed_jitter", "hold",
                                       "boost", "cut_threshold", "flow"))
_POST = ("post.drift", "post.blend", "post.decay")
_STILL = {"dream": _DREAM, "post": _POST, "render": ("seed",)}
CONTROLS: dict[str, dict[str, tuple[str, ...]]] = {
    "zoom": {"motion": SCHEDULED, **_STILL},
    "video": {"dream": _DREAM, "video": _VIDEO, "post": _POST, "render": ("seed",)},
    "dream": _STILL,
    "carve": _STILL,
}
# The live plots (`Snapshot.status()["stats"]` keys) and their captions; video adds the warping error.
PLOTS = {"strength": "dream strength (0-255)", "seconds": "frame time (s)", "objective": "objective value"}
VIDEO_PLOTS = {**PLOTS, "warp_error": "warping error against the carried dream"}


def schema(kind: str) -> dict[str, Any]:
    """What the page builds itself from: pydantic's schema, the controls and plots of `kind`, what
    changes live (OBJECTIVE in `live`: its weights), and the key of the objective."""
    return {"schema": RenderConfig.model_json_schema(), "controls": CONTROLS.get(kind, _STILL),
            "plots": VIDEO_PLOTS if kind == "video" else PLOTS, "live": LIVE.get(kind, ()), "objective": OBJECTIVE,
            "fixed": FIXED, "kind": kind}


# --- request bodies: every POST is read by `_body` against one of these ---------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Pause(_Body):
    paused: bool


class Weight(_Body):
    index: int = Field(ge=0)
    value: float = Field(allow_inf_nan=False)


class Pick(_Body):
    layer: str = Field(min_length=1, max_length=200)
    weight: float = Field(1.0, allow_inf_nan=False)
    channel: int | None = Field(None, ge=0)


class Change(RootModel[dict[str, Any]]):
    """A partial config, nested like a preset; its values are checked by the recording (the config's rules)."""


def create_app(session: Session, token: str | None = None, hosts: set[str] | None = None) -> ASGIApp:
    """The app for `session`; `token` (None: none asked) and `hosts` (allowed Host names, None: any)."""

    async def page(_: Request) -> Response:
        response = FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})
        if token:  # the page's own files and its <img> stream carry the token as a same-site cookie
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return response

    async def status(_: Request) -> Response:
        return JSONResponse(session.status())

    async def frame_jpg(_: Request) -> Response:
        serial, data = await asyncio.to_thread(session.latest)  # encodes a new frame: off the event loop
        if not serial:
            return _error(404, "studio: no frame yet", "wait for the first frame")
        return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def frame_png(_: Request) -> Response:
        serial, data = await asyncio.to_thread(session.latest_png)
        if not data:
            return _error(404, "studio: no frame yet", "wait for the first frame")
        name = f"dreamreel-{serial:06d}.png"
        return Response(data, media_type="image/png", headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def stream(request: Request) -> Response:
        async def parts() -> AsyncIterator[bytes]:
            seen = 0
            yield HEAD
            while not session.stopped:
                serial, data = await asyncio.to_thread(session.latest)
                if serial != seen and data:
                    seen = serial
                    yield data + b"\r\n" + HEAD
                await asyncio.sleep(FRAME_POLL)

        return StreamingResponse(parts(), media_type="multipart/x-mixed-replace; boundary=frame",
                                 headers={"Cache-Control": "no-store"})

    async def curves_png(_: Request) -> Response:
        data = await asyncio.to_thread(session.curves_png)
        if not data:
            return _error(404, "studio: no audio", "start the studio with --audio FILE")
        return Response(data, media_type="image/png", headers={"Cache-Control": "no-store"})

    async def schema_(_: Request) -> Response:
        layers = await asyncio.to_thread(session.layers)
        now = session.snapshot()
        return JSONResponse({**schema(now.kind), "layers": layers, "params": now.params()})

    async def answered(future: Future[dict[str, Any]]) -> Response:
        """The new values once the render thread has applied a change, or its one-line error (422)."""
        try:
            values = await asyncio.wrap_future(future)
        except DreamreelError as e:
            return JSONResponse({"error": str(e)}, status_code=422)
        return JSONResponse({"params": values})

    async def params(request: Request) -> Response:
        body = await _body(request, Change)
        return body if isinstance(body, Response) else await answered(session.submit(body.root))

    async def weight(request: Request) -> Response:
        body = await _body(request, Weight)
        return body if isinstance(body, Response) else await answered(session.set_weight(body.index, body.value))

    async def pick(request: Request) -> Response:
        body = await _body(request, Pick)
        return body if isinstance(body, Response) else await answered(session.pick(body.layer, body.weight, body.channel))

    async def pause(request: Request) -> Response:
        body = await _body(request, Pause)
        if isinstance(body, Response):
            return body
        return JSONResponse({"paused": await asyncio.wrap_future(session.pause(body.paused))})

    async def preset(_: Request) -> Response:
        text = await asyncio.to_thread(session.preset)
        return Response(text, media_type="application/toml",
                        headers={"Content-Disposition": 'attachment; filename="studio.toml"'})

    app = Starlette(routes=[
        Route("/", page),
        Route("/api/status", status),
        Route("/api/frame.jpg", frame_jpg),
        Route("/api/frame.png", frame_png),
        Route("/api/stream.mjpg", stream),
        Route("/api/curves.png", curves_png),
        Route("/api/schema", schema_),
        Route("/api/params", params, methods=["POST"]),
        Route("/api/weight", weight, methods=["POST"]),
        Route("/api/pick", pick, methods=["POST"]),
        Route("/api/pause", pause, methods=["POST"]),
        Route("/api/preset.toml", preset),
        Mount("/static", StaticFiles(directory=str(STATIC)), name="static"),
    ])
    return Guard(app, token, hosts)


def _not_json(name: str) -> None:
    raise ValueError(f"{name} is not a JSON number")


async def _body(request: Request, model: type[_Body] | type[Change]) -> Any:
    """The request's JSON body as `model`, or the error response (415 not JSON, 413 too big, 422
    malformed or not what `model` takes): the one place a request body is read and checked."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        return _error(415, "studio: the body must be JSON (Content-Type: application/json)", "send a partial config as JSON")
    try:
        raw = await request.body()
    except DreamreelError as e:
        return JSONResponse({"error": str(e)}, status_code=413)
    try:
        body = json.loads(raw, parse_constant=_not_json)
    except (ValueError, UnicodeDecodeError) as e:
        return _error(422, f"studio: the body is not JSON ({e})", 'send e.g. {"motion": {"zoom": 1.05}}')
    if not isinstance(body, dict):
        return _error(422, "studio: the body must be a JSON object", 'send e.g. {"motion": {"zoom": 1.05}}')
    try:
        return model.model_validate(body)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "body"
        fields = ", ".join(model.model_fields) if issubclass(model, _Body) else "a partial config"
        return _error(422, f"studio: {request.url.path}: {where}: {err['msg'].lower()}", f"send {fields}")
