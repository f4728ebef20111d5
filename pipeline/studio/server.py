"""Running the studio: a session, its app, uvicorn on a socket bound here (port 0: a free one).

Connections are bounded before any byte is read: at most `MAX_CONNECTIONS` open (past it the
oldest that has not sent a request yet is dropped, else the new one), `HEAD_TIMEOUT` seconds to
send a request's head, `KEEP_ALIVE` seconds idle after an answer, heads of at most `MAX_HEAD`
bytes, and uvicorn's own `limit_concurrency` on connections and tasks. A thousand idle sockets
then hold a few dozen descriptors for a few seconds, and the page still gets in.
"""

from __future__ import annotations

import asyncio
import socket
import tempfile
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from ..config import RenderConfig
from ..errors import DreamreelError
from .app import create_app, is_loopback, new_token
from .session import Session

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
MAX_CONNECTIONS = 32  # a page uses about six (its stream, status polls, images)
HEAD_TIMEOUT = 5.0  # seconds to send a request's head once connected (or after an answer)
KEEP_ALIVE = 5  # seconds an idle connection stays open after an answer
MAX_HEAD = 16 * 1024  # bytes of request line and headers


class Bounded(H11Protocol):
    """uvicorn's h11 protocol with the two bounds it lacks: the number of open connections, and the
    time to send a request's head (an idle or trickling socket is closed)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        live = [c for c in self.connections if isinstance(c, Bounded) and not c.transport.is_closing()]
        if len(live) >= MAX_CONNECTIONS:
            waiting = sorted((c for c in live if c.cycle is None), key=lambda c: c.opened)
            if not waiting:
                self.transport = transport  # uvicorn's connection_lost reads it
                transport.abort()
                return
            waiting[0].transport.abort()  # the oldest socket that never asked for anything
        self.opened = time.monotonic()
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._await_head()

    def _await_head(self) -> None:
        """Close the connection unless a new request's head arrives within HEAD_TIMEOUT."""
        cycle = self.cycle
        self.loop.call_later(HEAD_TIMEOUT, lambda: self._idle_since(cycle) and self.transport.close())

    def _idle_since(self, cycle: object) -> bool:
        """No request began since `cycle` (None: since the connection opened) and none is being answered."""
        return self.cycle is cycle and (cycle is None or self.cycle.response_complete) and not self.transport.is_closing()


@dataclass(frozen=True)
class Studio:
    url: str  # the page, with ?token= (traded for a cookie on the first visit)
    session: Session


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (bound before uvicorn starts, so port 0 gives a known free port)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        raise DreamreelError(f"cannot listen on {host}:{port}: {e.strerror or e}", "choose another --port or --host") from None
    sock.listen(64)
    return sock


def _url(sock: socket.socket, host: str, token: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/?token={token}"


@contextmanager
def running(cfg: RenderConfig, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
            in_thread: bool = True) -> Iterator[tuple[Studio, uvicorn.Server, socket.socket]]:
    """The session rendering and the server made (started on a thread when `in_thread`); both
    stopped on exit. `token`: None picks a fresh one (every host has one, loopback included)."""
    token = token or new_token()
    hosts = (LOOPBACK_NAMES | {host}) if is_loopback(host) else None
    with tempfile.TemporaryDirectory(prefix="dreamreel-studio-") as workdir:
        session = Session(cfg, Path(workdir))
        sock = bind(host, port)
        server = uvicorn.Server(uvicorn.Config(create_app(session, token, hosts), log_level="warning",
                                               timeout_graceful_shutdown=1, lifespan="off", http=Bounded,
                                               limit_concurrency=2 * MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE,
                                               h11_max_incomplete_event_size=MAX_HEAD))
        session.start()
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True) if in_thread else None
        try:
            if thread:
                thread.start()
                while not server.started and thread.is_alive():
                    thread.join(0.05)
                if not server.started:
                    raise DreamreelError("the studio's server did not start", "see the log above")
            yield Studio(_url(sock, host, token), session), server, sock
        finally:
            server.should_exit = True
            if thread:
                thread.join()
            session.stop()
            sock.close()


@contextmanager
def background(cfg: RenderConfig, host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> Iterator[Studio]:
    """The studio served on a thread until the block ends (tests, `make docs`)."""
    with running(cfg, host, port, token) as (studio, _, _):
        yield studio


def serve(cfg: RenderConfig, host: str = "127.0.0.1", port: int = 8765, open_browser: bool = True,
          announce: Callable[[str], object] = print) -> None:
    """`dreamreel studio`: serve until Ctrl-C."""
    with running(cfg, host, port, in_thread=False) as (studio, server, sock):
        announce(f"dreamreel studio: {studio.url}")
        if open_browser:
            webbrowser.open(studio.url)
        server.run(sockets=[sock])
