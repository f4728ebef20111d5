"""`dreamreel studio`: the recording replays bit for bit, the API's errors and token, the page in Chromium.

Every render here is tiny (48-64 px, 1 octave, 2 steps, one thread). The server binds
127.0.0.1 on a free port and stops when the test ends.
"""

from __future__ import annotations

import json
import os
import threading
import tomllib
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
import tomli_w
import torch

pytest.importorskip("starlette")

import cli
from benchmarks import clips
from pipeline import flow, media, presets
from pipeline.errors import DreamreelError
from pipeline.studio import background, browser
from pipeline.studio.app import MAX_BODY, token_for
from pipeline.studio.record import Recording, picked, splice, weight_slots, with_weight
from pipeline.studio import session as session_
from pipeline.studio.session import Session
from tests.conftest import read_rgb

TINY = {"threads": 1, "source": {"size": 48}, "dream": {"octaves": 1, "steps": 2, "jitter": 4}}


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
    assert weights.mapping()["dream"]["objective"] == 'layers({"blocks.4": sched("0:(1.0), 11:(1.0), 12:(0.25)"), "blocks.10": 1.0})'
    again, restart = weights.change({"dream": {"octaves": 2}}, at=14)
    assert restart and again.current()["motion"]["zoom"] == 1.05 and again.tracks == {}
    for bad in ({"source": {"input": "/etc/passwd"}}, {"dream": {"model": "/tmp/x.pt"}},
                {"dream": {"objective": 'layer("blocks.4@/etc/passwd")'}}, {"motion": {"zoom": "sin("}}):
        with pytest.raises(DreamreelError):
            rec.change(bad, at=3)
    video = Recording.start(tiny("video", source={"input": "clip.mp4"}))  # a video's weights are live, the rest restarts
    weights, restart = video.change({"dream": {"objective": 'layers({"blocks.6": 0.25, "blocks.9": 1.0})'}}, at=5)
    assert not restart and weights.mapping()["dream"]["objective"] == \
        'layers({"blocks.6": sched("0:(0.5), 4:(0.5), 5:(0.25)"), "blocks.9": 1.0})'
    for key in ({"video": {"blend": 0.9}}, {"dream": {"objective": 'layers({"blocks.6": 1.0})'}}):
        again, restart = weights.change(key, at=7)
        assert restart and again.tracks == {}


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
    assert data["source"]["frames"] == 10 and "sched(" in data["dream"]["objective"] and "output" not in data
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
    assert data["dream"]["objective"] == 'layers({"blocks.6": sched("0:(0.5), 1:(0.5), 2:(0.05)"), "blocks.9": 1.0})'
    tracked.clear()
    assert cli.main(["render", str(preset), "-o", str(tmp_path / "frames") + "/", "--quiet"]) == 0
    assert len(tracked) == studio_flow > 0  # flow once per frame: the chain's
    rendered = [read_rgb(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    assert len(rendered) == 4 and all(np.array_equal(a, b) for a, b in zip(shown, rendered))
    data["dream"]["objective"] = 'layers({"blocks.6": 0.5, "blocks.9": 1.0})'
    (tmp_path / "unchanged.toml").write_text(tomli_w.dumps(data))
    assert cli.main(["render", str(tmp_path / "unchanged.toml"), "-o", str(tmp_path / "plain") + "/", "--quiet"]) == 0
    plain = [read_rgb(p) for p in sorted((tmp_path / "plain").glob("*.png"))]
    assert np.array_equal(plain[1], shown[1]) and not np.array_equal(plain[3], shown[3])  # the new weight did change them


# --- the API -------------------------------------------------------------------------------------


def call(url: str, path: str, body: Any = None, token: str | None = None, raw: bytes | None = None,
         content_type: str = "application/json") -> tuple[int, Any]:
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.split("?")[0].rstrip("/") + path, data=data,
                                     headers={"Content-Type": content_type} if data is not None else {})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=120) as r:
            payload = r.read()
            return r.status, json.loads(payload) if r.headers.get_content_type() == "application/json" else payload
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def wait_frames(url: str, more_than: int, token: str | None = None) -> dict[str, Any]:
    while True:  # no timing assert: pytest's own timeout (or CI's) ends a hang
        status, body = call(url, "/api/status", token=token)
        assert status == 200
        if body["frames"] > more_than:
            return body


def test_bad_values_get_422_and_one_line_and_the_render_goes_on(one_thread):
    with background(tiny(source={"size": 48})) as studio:
        url = studio.url
        before = wait_frames(url, 0)
        for bad in ({"motion": {"zoom": "banana("}}, {"dream": {"step_size": 7}}, {"motion": {"zoom": 9.0}},
                    {"dream": {"objective": 'layer("blocks.99")'}}, {"source": {"input": "/etc/passwd"}}, ["not", "a", "map"]):
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


def test_a_token_is_asked_on_every_request_when_one_is_set(one_thread):
    assert token_for("127.0.0.1") is None and token_for("::1") is None and token_for("0.0.0.0")
    with background(tiny(), token="s3cret") as studio:
        assert studio.url.endswith("?token=s3cret")
        for path in ("/", "/api/status", "/api/frame.jpg", "/api/preset.toml", "/static/studio.js"):
            assert call(studio.url, path)[0] == 401, path
            assert call(studio.url, path, token="wrong")[0] == 401, path
        assert call(studio.url, "/api/params", {"motion": {"zoom": 1.05}})[0] == 401
        assert call(studio.url, "/api/status", token="s3cret")[0] == 200
        with urllib.request.urlopen(studio.url, timeout=60) as r:  # the page sets the token as a cookie for its files
            cookie = r.headers["Set-Cookie"].split(";")[0]
        assert "samesite=strict" in r.headers["Set-Cookie"].lower()
        request = urllib.request.Request(studio.url.split("?")[0] + "static/studio.css", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=60) as r:
            assert r.status == 200


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
    """Every request the page makes, and every answer it gets that is not 2xx (as "STATUS URL")."""
    seen: list[str] = []
    page.on("request", lambda r: seen.append(r.url))
    page.on("response", lambda r: r.ok or seen.append(f"{r.status} {r.url}"))
    page.on("requestfailed", lambda r: seen.append(f"failed {r.url}") if "stream.mjpg" not in r.url else None)
    return seen


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
        page.close()
    assert not [s for s in seen if s.startswith("failed") or s[:1].isdigit() and not s.startswith("422")], seen
    data = tomllib.loads(exported.read_text())
    assert "1.07" in str(data["motion"]["zoom"]) and ":(1e-07)" in data["dream"]["objective"]
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
        page.close()
    assert not decoders()  # the session stopped with the server, its decoder with it
    assert not [s for s in seen if "curves" in s or s[:1].isdigit() or s.startswith("failed")], seen
    objective = tomllib.loads(exported.read_text())["dream"]["objective"]
    assert f'sched("0:(0.5), {at - 1}:(0.5), {at}:(0.25)")' in objective
