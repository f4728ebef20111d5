"""`dreamreel studio`: the recording replays bit for bit, the API's errors and token, the page in Chromium.

Every render here is tiny (48-64 px, 1 octave, 2 steps, one thread). The server binds
127.0.0.1 on a free port and stops when the test ends.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import tomllib
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError
import tomli_w
import torch

pytest.importorskip("starlette")

import cli
from benchmarks import clips
from pipeline import flow, media, presets
from pipeline.errors import DreamreelError
from pipeline.schedule import Schedule
from pipeline.studio import background, browser
from pipeline.studio.app import MAX_BODY, Change
from pipeline.studio.record import Recording, picked, splice, weight_slots, with_weight
from pipeline.studio import session as session_
from pipeline.studio.session import Session
from tests.conftest import read_rgb

TINY = {"threads": 1, "source": {"size": 48}, "dream": {"octaves": 1, "steps": 2, "jitter": 4}}
HANG = "max([[[[[1]*999]*999]*999]*999]*999, [[[[[2-1]*999]*999]*999]*999]*999)"  # froze the server once


def tiny(preset: str = "zoom", **over: Any) -> Any:
    return presets.load(preset, presets.merge(TINY, over))


@pytest.fixture
def sessions(tmp_path, one_thread):
    """Makes `Session`s run on the test's thread; each is stopped when the test ends (a video's
    decoder thread with it), and none leaves a decoder behind."""
    made: list[Session] = []

    def make(cfg: Any, **kw: Any) -> Session:
        made.append(Session(cfg, tmp_path / f"session{len(made)}", **kw))
        return made[-1]

    yield make
    for session in made:
        session.stop()
    assert not decoders()


def decoders() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "dreamreel-decode"]


# --- the recording ---------------------------------------------------------------------------------


def test_a_step_change_is_two_keys_and_a_second_change_at_the_same_frame_replaces_the_first():
    keys = splice(((0, "1.03"),), "1.03", "1.05", 40)
    assert keys == ((0, "1.03"), (39, "1.03"), (40, "1.05"))
    assert splice(keys, "1.05", "1.07", 40) == ((0, "1.03"), (39, "1.03"), (40, "1.07"))
    assert splice(((0, "1.0"), (60, "2.0")), "2.0", "3.0", 30) is None  # keys ahead: not spliceable


def test_weight_slots_are_the_weights_not_the_channel_index():
    skeleton, slots = weight_slots('layers({"blocks.4": 1.0, "blocks.10": 1}) + 0.5 * channel("blocks.5", 12)')
    assert [s[2:] for s in slots] == [("1.0", "blocks.4"), ("1", "blocks.10"), ("0.5", "channel('blocks.5', 12)")]
    assert "12" in skeleton


def test_weights_and_picked_layers_are_written_as_python_reads_them():
    text = 'layers({"blocks.4": 1.0, "blocks.10": 1}) + 0.5 * channel("blocks.5", 12)'
    assert with_weight(text, 2, 1e-7) == 'layers({"blocks.4": 1.0, "blocks.10": 1}) + 1e-07 * channel("blocks.5", 12)'
    assert with_weight(text, 1, 3) == 'layers({"blocks.4": 1.0, "blocks.10": 3.0}) + 0.5 * channel("blocks.5", 12)'
    with pytest.raises(DreamreelError, match="no weight 3"):
        with_weight(text, 3, 1.0)
    assert picked("blocks.4", 1e-7, None) == 'layers({"blocks.4": 1e-07})'
    assert picked("blocks.4", 2, 7) == '2.0 * channel("blocks.4", 7)'
    for written in (with_weight(text, 0, 1e-7), picked("blocks.4", 1e-7, 3)):
        assert 1e-7 in [float(s[2]) for s in weight_slots(written)[1]]


def test_live_keys_splice_and_other_keys_restart(one_thread):
    rec = Recording.start(tiny())
    live, restart = rec.change({"motion": {"zoom": 1.05}}, at=10)
    assert not restart and live.mapping()["motion"]["zoom"] == "0:(1.02), 9:(1.02), 10:(1.05)"
    weights, restart = live.change({"dream": {"objective": 'layers({"blocks.4": 0.25, "blocks.10": 1.0})'}}, at=12)
    assert not restart
    assert weights.mapping()["dream"]["objective"] == 'layers({"blocks.4": weight0, "blocks.10": 1.0})'
    assert weights.mapping()["dream"]["tracks"] == {"weight0": "0:(1.0), 11:(1.0), 12:(0.25)"}
    again, restart = weights.change({"dream": {"octaves": 2}}, at=14)
    assert restart and again.current()["motion"]["zoom"] == 1.05 and again.tracks == {}
    with pytest.raises(DreamreelError):
        rec.change({"motion": {"zoom": "sin("}}, at=3)
    video = Recording.start(tiny("video", source={"input": "clip.mp4"}))  # a video's weights are live, the rest restarts
    weights, restart = video.change({"dream": {"objective": 'layers({"blocks.6": 0.25, "blocks.9": 1.0})'}}, at=5)
    assert not restart and weights.mapping()["dream"]["objective"] == 'layers({"blocks.6": weight0, "blocks.9": 1.0})'
    assert weights.mapping()["dream"]["tracks"] == {"weight0": "0:(0.5), 4:(0.5), 5:(0.25)"}
    for key in ({"video": {"blend": 0.9}}, {"dream": {"objective": 'layers({"blocks.6": 1.0})'}}):
        again, restart = weights.change(key, at=7)
        assert restart and again.tracks == {}


def test_weight_changes_are_tracks_of_their_own_so_the_hundredth_is_taken_like_the_first(one_thread):
    """Each change adds two keys to its weight's track, never to the objective's text."""
    rec = Recording.start(tiny())
    template = rec.mapping()["dream"]["objective"]
    for i in range(100):
        text = f'layers({{"blocks.4": {0.5 + i / 1000!r}, "blocks.10": {1.0 + (i % 2)!r}}})'
        rec, restart = rec.change({"dream": {"objective": text}}, at=10 + 3 * i)
        assert not restart
    cfg = rec.config()
    assert len(cfg.dream.objective) == len(template.replace("1.0,", "weight0,").replace("1.0}", "weight1}"))
    assert cfg.dream.objective == 'layers({"blocks.4": weight0, "blocks.10": weight1})'
    assert len(Schedule.parse(cfg.dream.tracks["weight0"]).keys) == 201 and rec.current()["dream"]["objective"] == \
        'layers({"blocks.4": 0.599, "blocks.10": 2.0})'
    assert Schedule.parse(cfg.dream.tracks["weight0"])(10 + 3 * 50) == 0.55
    mine = Recording.start(tiny(dream={"objective": 'weight0 * layers({"blocks.4": 1.0})', "tracks": {"weight0": "0.5"}}))
    mine, _ = mine.change({"dream": {"objective": 'weight0 * layers({"blocks.4": 0.25})'}}, at=4)
    assert mine.mapping()["dream"]["tracks"] == {"weight0": "0.5", "weight0_": "0:(1.0), 3:(1.0), 4:(0.25)"}


def test_weight_slots_count_characters_check_the_length_first_and_take_linear_time():
    text = 'guide("café-é.png", "blocks.5") + 0.3 * layers({"blocks.4": 1.0, "blocks.9": 0.5})'
    skeleton, slots = weight_slots(text)
    assert [s[2] for s in slots] == ["0.3", "1.0", "0.5"] and all(text[a:b] == lit for a, b, lit, _ in slots)
    assert with_weight(text, 0, 0.125) == text.replace("0.3", "0.125")
    assert weight_slots("x" * 10**6) == ("x" * 10**6, ())
    wide = "layers({" + ", ".join(f'"b{i}": {i}.5' for i in range(140)) + "})"  # ~1900 characters, ~280 nodes
    started = time.thread_time()
    for _ in range(20):
        assert len(weight_slots(wide)[1]) == 140
    assert time.thread_time() - started < 1.0


def test_the_export_rendered_by_the_cli_reproduces_the_studio_frames_bit_for_bit(tmp_path, sessions, monkeypatch):
    """Live changes of zoom, angle, steps and an objective weight; `dreamreel render` on the export.
    A 1-frame horizon makes the zoom rebuild its plan past it, mid-run, as a long session does."""
    monkeypatch.setattr(session_, "HORIZON", 1)
    shown: list[np.ndarray] = []
    session = sessions(tiny(), on_frame=lambda f: shown.append(f.image))
    for change in ({}, {"motion": {"zoom": 1.06, "angle": 3.0}}, {"motion": {"steps": 1}},
                   {"dream": {"objective": 'layers({"blocks.4": 0.3, "blocks.10": 1.0})'}}, {"motion": {"zoom": 0.97}}):
        session.apply(change)
        for _ in range(2):
            session.render_one()
    assert session.snapshot().index == len(shown) == 10 and not session.snapshot().done
    preset = tmp_path / "export.toml"
    preset.write_text(session.preset())
    data = tomllib.loads(preset.read_text())
    assert data["source"]["frames"] == 10 and "weight0" in data["dream"]["objective"] and "output" not in data
    assert data["dream"]["tracks"]["weight0"].startswith("0:(1.0), 5:(1.0), 6:(0.3)")
    assert cli.main(["render", str(preset), "-o", str(tmp_path / "frames") + "/", "--quiet"]) == 0
    rendered = [read_rgb(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    assert len(rendered) == 10
    for i, (studio, cli_frame) in enumerate(zip(shown, rendered)):
        assert np.array_equal(studio, cli_frame), f"frame {i} differs"
    assert not np.array_equal(shown[1], shown[2])  # the changes did change the frames


def test_the_render_thread_never_encodes_the_page_s_jpeg(sessions, monkeypatch):
    """The render thread goes on to the next frame; the server's side encodes the last frame, once."""
    encoded: list[str] = []
    real = session_.jpeg
    monkeypatch.setattr(session_, "jpeg", lambda image: encoded.append(threading.current_thread().name) or real(image))
    session = sessions(tiny())
    assert session.latest() == (0, b"")
    for _ in range(3):
        session.render_one()
    assert encoded == []  # three frames rendered, none encoded
    server = threading.Thread(target=session.latest, name="server")
    server.start()
    server.join()
    serial, data = session.latest()
    assert serial == 3 and data[:2] == b"\xff\xd8" and encoded == ["server"]  # encoded once, by the server, then kept
    assert read_jpeg(data).shape == session.snapshot().image.shape


