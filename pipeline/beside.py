"""One thread beside the caller, joined to it by a bounded queue: the one helper for work that runs
beside the compute, behind it (encoders, the resume parts writer: `Worker`) or ahead of it (decoders:
`prefetched`).

Either way the thread's failure is re-raised in the caller, every wait wakes each 0.1 s to see
whether the other side failed or stopped (a dead encoder never hangs a render, an abandoned
decoder never blocks), and the thread is joined on every path: nothing is left running.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_END = object()


class Beside:
    """A thread running `body(self)`; `send` and `receive` pass items between it and the caller."""

    def __init__(self, body: Callable[[Beside], None], name: str, maxsize: int = 8) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize)
        self.stopped = threading.Event()  # set by the side that gives up: the other stops waiting
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, args=(body,), name=name, daemon=True)
        self._thread.start()

    def _run(self, body: Callable[[Beside], None]) -> None:
        try:
            body(self)
        except BaseException as e:  # handed to the caller by send/receive/join
            self.error = e
        finally:
            self._force(_END)  # wakes a caller waiting in `receive`

    def _force(self, item: Any) -> None:
        """Queue `item` even past `stopped`, unless nobody is left to read it."""
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if threading.current_thread() is self._thread:
                    if self.stopped.is_set():
                        return
                elif self.error is not None or not self._thread.is_alive():
                    self.stop()  # the thread failed with the queue full: nobody reads it; `join` raises
                    return

    def raise_error(self) -> None:
        if self.error is not None:
            raise self.error

    def send(self, item: Any) -> bool:
        """Queue `item` (blocking while full); False once the other side has stopped. From the caller's
        side a failure of the thread is raised here."""
        caller = threading.current_thread() is not self._thread
        while not self.stopped.is_set():
            if caller:
                self.raise_error()
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def receive(self) -> Iterator[Any]:
        """The items sent, until the sender ends (`close`, or the thread's body returns)."""
        while (item := self._queue.get()) is not _END:
            yield item

    def close(self) -> None:
        """The caller is done sending: the thread drains what is queued, then its `receive` ends."""
        self._force(_END)

    def join(self) -> None:
        self._thread.join()
        self.raise_error()

    def stop(self) -> None:
        """Give up: the thread's waits end, it is joined; nothing queued is read any more."""
        self.stopped.set()
        while self._thread.is_alive():
            try:
                self._queue.put_nowait(_END)  # wakes a thread waiting in `receive`
            except queue.Full:
                try:
                    self._queue.get(timeout=0.1)  # frees a thread blocked on a full queue
                except queue.Empty:
                    pass
            self._thread.join(timeout=0.1)


class Worker:
    """`consume(item)` on a thread behind the caller. `put` blocks while the queue is full
    (backpressure) and re-raises a failure of the thread; `finish` drains and joins; `abort` drops
    what is queued and joins."""

    def __init__(self, consume: Callable[[Any], None], name: str, maxsize: int = 8) -> None:
        def body(side: Beside) -> None:
            for item in side.receive():
                if not side.stopped.is_set():
                    consume(item)

        self._side = Beside(body, name, maxsize)

    def put(self, item: Any) -> None:
        self._side.send(item)

    def finish(self) -> None:
        self._side.close()
        self._side.join()

    def abort(self) -> None:
        self._side.stop()


def prefetched(make: Callable[[], Iterator[T]], maxsize: int = 8, name: str = "dreamreel-decode") -> Iterator[T]:
    """Run the iterator `make()` on a thread, `maxsize` items ahead of the caller.

    The thread owns the iterator (it is created, advanced and closed there, so ffmpeg's generator
    can shut its process down). Its errors are re-raised here. Closing this generator early (a
    `break`, an error, Ctrl-C) stops the thread and waits for it.
    """
    def body(side: Beside) -> None:
        it = make()
        try:
            for x in it:
                if not side.send(x):
                    return
        finally:
            close = getattr(it, "close", None)
            if close:
                close()

    side = Beside(body, name, maxsize)
    try:
        yield from side.receive()
        side.raise_error()
    finally:
        side.stop()
