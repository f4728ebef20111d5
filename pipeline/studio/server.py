"""Running the studio: a session, its app, uvicorn on a socket bound here (port 0: a free one)."""

from __future__ import annotations

import socket
import tempfile
import threading
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from ..config import RenderConfig
from ..errors import DreamreelError
from .app import create_app, is_loopback, token_for
from .session import Session

LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class Studio:
    url: str  # the page, with ?token= when one is needed
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


def _url(sock: socket.socket, host: str, token: str | None) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/" + (f"?token={token}" if token else "")


@contextmanager
def running(cfg: RenderConfig, host: str = "127.0.0.1", port: int = 0, token: str | None = None,
            in_thread: bool = True) -> Iterator[tuple[Studio, uvicorn.Server, socket.socket]]:
    """The session rendering and the server made (started on a thread when `in_thread`); both
    stopped on exit. `token`: None picks one for a non-loopback host (none on loopback)."""
    token = token if token is not None else token_for(host)
    hosts = (LOOPBACK_NAMES | {host}) if is_loopback(host) else None
    with tempfile.TemporaryDirectory(prefix="dreamreel-studio-") as workdir:
        session = Session(cfg, Path(workdir))
        sock = bind(host, port)
        server = uvicorn.Server(uvicorn.Config(create_app(session, token, hosts), log_level="warning",
                                               timeout_graceful_shutdown=1, lifespan="off"))
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
