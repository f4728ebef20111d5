"""Scale-out on a local Ray instance: the generated 3-shot clip (90 frames, 64x48, audio) in 6 chunks.

One session-scoped `ray.init(num_cpus=2)`; renders are tiny (1 octave, 1 step) and shared by
the tests of this module. Skipped when Ray is not installed (`pip install -e '.[ray]'`).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from pipeline import load_preset, metrics
from pipeline.renderer import render
from pipeline.scaleout import job as job_
from pipeline.scaleout.seams import seam_report
from pipeline.scaleout.segments import SegmentWriter
from tests.conftest import read_rgb
from tests.scaleout_clip import FPS, make_clip

ray = pytest.importorskip("ray")
LAYOUT = {"chunk_seconds": 1.5, "warmup_frames": 8, "fade_frames": 8}  # 6 chunks, 3 seams inside shots


@pytest.fixture(scope="session")
def ray_local():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clip"))


def config(clip: Path, *out: Path, **scaleout):
    return load_preset("video", {"threads": 1, "seed": 1, "device": "cpu", "source": {"input": str(clip)},
                                 "output": {"paths": [str(p) for p in out]}, "dream": {"octaves": 1, "steps": 1},
                                 "video": {"steps_warm": 1},
                                   "scaleout": {**LAYOUT, **scaleout}})


def frames(path: Path) -> list[np.ndarray]:
    gen = imageio_ffmpeg.read_frames(str(path))
    w, h = next(gen)["size"]
    return [np.frombuffer(raw, np.uint8).reshape(h, w, 3) for raw in gen]


def audio_seconds(path: Path) -> float:
    """Length of the first audio stream, decoded (16 kHz mono s16)."""
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0", "-f", "s16le", "-ac", "1",
           "-ar", "16000", "-"]
    return len(subprocess.run(cmd, capture_output=True, check=True).stdout) / 2 / 16000


@pytest.fixture(scope="module")
def renders(ray_local, clip, tmp_path_factory):
    """The clip on Ray (parts kept), in one process with the same layout, in one chunk per shot, and by
    `render()` itself (the one-process reference every engine is compared with, PNG frames)."""
    root = tmp_path_factory.mktemp("renders")
    out = {name: root / name / "out.mp4" for name in ("ray", "local", "shots")}
    job_.render(config(clip, out["ray"], root / "ray" / "out.mkv"), "ray", workers=2, quiet=True, keep_parts=True)
    job_.render(config(clip, out["local"].with_suffix(".mkv")), "serial", quiet=True)
    job_.render(config(clip, out["shots"].with_suffix(".mkv"), chunk_seconds=100), "serial", quiet=True)
    render(config(clip, f"{root / 'render'}/"), quiet=True)
    made = {name: (path, path.with_suffix(".mkv")) for name, path in out.items()}  # (H.264, lossless)
    return {**made, "render": sorted((root / "render").glob("*.png"))}


def test_one_chunk_per_shot_equals_the_one_process_render(renders):
    """A chunk that starts a shot starts cold like `render()` does at a cut: the same chain, the same frames."""
    reference = [read_rgb(p) for p in renders["render"]]
    assert len(reference) == 90
    assert all(np.array_equal(a, b) for a, b in zip(frames(renders["shots"][1]), reference, strict=True))


@pytest.mark.parametrize("which", [0, 1], ids=["mp4", "mkv"])
def test_ray_render_has_the_sources_frame_count_fps_and_audio(renders, clip, which):
    path = renders["ray"][which]
    got = imageio_ffmpeg.read_frames(str(path))
    meta = next(got)
    got.close()
    assert imageio_ffmpeg.count_frames_and_secs(str(path))[0] == 90
    assert meta["fps"] == FPS and meta["codec"].startswith(("h264", "ffv1")[which]) and meta["audio_codec"] == "aac"
    assert abs(audio_seconds(path) - audio_seconds(clip)) < 0.05
    assert not list(path.parent.glob(".*partial*"))


@pytest.mark.parametrize("engine", ["ray", "local"], ids=["ray", "serial"])
def test_each_engine_matches_render_from_a_cut_and_dreams_as_strong_and_steady_after_warm_up(renders, clip, engine):
    """Each engine against `render()`: a chunk that starts a shot takes the shot's key, dreamed cold as
    `render()` dreams the cut, so its frames are `render()`'s until the next chunk's fade; a chunk that
    starts mid-shot starts from the key carried to it (where it holds) and warms up on frames before it,
    and what moves is dreamed anew (chaos), so there it is compared by what a dream is judged by: its
    strength and its flicker (measured within 9 % and 1.25x of `render()`'s on this panning clip)."""
    chunks = job_.prepare(config(clip, renders["ray"][0])).chunks
    assert len(chunks) == 6 and sum(c.warmup > 0 for c in chunks) == 3
    got, sources = frames(renders[engine][1]), frames(clip)
    reference = [read_rgb(p) for p in renders["render"]]
    assert len(got) == len(reference) == 90
    for c in chunks:
        if not c.warmup:
            assert all(np.array_equal(got[i], reference[i]) for i in range(c.start, c.end - c.fade_out)), c.name
            continue
        span = range(c.start, c.end)
        ours, theirs = (metrics.quality(zip([sources[i] for i in span], [x[i] for i in span])) for x in (got, reference))
        assert abs(ours.strength - theirs.strength) < 0.1 * theirs.strength, (c.name, ours, theirs)
        assert ours.e_out - ours.e_in < 1.6 * (theirs.e_out - theirs.e_in), (c.name, ours, theirs)


def test_where_a_chunk_ran_does_not_change_it(renders):
    """Ray's pieces are the serial engine's bit for bit (both are checked against `render()` above)."""
    assert all(np.array_equal(a, b) for a, b in zip(frames(renders["ray"][1]), frames(renders["local"][1]), strict=True))


def test_seams_inside_a_shot_do_not_show(renders, clip):
    """On the lossless output: what the chunking does (H.264 key frames at segment starts add their own)."""
    chunks = job_.prepare(config(clip, renders["ray"][0])).chunks
    report = seam_report(frames(clip), frames(renders["ray"][1]), chunks)
    print(report.line())
    assert len(report.seams) == 3
    assert all(r <= 1.5 for r in report.ratios.values()), report.line()


def test_rerun_renders_only_the_missing_chunks(renders, clip):
    cfg = config(clip, *renders["ray"])
    work = job_.prepare(cfg)
    assert work.todo == []  # the first run's pieces are all there (kept)
    assert all(work.parts.key_path(c.key).is_file() for c in work.chunks)  # and the shots' keys
    lost = [work.chunks[1], work.chunks[4]]
    for c in lost:
        work.parts.paths(c, work.job.kinds)[0].unlink()
    kept = {p: p.stat() for c in work.chunks if c not in lost for p in work.parts.paths(c, work.job.kinds)}
    assert job_.prepare(cfg).todo == lost
    before = frames(renders["ray"][1])
    job_.render(cfg, "ray", workers=2, quiet=True, keep_parts=True)
    assert all((p.stat().st_ino, p.stat().st_mtime_ns) == (s.st_ino, s.st_mtime_ns) for p, s in kept.items())
    assert job_.prepare(cfg).todo == []  # the lost chunks are back
    assert all(np.array_equal(a, b) for a, b in zip(frames(renders["ray"][1]), before))
    job_.render(cfg, "ray", workers=2, quiet=True)  # everything finished: joins again, renders nothing
    assert not work.parts.root.exists()  # removed once joined


class Flaky:
    """A stand-in renderer (no model): raises on a chunk's first try, or kills its worker process; its keys
    (the shots' first frames, asked for before the chunks) are grey frames."""

    def __init__(self, job):
        self.job = job

    def key(self, index):
        from pipeline.scaleout.segments import Key

        grey = np.full((48, 64, 3), index, np.uint8)
        return Key(index, grey, grey)

    def __call__(self, chunk, paths, on_frame=None, key=None):
        assert (key is None) == (chunk.key is None) and (key is None or key.index == chunk.key)
        marker = Path(self.job.cfg.output.paths[0]).parent / chunk.name  # tries are counted beside the output
        tries = marker.with_suffix(".tries")
        tries.write_text(str(int(tries.read_text() if tries.exists() else 0) + 1))
        if not marker.exists():
            marker.touch()
            if chunk.index == 1:
                raise RuntimeError("chunk 1 fails once")
            if chunk.index == 2:
                os._exit(1)  # a lost worker
        for (role, kind), path in paths.items():
            with SegmentWriter(path, kind, self.job.fps) as out:
                for i in range(chunk.first, chunk.end):
                    if chunk.role(i) == role:
                        out.write(np.full((48, 64, 3), i, np.uint8))


def test_a_failed_or_lost_chunk_is_retried(ray_local, clip, tmp_path):
    from pipeline.scaleout import ray_engine

    work = job_.prepare(config(clip, tmp_path / "flaky.mp4"))
    progress = job_.ChunkProgress(work.todo, len(work.chunks), quiet=True)
    errors = ray_engine.run(work, work.todo, progress, workers=2, make=Flaky)
    assert errors == [] and work.todo == []
    tries = {p.stem: int(p.read_text()) for p in tmp_path.glob("*.tries")}
    assert tries[work.chunks[1].name] == 2 and tries[work.chunks[2].name] == 2 and tries[work.chunks[0].name] == 1
    assert progress.done == len(work.chunks)


def test_cli_ray_errors_are_one_line(ray_local, clip, tmp_path):
    runner = CliRunner()
    for args in (["-o", str(tmp_path / "o.png"), "--engine", "ray"], ["-o", str(tmp_path / "o.mp4"), "--engine", "spark"],
                 ["-o", str(tmp_path / "o.mp4"), "--engine", "ray", "--workers", "9", "--threads", "1"]):
        result = runner.invoke(app, ["video", str(clip), *args, "--quiet"])
        assert result.exit_code == 2, result.output
        assert result.stderr.count("\n") == 1 and result.stderr.startswith("dreamreel: error:"), result.stderr
    assert not [p for p in tmp_path.iterdir()]


def test_nothing_imports_ray_unless_the_engine_is_ray(tmp_path):
    clip = make_clip(tmp_path, shots=1)
    out = tmp_path / "o.mp4"
    code = ("import sys; from typer.testing import CliRunner; from cli import app; "
            f"r = CliRunner().invoke(app, ['video', {str(clip)!r}, '-o', {str(out)!r}, '--octaves', '1', '--steps', '1', "
            "'--steps-warm', '1', '--max-frames', '6', '--quiet']); assert r.exit_code == 0, r.output; print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert done.stdout.strip() == "False", done.stderr
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 6


def test_killed_render_resumes_with_only_the_missing_chunks(renders, clip, tmp_path):
    """SIGKILL the CLI once two chunks are committed; the rerun keeps them and renders the rest."""
    out = tmp_path / "out.mkv"
    args = ["video", str(clip), "-o", str(out), "--engine", "ray", "--workers", "2", "--threads", "1", "--seed", "1",
            "--device", "cpu", "--octaves", "1", "--steps", "1", "--steps-warm", "1", "--chunk-seconds", "1.5",
            "--warmup-frames", "8", "--fade-frames", "8", "--quiet"]
    code = f"import sys; from cli import app; sys.argv = ['dreamreel', *{args!r}]; app()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, stderr=subprocess.DEVNULL)
    segments = tmp_path / "out.mkv.parts" / "segments"
    committed = lambda: sorted(p for p in segments.glob("c*.main.*")) if segments.is_dir() else []  # noqa: E731
    deadline = time.monotonic() + 90
    while len(committed()) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    done = {p: p.stat() for p in segments.iterdir() if p.is_file() and not p.name.startswith(".")}
    work = job_.prepare(config(clip, out))
    assert 2 <= len(work.chunks) - len(work.todo) < len(work.chunks), "the kill came too late to test anything"
    job_.render(config(clip, out), "ray", workers=2, quiet=True, keep_parts=True)
    assert all((p.stat().st_ino, p.stat().st_mtime_ns) == (s.st_ino, s.st_mtime_ns) for p, s in done.items())
    assert all(np.array_equal(a, b) for a, b in zip(frames(out), frames(renders["ray"][1]), strict=True))


@pytest.mark.parametrize("flag", ["--quiet", "--verbose"])
def test_ray_logs_only_when_verbose(clip, tmp_path, flag):
    """A whole CLI render in its own process (its own Ray instance): --quiet leaves stderr empty
    (no "Token authentication is enabled" warning, no worker lines); --verbose shows Ray's log."""
    out = tmp_path / "out.mp4"
    args = ["video", str(clip), "-o", str(out), "--engine", "ray", "--workers", "1", "--threads", "1", "--octaves", "1",
            "--steps", "1", "--steps-warm", "1", "--max-frames", "4", "--size", "32", flag]
    code = f"import sys; from cli import app; sys.argv = ['dreamreel', *{args!r}]; app()"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent,
                          env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert imageio_ffmpeg.count_frames_and_secs(str(out))[0] == 4
    if flag == "--quiet":
        assert done.stderr == ""
    else:
        assert re.search(r"\bINFO \w+\.py:\d+ -- ", done.stderr), done.stderr  # Ray's own log format


def test_short_h264_segments_join_frame_exact(clip, tmp_path, monkeypatch):
    """Fades as long as the chunks leave 1-frame main pieces: the concat join (no re-encode) must still
    give every frame once, in place (B-frames in the segments once repeated one and shifted the rest).
    Each seam's fade is decoded and blended once for both outputs; only the MP4 file gets +faststart."""
    from pipeline.scaleout import segments

    blends = []
    monkeypatch.setattr(segments, "cross_fade", lambda *a, f=segments.cross_fade: blends.append(1) or f(*a))
    out = tmp_path / "short.mkv"
    cfg = config(clip, out, out.with_suffix(".mp4"), warmup_frames=16, fade_frames=16)
    chunks = job_.prepare(cfg).chunks
    assert min(c.kept - c.fade_out for c in chunks) == 1
    job_.render(cfg, "serial", quiet=True)
    lossless, h264 = frames(out), frames(out.with_suffix(".mp4"))
    assert len(lossless) == len(h264) == 90
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(lossless, h264)) < 8  # codec loss only
    assert len(blends) == sum(1 for c in chunks if c.fade_in) > 0
    data = out.with_suffix(".mp4").read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")


def test_a_lossless_master_takes_a_given_audio_track(clip, tmp_path):
    """`--audio FILE` into an MKV: the container takes any audio as it is (an unknown codec was once
    handed to ffmpeg as the encoder "None")."""
    from pipeline import media
    from tests.scaleout_clip import tone

    out = tmp_path / "music.mkv"
    cfg = config(clip, out).model_copy(update={"audio": config(clip, out).audio.model_copy(
        update={"file": str(tone(tmp_path / "t.wav", 12.0))})})
    job_.render(cfg, "serial", quiet=True)
    info = media.probe(out)
    assert (info.codec, info.has_audio, info.frames) == ("ffv1", True, 90)


def test_a_loop_renders_as_render_does_on_each_engine(ray_local, tmp_path):
    """--loop on a chunked render: one chunk, led in by the clip's end run round, as `render()` runs it."""
    from benchmarks import clips

    clip = clips.write_mp4(tmp_path / "circle.mp4", clips.circle(12, 64, 48), fps=12)

    def looped(out: str):
        return load_preset("video", {"loop": True, "threads": 1, "seed": 1, "device": "cpu", "source": {"input": str(clip)},
                                     "output": {"paths": [out]}, "dream": {"octaves": 1, "steps": 1}, "video": {"steps_warm": 1}})

    render(looped(f"{tmp_path / 'render'}/"), quiet=True)
    reference = [read_rgb(p) for p in sorted((tmp_path / "render").glob("*.png"))]
    assert len(reference) == 12
    for engine in ("serial", "ray"):
        job_.render(looped(str(tmp_path / f"{engine}.mkv")), engine, quiet=True)
        got = frames(tmp_path / f"{engine}.mkv")
        assert all(np.array_equal(a, b) for a, b in zip(got, reference, strict=True)), engine
