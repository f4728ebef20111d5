"""The one thread helper: decoding ahead and encoding behind never hang, never lose an error, never leave a thread."""

import threading
import time

import pytest

from pipeline.beside import Worker, prefetched


def alive(name: str) -> bool:
    return any(t.name == name and t.is_alive() for t in threading.enumerate())


def test_prefetched_yields_in_order_and_re_raises_in_the_consumer():
    def broken():
        yield 1
        yield 2
        raise ValueError("decoder broke")

    got = []
    with pytest.raises(ValueError, match="decoder broke"):
        for x in prefetched(broken, maxsize=1, name="t-broken"):
            got.append(x)
    assert got == [1, 2] and not alive("t-broken")


def test_a_consumer_that_stops_early_stops_the_decoder():
    closed = threading.Event()

    def endless():
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            closed.set()  # the thread closes its own iterator (ffmpeg's generator kills its process there)

    for x in prefetched(endless, maxsize=2, name="t-endless"):
        if x == 5:
            break
    assert closed.is_set() and not alive("t-endless")


def test_a_dead_encoder_fails_the_next_put_and_finish():
    def consume(item):
        if item == 3:
            raise OSError("encoder died")

    worker = Worker(consume, name="t-encoder", maxsize=1)
    with pytest.raises(OSError, match="encoder died"):
        for i in range(100):  # backpressure on a queue of 1: a dead thread must not hang this loop
            worker.put(i)
    assert not alive("t-encoder")


def test_finish_drains_and_abort_drops():
    done = []
    worker = Worker(lambda item: (time.sleep(0.01), done.append(item)), name="t-drain")
    for i in range(5):
        worker.put(i)
    worker.finish()
    assert done == list(range(5)) and not alive("t-drain")
    consumed = []
    slow = Worker(lambda item: (time.sleep(0.2), consumed.append(item)), name="t-abort", maxsize=2)
    for i in range(3):
        slow.put(i)
    slow.abort()
    assert consumed in ([], [0]) and not alive("t-abort")  # the item in hand finishes; the queued ones are dropped


def test_an_encoder_that_dies_with_the_queue_full_fails_finish_instead_of_hanging():
    def consume(item):
        time.sleep(0.05)
        raise OSError("disk full")

    worker = Worker(consume, name="t-full", maxsize=2)
    for i in range(3):  # the thread is busy with item 0 while 1 and 2 fill the queue
        worker.put(i)
    with pytest.raises(OSError, match="disk full"):
        worker.finish()
    assert not alive("t-full")