def read_jpeg(data: bytes) -> np.ndarray:
    import cv2

    return cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)


def test_a_still_restarts_on_any_change(sessions):
    session = sessions(tiny("default"))
    first = session.render_one()
    assert session.snapshot().done and session.render_one() is None
    session.apply({"dream": {"step_size": 0.05}})
    assert not session.snapshot().done and session.snapshot().index == 0
    second = session.render_one()
    assert not np.array_equal(first.image, second.image)


def test_a_video_session_reweights_live_restarts_on_other_keys_and_replays_bit_for_bit(tmp_path, sessions,
                                                                                        monkeypatch):
    """A weight change is live (the carry kept, recorded as a schedule); `dreamreel render` on the
    export draws the same frames, a scene cut included, computing flow as often as the studio did
    (the plot adds none)."""
    clip = clips.write_mp4(tmp_path / "cut.mp4", clips.cut(5, 64, 48, at=3), fps=12)
    tracked: list[int] = []
    track = flow.track
    monkeypatch.setattr(flow, "track", lambda *a, **k: tracked.append(1) or track(*a, **k))
    shown: list[np.ndarray] = []
    cfg = tiny("video", source={"input": str(clip), "size": 64})
    session = sessions(cfg, on_frame=lambda f: shown.append(f.image))
    session.render_one()
    session.apply({"video": {"steps_warm": 1}})
    assert session.snapshot().index == 0  # video keys restart
    shown.clear(), tracked.clear()
    for _ in range(2):
        session.render_one()
    session.apply({"dream": {"objective": 'layers({"blocks.6": 0.05, "blocks.9": 1.0})'}})
    now = session.snapshot()
    assert now.index == 2 and set(now.recording.tracks) == {"dream.objective#0"}  # live: no restart
    assert now.weights()[0]["value"] == 0.05
    for _ in range(2):
        session.render_one()
    studio_flow = len(tracked)
    points = list(session.snapshot().points)[-4:]
    assert [p.warp_error is None for p in points] == [True, False, False, True]  # the first frame, the cut
    assert all(p.warp_error > 0 for p in points[1:3])
    preset = tmp_path / "video.toml"
    preset.write_text(session.preset())
    data = tomllib.loads(preset.read_text())
    assert data["dream"]["objective"] == 'layers({"blocks.6": weight0, "blocks.9": 1.0})'
    assert data["dream"]["tracks"] == {"weight0": "0:(0.5), 1:(0.5), 2:(0.05)"}
    tracked.clear()
    assert cli.main(["render", str(preset), "-o", str(tmp_path / "frames") + "/", "--quiet"]) == 0
    assert len(tracked) == studio_flow > 0  # flow once per frame: the chain's
    rendered = [read_rgb(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    assert len(rendered) == 4 and all(np.array_equal(a, b) for a, b in zip(shown, rendered))
    data["dream"]["objective"] = 'layers({"blocks.6": 0.5, "blocks.9": 1.0})'
    del data["dream"]["tracks"]
    (tmp_path / "unchanged.toml").write_text(tomli_w.dumps(data))
    assert cli.main(["render", str(tmp_path / "unchanged.toml"), "-o", str(tmp_path / "plain") + "/", "--quiet"]) == 0
    plain = [read_rgb(p) for p in sorted((tmp_path / "plain").glob("*.png"))]
    assert np.array_equal(plain[1], shown[1]) and not np.array_equal(plain[3], shown[3])  # the new weight did change them


# --- the API -------------------------------------------------------------------------------------


def call(url: str, path: str, body: Any = None, token: str | None = "", raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    """A request to the studio at `url` (the printed one): with its token as a Bearer header, another
    `token`, or none (None)."""
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.split("?")[0].rstrip("/") + path, data=data,
                                     headers={"Content-Type": content_type} if data is not None else {})
    token = url.partition("?token=")[2] if token == "" else token
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            payload = r.read()
            return r.status, json.loads(payload) if r.headers.get_content_type() == "application/json" else payload
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_frames(url: str, more_than: int) -> dict[str, Any]:
    while True:  # no timing assert: pytest's own timeout (or CI's) ends a hang
        status, body = call(url, "/api/status")
        assert status == 200
        if body["frames"] > more_than:
            return body


def test_bad_values_get_422_and_one_line_and_the_render_goes_on(one_thread):
    with background(tiny(source={"size": 48})) as studio:
        url = studio.url
        before = wait_frames(url, 0)
        for bad in ({"motion": {"zoom": "banana("}}, {"dream": {"step_size": 7}}, {"motion": {"zoom": 9.0}},
                    {"dream": {"objective": 'layer("blocks.99")'}}, {"source": {"input": "/etc/passwd"}}, ["not", "a", "map"],
                    {"motion": {"zoom": {"a": [[[[[[[[[[1]]]]]]]]]]}}}, {"dream": {"objective": 'layers([1])'}},
                    {"motion": {"zoom": HANG}}, {"motion": {"angle": HANG}}, {"dream": {"objective": f'{HANG} * layer("blocks.4")'}},
                    {"dream": {"objective": f"sched('{HANG}') * layer(\"blocks.4\")"}}):
            status, body = call(url, "/api/params", bad)
            assert status == 422, bad
            assert set(body) == {"error"} and "\n" not in body["error"] and body["error"]
        for path, bad in (("/api/weight", {"index": 9, "value": 1.0}), ("/api/weight", {"index": 0, "value": "1"}),
                          ("/api/weight", {"index": 0}), ("/api/weight", {"index": 0, "value": 1.0, "start": 3}),
                          ("/api/pick", {"layer": "blocks.99"}), ("/api/pick", {"layer": "blocks.4", "channel": -1}),
                          ("/api/pause", {"paused": "yes"})):
            status, body = call(url, path, bad)
            assert status == 422, (path, bad)
            assert set(body) == {"error"} and "\n" not in body["error"] and body["error"]
        status, body = call(url, "/api/weight", raw=b'{"index": 0, "value": NaN}')
        assert status == 422 and "NaN" in body["error"]
        after = wait_frames(url, before["frames"] + 1)
        assert after["params"]["motion"]["zoom"] == before["params"]["motion"]["zoom"] and not after["error"]
        assert after["params"]["dream"]["objective"] == before["params"]["dream"]["objective"]
        status, body = call(url, "/api/params", {"motion": {"zoom": 1.04}})
        assert status == 200 and body["params"]["motion"]["zoom"] == 1.04
        assert call(url, "/api/params", raw=b"x" * (MAX_BODY + 1))[0] == 413
        assert call(url, "/api/params", {"motion": {"zoom": 1.05}}, content_type="text/plain")[0] == 415
        status, jpeg = call(url, "/api/frame.jpg")
        assert status == 200 and jpeg[:2] == b"\xff\xd8"


def test_a_token_is_asked_on_every_host_the_printed_url_trading_it_once_for_a_cookie(one_thread):
    """Loopback included: any local account could otherwise watch the frames and post changes."""
    with background(tiny()) as studio:
        assert studio.url.startswith("http://127.0.0.1:") and "?token=" in studio.url
        for path in ("/", "/api/status", "/api/frame.jpg", "/api/stream.mjpg", "/api/preset.toml", "/static/studio.js"):
            assert call(studio.url, path, token=None)[0] == 401, path
            assert call(studio.url, path, token="wrong")[0] == 401, path
        assert call(studio.url, "/api/params", {"motion": {"zoom": 1.05}}, token=None)[0] == 401
        assert call(studio.url, "/api/status")[0] == 200
        bare = studio.url.split("?")[0]
        opener = urllib.request.build_opener(NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as answer:
            opener.open(studio.url, timeout=60)
        assert answer.value.code == 303 and answer.value.headers["Location"] == "/"
        cookie = answer.value.headers["Set-Cookie"]
        assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower() and "path=/" in cookie.lower()
        jar = {"Cookie": cookie.split(";")[0]}
        for path in ("", "static/studio.css", "api/status"):
            with urllib.request.urlopen(urllib.request.Request(bare + path, headers=jar), timeout=60) as r:
                assert r.status == 200
        for wrong in (bare + "?token=wrong", bare + "api/status?token=wrong"):
            with pytest.raises(urllib.error.HTTPError) as answer:
                opener.open(wrong, timeout=60)
            assert answer.value.code == 401 and "Set-Cookie" not in answer.value.headers
        posted = urllib.request.Request(studio.url.replace("/?", "/api/pause?"), data=b'{"paused": true}',
                                        headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError) as answer:  # the token in a URL is for the page, once
            urllib.request.urlopen(posted, timeout=60)
        assert answer.value.code == 401


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any) -> None:
        return None


FILE_KEYS = [{"source": {"input": "/etc/passwd"}}, {"audio": {"file": "/etc/passwd"}}, {"audio": {"stems": {"drums": "/etc/passwd"}}},
             {"dream": {"weights": "/etc/passwd"}}, {"dream": {"model": "/tmp/x.pt"}}, {"output": {"paths": ["/tmp/x.png"]}},
             {"output": {"contact_sheet": "/tmp/x.png"}}, {"output": {"animate_steps": "/tmp/x.gif"}},
             {"carve": {"animate": "/tmp/x.gif"}}, {"dream": {"tracks": {"w": "1"}}}, {"kind": "dream"},
             {"dream": {"objective": 'guide("/etc/passwd", "blocks.5")'}},
             {"dream": {"objective": 'style("/etc/passwd", "blocks.2", {"stem": 1})'}},
             {"dream": {"objective": 'layer("blocks.4@/etc/passwd")'}}, {"masks": {"file": "/etc/passwd"}},
             {"mask": {"mask": "/etc/passwd"}}, {"regions": [{"mask": "/etc/passwd", "objective": 'layer("blocks.3")'}]}]


def test_nothing_from_the_page_names_a_file_and_the_export_keeps_the_command_line_s_paths(tmp_path, one_thread):
    track = clips.beat_track(tmp_path / "beat.wav", 2.0)
    start = tmp_path / "start.png"
    import cv2
    cv2.imwrite(str(start), np.full((48, 48, 3), 90, np.uint8))
    with background(tiny(source={"input": str(start)}, audio={"file": str(track)})) as studio:
        wait_frames(studio.url, 0)
        for bad in FILE_KEYS:
            status, body = call(studio.url, "/api/params", bad)
            assert status == 422 and "\n" not in body["error"], (bad, body)
        for layer in ("blocks.4@/etc/passwd", "../blocks.4", "blocks 4"):
            assert call(studio.url, "/api/pick", {"layer": layer})[0] == 422, layer
        assert call(studio.url, "/api/params", {"motion": {"zoom": 1.04}})[0] == 200
        preset = call(studio.url, "/api/preset.toml")[1].decode()
    data = tomllib.loads(preset)
    assert "/etc/passwd" not in preset and "/tmp/x" not in preset and "output" not in data
    assert data["source"]["input"] == str(start) and data["audio"]["file"] == str(track)


def test_a_guide_image_named_in_non_ascii_shows_and_changes_its_weights(tmp_path, one_thread):
    """A non-ASCII character before a weight used to cut the weight in the wrong place (byte offsets)."""
    import cv2
    guide = tmp_path / "café-é.png"
    cv2.imwrite(str(guide), np.full((48, 48, 3), 90, np.uint8))
    objective = f'guide({str(guide)!r}, "blocks.5") + 0.3 * layer("blocks.9")'
    with background(tiny(dream={"objective": objective})) as studio:
        status, body = call(studio.url, "/api/status")
        assert status == 200 and [w["value"] for w in body["weights"]] == [0.3]
        assert call(studio.url, "/api/weight", {"index": 0, "value": 0.125})[0] == 200
        status, body = call(studio.url, "/api/status")
        assert [w["value"] for w in body["weights"]] == [0.125] and str(guide) in body["params"]["dream"]["objective"]


def test_a_full_inbox_is_answered_503_in_one_line_while_the_server_goes_on(one_thread, monkeypatch):
    """The render thread held inside a frame: sixteen changes wait, the seventeenth is refused at once,
    and the status (which reads the last snapshot) answers all along."""
    inside, go = threading.Event(), threading.Event()
    render_one = Session.render_one
    monkeypatch.setattr(Session, "render_one", lambda self: inside.set() or go.wait(300) and render_one(self))
    with background(tiny()) as studio:
        assert inside.wait(120)
        answers: list[int] = []
        posts = [threading.Thread(target=lambda i=i: answers.append(call(studio.url, "/api/params", {"motion": {"zoom": 1.01 + i / 100}})[0]))
                 for i in range(session_.INBOX)]
        for post in posts:
            post.start()
        while len(studio.session._inbox.queue) < session_.INBOX:  # noqa: SLF001 - the queue itself is what is bounded
            time.sleep(0.01)
        status, body = call(studio.url, "/api/params", {"motion": {"zoom": 1.2}})
        assert status == 503 and "changes are already waiting" in body["error"] and "\n" not in body["error"]
        assert call(studio.url, "/api/status")[0] == 200
        go.set()
        for post in posts:
            post.join()
        assert answers == [200] * session_.INBOX


def test_a_thousand_idle_sockets_hold_a_few_dozen_descriptors_and_the_page_still_gets_in(one_thread):
    """Opened on loopback and left silent (no request, no token): past the cap the oldest silent one is
    dropped, so the process keeps its descriptors and a real request is answered."""
    from pipeline.studio.server import MAX_CONNECTIONS, running

    with running(tiny()) as (studio, server, sock):
        address = sock.getsockname()[:2]
        before = len(os.listdir("/proc/self/fd"))
        idle = []
        try:
            for _ in range(1000):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setblocking(False)
                s.connect_ex(address)
                idle.append(s)
            time.sleep(1.0)  # let the server accept what the backlog holds
            held = len(server.server_state.connections)
            ours = len(os.listdir("/proc/self/fd")) - before - len(idle)
            assert held <= MAX_CONNECTIONS and ours <= MAX_CONNECTIONS + 8, (held, ours)
            assert call(studio.url, "/api/status")[0] == 200
        finally:
            for s in idle:
                s.close()


def test_a_zoom_to_music_shows_the_curves_under_the_frame_with_the_frame_marked(tmp_path, sessions):
    import cv2

    track = clips.beat_track(tmp_path / "beat.wav", 2.0)
    session = sessions(tiny("zoom-beat", audio={"file": str(track)}))
    assert session.status()["audio"]
    decode = lambda data: cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)  # noqa: E731
    before = decode(session.curves_png())
    for _ in range(3):
        session.render_one()
    after = decode(session.curves_png())
    assert before.shape == after.shape and before.shape[1] == 960
    moved = np.flatnonzero(np.abs(before.astype(int) - after.astype(int)).sum(axis=(0, 2)))
    assert 0 < moved.max() - moved.min() < 80  # only the playhead moved, a few frames to the right
    with background(tiny()) as studio:  # without audio: no curves, and the page hides their place
        assert call(studio.url, "/api/curves.png")[0] == 404
        assert call(studio.url, "/api/status")[1]["audio"] is False


def test_the_command_fails_in_one_line_before_serving(capsys):
    assert cli.main(["studio", "no-such-preset", "--no-browser", "--port", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dreamreel: error: unknown preset") and "\n" not in err


# --- the page, in headless Chromium ----------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium through Playwright; missing, the test fails under CI and skips elsewhere."""
    problem = browser.missing()
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test needs chromium: {problem}")
        pytest.skip(problem)
    with browser.launch() as b:
        yield b


def watch(page: Any) -> list[str]:
    """Every request the page makes, and every answer it gets that is not 2xx or 3xx (as "STATUS URL")."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("response", lambda r: r.status < 400 or seen.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: seen.append(f"failed {r.url}") if "stream.mjpg" not in r.url else None)
    return seen


def token_used_once(page: Any, seen: list[str], url: str) -> None:
    """The printed URL was the only one with the token: the page sits at the bare address, every
    request after it went without, and the cookie that carries it is out of the page's reach."""
    token = url.partition("?token=")[2]
    assert seen[0] == url and not [s for s in seen[1:] if token in s or "token=" in s], seen
    assert page.url == url.split("?")[0] and token not in page.evaluate("() => document.cookie")


def until(page: Any, condition: str, tries: int = 600) -> None:
    """Wait until a JavaScript condition on `status` (the server's /api/status, fetched by the page)
    holds. (`wait_for_function` takes a returned promise for true: it cannot wait on a fetch.)"""
    for _ in range(tries):
        if page.evaluate(f"async () => {{ const status = await (await fetch('/api/status')).json(); return {condition}; }}"):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"never true: {condition}")


def test_the_page_shows_frames_takes_changes_writes_numbers_as_json_and_exports_a_preset_that_renders(
        chromium, tmp_path, one_thread):
    """A zoom to music: the curves under the frame; a live zoom and weight (1e-7 stays 1e-7 on the
    way: the page sends numbers, the server writes the objective); an error in one line; export."""
    track = clips.beat_track(tmp_path / "beat.wav", 2.0)
    with background(tiny(source={"size": 64}, audio={"file": str(track)})) as studio:
        page = chromium.new_page()
        seen = watch(page)
        page.goto(studio.url, wait_until="domcontentloaded")
        page.wait_for_function("() => Number(document.getElementById('frames')?.textContent) >= 2", timeout=120_000)
        page.wait_for_function("() => document.getElementById('live').naturalWidth > 0", timeout=60_000)
        page.wait_for_function("() => document.getElementById('curves')?.naturalWidth > 0", timeout=60_000)
        page.fill("[data-key='motion.zoom']", "1.07")
        page.dispatch_event("[data-key='motion.zoom']", "change")
        until(page, "status.params.motion.zoom === 1.07")
        page.fill("#w-0", "1e-7")  # the first weight of the objective, live
        page.dispatch_event("#w-0", "change")
        until(page, "status.weights[0].value === 1e-7 && status.params.dream.objective.includes('1e-07')")
        page.fill("[data-key='dream.step_size']", "9")
        page.dispatch_event("[data-key='dream.step_size']", "change")
        page.wait_for_function("() => document.getElementById('e-dream.step_size').textContent.includes('step_size')",
                               timeout=60_000)
        with page.expect_download() as download:
            page.click("#export")
        exported = tmp_path / "studio.toml"
        download.value.save_as(exported)
        page.select_option("#c-layer", "blocks.4")  # the layer picker: a new objective, its weight a number
        page.fill("#c-layer-weight", "1e-7")
        page.click("#c-layer-use")
        until(page, """status.params.dream.objective === 'layers({"blocks.4": 1e-07})'""")
        token_used_once(page, seen, studio.url)
        page.close()
    assert not [s for s in seen if s.startswith("failed") or s[:1].isdigit() and not s.startswith("422")], seen
    data = tomllib.loads(exported.read_text())
    assert "1.07" in str(data["motion"]["zoom"]) and ":(1e-07)" in data["dream"]["tracks"]["weight0"]
    assert cli.main(["render", str(exported), "-o", str(tmp_path / "out.gif"), "--frames", "3", "--quiet"]) == 0
    assert (tmp_path / "out.gif").stat().st_size > 0


def test_the_page_on_a_clip_without_sound_shows_no_broken_image_and_takes_a_video_weight_live(chromium, tmp_path,
                                                                                              one_thread):
    """As a new user opens it: no curves asked for (no music), every image drawn. Paused through
    the API, the page says so; a weight changed there applies from the paused frame on (no
    restart), and the export keeps it as a schedule from that frame."""
    clip = clips.write_mp4(tmp_path / "pan.mp4", clips.CLIPS["pan"](40, 64, 48), fps=12)
    assert not media.has_audio(clip)
    with background(tiny("video", source={"input": str(clip), "size": 64})) as studio:
        wait_frames(studio.url, 0)
        assert call(studio.url, "/api/pause", {"paused": True}) == (200, {"paused": True})
        at = call(studio.url, "/api/status")[1]["frames"]
        page = chromium.new_page()
        seen = watch(page)
        page.goto(studio.url, wait_until="domcontentloaded")
        page.wait_for_function("() => document.getElementById('live').naturalWidth > 0", timeout=60_000)
        page.wait_for_function("() => document.getElementById('pause').textContent === 'resume'", timeout=60_000)
        assert page.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        assert page.evaluate("() => document.getElementById('curves') === null")
        assert "weights live" in page.text_content("label[for='c-dream.objective']")
        assert "restarts" in page.text_content("label[for='c-video.blend']")
        page.fill("#w-0", "0.25")
        page.dispatch_event("#w-0", "change")
        until(page, f"status.weights[0].value === 0.25 && status.frames === {at} && status.paused")
        page.click("#pause")  # reads "resume": the page took the state from the server
        until(page, f"status.frames > {at + 1} && !status.paused")
        with page.expect_download() as download:
            page.click("#export")
        exported = tmp_path / "video.toml"
        download.value.save_as(exported)
        token_used_once(page, seen, studio.url)
        page.close()
    assert not decoders()  # the session stopped with the server, its decoder with it
    assert not [s for s in seen if "curves" in s or s[:1].isdigit() or s.startswith("failed")], seen
    dream = tomllib.loads(exported.read_text())["dream"]
    assert "weight0" in dream["objective"] and dream["tracks"]["weight0"] == f"0:(0.5), {at - 1}:(0.5), {at}:(0.25)"


@pytest.mark.parametrize("change", [{"mask": {"mask": "/etc/passwd"}}, {"mask": {"invert": True}},
                                    {"regions": [{"mask": "/etc/passwd", "objective": 'layer("blocks.3")'}]}])
def test_masks_come_from_the_command_line_and_the_page_cannot_name_one(change):
    with pytest.raises(ValidationError, match="not one of the page's controls"):
        Change.model_validate(change)
