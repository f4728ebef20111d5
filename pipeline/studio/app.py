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

Security: every host, loopback included, gets a token (on a shared machine any local account
can reach loopback). The URL the command prints carries it once: ``GET /?token=T`` is answered
with the token as an HttpOnly, SameSite=Strict cookie and a redirect to the bare page, whose
own requests then carry only the cookie (or ``Authorization: Bearer``), never the token in a
URL; anything else without it gets 401. The Host header must name this server (a DNS-rebinding
page cannot reach it); POST bodies are JSON only (a cross-site form cannot send one without a
preflight we never answer), at most `MAX_BODY` bytes and `MAX_NESTING` deep. Nothing from the
page names a file: `Change` takes only the page's own controls (`EDITABLE`: no input, audio,
stems, weights, masks or outputs), an objective from the page calls only factories that read no
file (`FILE_FREE`), a picked layer is a plain name; the input and the preset are the ones the
command line named. Connections and queued changes are bounded (`server`, `session`).
"""

from __future__ import annotations

import ast
import asyncio
import hmac
import ipaddress
import json
import secrets
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from concurrent.futures import Future
from importlib import resources
from typing import Any
from urllib.parse import urlencode

from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError, model_validator
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from .. import expr
from ..config import RenderConfig
from ..errors import DreamreelError
from .record import LIVE, OBJECTIVE, SCHEDULED
from .session import Busy, Session

COOKIE = "dreamreel_token"  # with the port appended: two studios on one host keep their own
MAX_BODY = 16 * 1024  # bytes: a partial config is a few hundred
MAX_NESTING = 8  # levels of a body: a partial config has two
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


def new_token() -> str:
    """A fresh token for one studio (every host, loopback included)."""
    return secrets.token_urlsafe(18)


def cookie_name(scope: Scope) -> str:
    return f"{COOKIE}_{(scope.get('server') or (None, 0))[1]}"


class Guard:
    """ASGI middleware: the Host header, the token on every request (the printed URL's ``?token=``
    traded once for a cookie), the body size limit."""

    def __init__(self, app: ASGIApp, token: str, hosts: set[str] | None) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope)
        if self.hosts is not None and request.headers.get("host", "").rsplit(":", 1)[0].strip("[]") not in self.hosts:
            return await _error(400, "studio: unexpected Host header", "open the URL the command printed")(scope, receive, send)
        if "token" in request.query_params:  # the printed URL, once: a cookie and the bare page
            if request.method == "GET" and self._is_token(request.query_params["token"]):
                return await self._enter(request)(scope, receive, send)
            return await _error(401, "studio: wrong token", "open the URL the command printed")(scope, receive, send)
        given = request.cookies.get(cookie_name(scope)) or request.headers.get("authorization", "").removeprefix("Bearer ")
        if not self._is_token(given):
            return await _error(401, "studio: missing or wrong token", "open the URL the command printed (it has ?token=)")(
                scope, receive, send)
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            return await _error(413, f"studio: request body over {MAX_BODY} bytes", "send a partial config")(scope, receive, send)
        await self.app(scope, _capped(receive), send)

    def _is_token(self, given: str) -> bool:
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _enter(self, request: Request) -> Response:
        """The token as this port's cookie (script-proof, sent by same-site requests only) and a
        redirect to the same address without it, so it leaves the address bar and the history."""
        rest = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "token"])
        response = RedirectResponse(request.url.path + (f"?{rest}" if rest else ""), status_code=303,
                                    headers={"Cache-Control": "no-store"})
        response.set_cookie(cookie_name(request.scope), self.token, httponly=True, samesite="strict", path="/")
        return response


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
            "kind": kind}


# --- request bodies: every POST is read by `_body` against one of these ---------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class Pause(_Body):
    paused: bool


class Weight(_Body):
    index: int = Field(ge=0)
    value: float = Field(allow_inf_nan=False)


class Pick(_Body):
    layer: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.]+$")  # a plain name: ``L@IMAGE`` reads a file
    weight: float = Field(1.0, allow_inf_nan=False)
    channel: int | None = Field(None, ge=0)


# What the page may change: its own controls, for every kind. None of them names a file; a key
# that does (the input, audio, stems, weights, masks, outputs) or any other is refused here.
EDITABLE = frozenset(key if section != "render" else key.split(".")[-1]
                     for kind in CONTROLS.values() for section, keys in kind.items() for key in keys)
FILE_FREE = frozenset({"layer", "layers", "channel", "class_logit"})  # objective factories that read no file


def file_free(text: str) -> str:
    """An objective from the page calls only factories that read no file (`FILE_FREE`, math,
    ``sched``), and names no ``LAYER@IMAGE``; image-guided ones come from the command line."""
    try:
        tree = expr.parse(text)
    except expr.ExprError:
        return text  # the config's one-line syntax error follows
    allowed = FILE_FREE | set(expr.MATH) | {"sched"}
    for node in ast.walk(tree):
        other = isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in allowed)
        if other or isinstance(node, ast.Constant) and "@" in str(node.value):
            raise ValueError(f"{OBJECTIVE}: the page may set {', '.join(sorted(FILE_FREE))} objectives (image-guided ones "
                             "come from the command line; their weights change in the weight boxes)")
    return text


def _dotted(body: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    """A body's keys as ``section.key`` (sections are one level deep; nothing deeper is walked)."""
    for key, value in body.items():
        if isinstance(value, Mapping):
            yield from ((f"{key}.{sub}", v) for sub, v in value.items())
        else:
            yield key, value


