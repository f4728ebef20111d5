"""`dreamreel studio`: the recording replays bit for bit, the API's errors and token, the page in Chromium.

Every render here is tiny (48-64 px, 1 octave, 2 steps, one thread). The server binds
127.0.0.1 on a free port and stops when the test ends.
"""

from __future__ import annotations

import json
import os
import tomllib
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
import torch

pytest.importorskip("starlette")

import cli
from benchmarks import clips
from pipeline import presets
from pipeline.errors import DreamreelError
from pipeline.studio import background, browser
from pipeline.studio.app import MAX_BODY, token_for
from pipeline.studio.record import Recording, splice, weight_slots
from pipeline.studio import session as session_
from pipeline.studio.session import Session
from tests.conftest import read_rgb

TINY = {"threads": 1, "source": {"size": 48}, "dream": {"octaves": 1, "steps": 2, "jitter": 4}}


def tiny(preset: str = "zoom", **over: Any) -> Any:
    return presets.load(preset, presets.merge(TINY, over))


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


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


def test_the_export_rendered_by_the_cli_reproduces_the_studio_frames_bit_for_bit(tmp_path, one_thread, monkeypatch):
    """Live changes of zoom, angle, steps and an objective weight; `dreamreel render` on the export.
    A 1-frame horizon makes the zoom rebuild its plan past it, mid-run, as a long session does."""
    monkeypatch.setattr(session_, "HORIZON", 1)
    shown: list[np.ndarray] = []
    session = Session(tiny(), tmp_path / "work", on_frame=lambda f: shown.append(f.image))
    for change in ({}, {"motion": {"zoom": 1.06, "angle": 3.0}}, {"motion": {"steps": 1}},
                   {"dream": {"objective": 'layers({"blocks.4": 0.3, "blocks.10": 1.0})'}}, {"motion": {"zoom": 0.97}}):
        session.apply(change)
        for _ in range(2):
            session.render_one()
    assert session.index == len(shown) == 10 and not session.done
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


def test_a_still_restarts_on_any_change(tmp_path, one_thread):
    session = Session(tiny("default"), tmp_path)
    first = session.render_one()
    assert session.done and session.render_one() is None
    session.apply({"dream": {"step_size": 0.05}})
    assert not session.done and session.index == 0
    second = session.render_one()
    assert not np.array_equal(first.image, second.image)


def test_a_video_session_plots_warping_error_restarts_on_a_change_and_replays_bit_for_bit(tmp_path, one_thread):
    clip = clips.write_mp4(tmp_path / "pan.mp4", clips.CLIPS["pan"](5, 64, 48), fps=12)
    shown: list[np.ndarray] = []
    session = Session(tiny("video", source={"input": str(clip), "size": 64}), tmp_path / "work",
                      on_frame=lambda f: shown.append(f.image))
    session.render_one()
    session.apply({"video": {"steps_warm": 1}})
    assert session.index == 0 and session.carry is None  # video keys restart
    shown.clear()
    for _ in range(3):
        session.render_one()
    points = list(session.points)[-3:]
    assert points[0].warp_error is None and all(p.warp_error is not None and p.warp_error >= 0 for p in points[1:])
    preset = tmp_path / "video.toml"
    preset.write_text(session.preset())
    assert cli.main(["render", str(preset), "-o", str(tmp_path / "frames") + "/", "--quiet"]) == 0
    rendered = [read_rgb(p) for p in sorted((tmp_path / "frames").glob("*.png"))]
    assert len(rendered) == 3 and all(np.array_equal(a, b) for a, b in zip(shown, rendered))


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
        after = wait_frames(url, before["frames"] + 1)
        assert after["params"]["motion"]["zoom"] == before["params"]["motion"]["zoom"] and not after["error"]
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


def test_a_zoom_to_music_shows_the_curves_under_the_frame_with_the_frame_marked(tmp_path, one_thread):
    import cv2

    track = clips.beat_track(tmp_path / "beat.wav", 2.0)
    session = Session(tiny("zoom-beat", audio={"file": str(track)}), tmp_path / "s")
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


def test_the_page_shows_frames_takes_a_change_and_exports_a_preset_that_renders(chromium, tmp_path, one_thread):
    with background(tiny(source={"size": 64})) as studio:
        page = chromium.new_page()
        page.goto(studio.url, wait_until="domcontentloaded")
        page.wait_for_function("() => Number(document.getElementById('frames')?.textContent) >= 2", timeout=120_000)
        page.wait_for_function("() => document.getElementById('live').naturalWidth > 0", timeout=60_000)
        page.fill("[data-key='motion.zoom']", "1.07")
        page.dispatch_event("[data-key='motion.zoom']", "change")
        page.wait_for_function("() => fetch('/api/status').then(r => r.json()).then(s => s.params.motion.zoom === 1.07)",
                               timeout=60_000)
        page.fill("#w-0", "0.5")  # the first weight of the objective, live
        page.dispatch_event("#w-0", "change")
        page.wait_for_function("() => fetch('/api/status').then(r => r.json()).then(s => s.weights[0].value === 0.5)",
                               timeout=60_000)
        page.fill("[data-key='dream.step_size']", "9")
        page.dispatch_event("[data-key='dream.step_size']", "change")
        page.wait_for_function("() => document.getElementById('e-dream.step_size').textContent.includes('step_size')",
                               timeout=60_000)
        with page.expect_download() as download:
            page.click("#export")
        exported = tmp_path / "studio.toml"
        download.value.save_as(exported)
        page.close()
    data = tomllib.loads(exported.read_text())
    assert "1.07" in str(data["motion"]["zoom"]) and "0.5)" in data["dream"]["objective"]
    assert cli.main(["render", str(exported), "-o", str(tmp_path / "out.gif"), "--frames", "3", "--quiet"]) == 0
    assert (tmp_path / "out.gif").stat().st_size > 0