class Change(RootModel[dict[str, Any]]):
    """A partial config, nested like a preset, holding only keys of `EDITABLE` (and a file-free
    objective); its values are checked by the recording (the config's rules)."""

    @model_validator(mode="after")
    def _editable(self) -> Change:
        for key, value in _dotted(self.root):
            if key not in EDITABLE:
                raise ValueError(f"{key} is not one of the page's controls (the page names no file and no output)")
            if key == OBJECTIVE and isinstance(value, str):
                file_free(value)
        return self


def create_app(session: Session, token: str, hosts: set[str] | None = None) -> ASGIApp:
    """The app for `session`; `token` (asked on every request) and `hosts` (allowed Host names, None: any)."""

    async def page(_: Request) -> Response:
        return FileResponse(str(STATIC / "index.html"), headers={"Cache-Control": "no-store"})

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

    async def answered(queue: Callable[[], Future[Any]], key: str = "params") -> Response:
        """The answer once the render thread has run the queued call: {key: result}, its one-line
        error (422), or 503 when the inbox is full. The server only waits; it never renders."""
        try:
            result = await asyncio.wrap_future(queue())
        except Busy as e:
            return JSONResponse({"error": str(e)}, status_code=503)
        except DreamreelError as e:
            return JSONResponse({"error": str(e)}, status_code=422)
        return JSONResponse({key: result})

    async def params(request: Request) -> Response:
        body = await _body(request, Change)
        return body if isinstance(body, Response) else await answered(lambda: session.submit(body.root))

    async def weight(request: Request) -> Response:
        body = await _body(request, Weight)
        return body if isinstance(body, Response) else await answered(lambda: session.set_weight(body.index, body.value))

    async def pick(request: Request) -> Response:
        body = await _body(request, Pick)
        return body if isinstance(body, Response) else await answered(lambda: session.pick(body.layer, body.weight, body.channel))

    async def pause(request: Request) -> Response:
        body = await _body(request, Pause)
        return body if isinstance(body, Response) else await answered(lambda: session.pause(body.paused), "paused")

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


def _nesting(value: Any) -> int:
    """How deep lists and objects nest in a JSON value (iteratively: a deep one cannot exhaust the stack)."""
    deepest, todo = 0, [(value, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            todo.extend((v, depth + 1) for v in (value.values() if isinstance(value, dict) else value))
    return deepest


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
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        return _error(422, f"studio: the body is not JSON ({str(e)[:200]})", 'send e.g. {"motion": {"zoom": 1.05}}')
    if not isinstance(body, dict):
        return _error(422, "studio: the body must be a JSON object", 'send e.g. {"motion": {"zoom": 1.05}}')
    if _nesting(body) > MAX_NESTING:
        return _error(422, f"studio: the body is nested more than {MAX_NESTING} deep", 'send e.g. {"motion": {"zoom": 1.05}}')
    try:
        return model.model_validate(body)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(map(str, err["loc"])) or "body"
        fields = ", ".join(model.model_fields) if issubclass(model, _Body) else "a partial config"
        return _error(422, f"studio: {request.url.path}: {where}: {err['msg'].lower()}", f"send {fields}")
