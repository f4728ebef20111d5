"""Audio-reactive schedules: a generated 120 bpm click track drives a real (tiny) zoom."""

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from typer.testing import CliRunner

from benchmarks import clips
from cli import app
from pipeline import audio, config, objectives, resume
from pipeline.renderer import render as run_render
from pipeline.errors import DreamreelError
from pipeline.schedule import Schedule
from pipeline.media import probe
from tests.conftest import read_rgb

FPS = 25
runner = CliRunner()


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("audio")
    clips.beat_track(folder / "click.wav", 4.0, bpm=120)
    clips.beat_track(folder / "slow.wav", 2.0, bpm=100)
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "anullsrc=r=22050:cl=mono", "-t", "2",
                    str(folder / "silent.wav")], check=True)
    subprocess.run([ffmpeg, "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=s=64x48:d=1", str(folder / "mute.mp4")],
                   check=True)
    return folder


@pytest.fixture(scope="module")
def click(media) -> audio.Signals:
    return audio.read(media / "click.wav", FPS)


def peaks(curve: np.ndarray) -> np.ndarray:
    return np.flatnonzero(curve >= 0.999)


def test_beat_peaks_every_half_second_within_a_frame(click):
    assert click.frames == 4 * FPS and abs(click.scalars["bpm"] - 120) < 2
    beat_frames = peaks(click.curves["beat"])
    assert len(beat_frames) >= 6
    expected = np.round(beat_frames / (0.5 * FPS)) * 0.5 * FPS  # the nearest multiple of 0.5 s, in frames
    assert np.all(np.abs(beat_frames - expected) <= 1.0)
    assert np.all(np.abs(np.diff(beat_frames) - 0.5 * FPS) <= 1.0)
    assert click.curves["beat"][beat_frames[0] + 1] < 1.0  # falls off after the beat (release)


def test_curves_lie_in_unit_range_and_repeat_exactly(click, media):
    again = audio.read(media / "click.wav", FPS)
    for name in audio.CURVES:
        values = click.curves[name]
        assert values.dtype == np.float32 and len(values) == click.frames
        assert values.min() == 0.0 and values.max() == pytest.approx(1.0)
        assert np.array_equal(values, again.curves[name])


def test_release_holds_a_curve_up_longer(media):
    short, long = (audio.read(media / "click.wav", FPS, release=r) for r in (0.05, 0.4))
    assert long.curves["beat"].mean() > 2 * short.curves["beat"].mean()


def test_silent_audio_gives_zeros_not_nan(media):
    quiet = audio.read(media / "silent.wav", FPS)
    assert quiet.frames == 2 * FPS and quiet.scalars["bpm"] == 0.0 and quiet.beats == ()
    for values in quiet.curves.values():
        assert not np.isnan(values).any() and not values.any()


def test_stems_add_prefixed_names(media):
    signals = audio.read(media / "click.wav", FPS, stems={"drums": media / "slow.wav"})
    assert {"drums_onset", "drums_beat", "drums_low"} <= set(signals.curves)
    assert len(signals.curves["drums_rms"]) == signals.frames  # the stem is padded to the track's length
    assert signals.curves["drums_rms"][-FPS:].max() < 0.01  # past the stem's 2 s: silence (after the release)
    assert abs(signals.scalars["drums_bpm"] - 100) < 3
    sched = Schedule.parse("1 + drums_onset", signals=audio.Signals.sample(["drums"])).bind(signals)
    assert sched(10) == pytest.approx(1 + float(signals.curves["drums_onset"][10]))


def test_schedules_and_objectives_read_the_frame_values(click):
    sched = Schedule.parse("1 + 0.05*beat").bind(click)
    i = int(peaks(click.curves["beat"])[0])
    assert sched(i) == pytest.approx(1.05) and sched(i + 3) == pytest.approx(1 + 0.05 * float(click.curves["beat"][i + 3]))
    assert Schedule.parse("0:(s), 50:(bpm)").bind(click)(0) == 0.0
    assert Schedule.parse("0:(s), 50:(bpm)").bind(click)(60) == pytest.approx(click.scalars["bpm"])
    text = 'layers({"blocks.5": 1 - low, "blocks.12": low}) + sched("0:(0), 90:(1)") * high * layer("blocks.3")'
    for t in (i, i + 5):
        names = objectives.time_names(t, signals=click)
        assert names["low"] == pytest.approx(float(click.curves["low"][t])) and names["s"] == t / FPS
        assert objectives.parse(text, t=t, signals=click).layers == {"blocks.3", "blocks.5", "blocks.12"}


@pytest.mark.parametrize("where, value", [("motion", {"zoom": "1 + 0.05*beet"}),
                                          ("dream", {"objective": 'kick * layer("blocks.5")'}),
                                          ("motion", {"steps": "2 + 6*drums_onset"})])
def test_an_unknown_variable_is_named_with_the_known_ones(where, value):
    with pytest.raises(DreamreelError) as e:
        config.from_mapping({where: value})
    message = str(e.value)
    assert "\n" not in message and "not allowed" in message
    assert "known names:" in message and "beat" in message and "onset" in message


def test_stem_names_are_known_once_declared():
    drums = {"audio": {"stems": {"drums": "d.wav"}}}
    with pytest.raises(DreamreelError, match="drums_onset"):
        config.from_mapping({"motion": {"steps": "2 + 6*drums_onset"}})
    config.from_mapping({"motion": {"steps": "2 + 6*drums_onset"}, **drums})  # declared: known
    with pytest.raises(DreamreelError, match="bass_onset"):
        config.from_mapping({"motion": {"steps": "2 + 6*bass_onset"}, **drums})  # only the declared stems


def zoom_cfg(tmp_path: Path, track: Path, outputs: list[str], **over) -> config.RenderConfig:
    data = {"kind": "zoom", "seed": 1, "threads": 1, "source": {"size": 48},
            "dream": {"octaves": 1, "steps": 1, "jitter": 4}, "motion": {"zoom": "1 + 0.05*beat"},
            "audio": {"file": str(track)}, "output": {"paths": outputs, "fps": FPS}}
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value}
    return config.from_mapping(data)


def frame_changes(folder: Path) -> np.ndarray:
    frames = [read_rgb(p).astype(np.float32) for p in sorted(folder.glob("*.png"))]
    return np.array([np.abs(b - a).mean() for a, b in zip(frames, frames[1:])])


def test_a_beat_zoom_pulses_at_2_hz_lasts_as_long_as_the_track_and_carries_it(tmp_path, media):
    mp4, folder = tmp_path / "z.mp4", tmp_path / "frames"
    run_render(zoom_cfg(tmp_path, media / "click.wav", [str(mp4), f"{folder}/"]), quiet=True)
    change = frame_changes(folder)
    assert len(change) == 4 * FPS - 1
    spectrum = np.abs(np.fft.rfft(change - change.mean()))
    freqs = np.fft.rfftfreq(len(change), 1 / FPS)
    assert abs(freqs[1:][np.argmax(spectrum[1:])] - 2.0) <= freqs[1]  # the strongest rhythm is the beat's, 2 Hz
    info = probe(mp4)
    assert info.has_audio and info.frames == 4 * FPS
    assert abs(info.seconds - 4.0) <= 1 / FPS


def test_the_zoom_command_takes_the_track_length_unless_frames_is_given(tmp_path, media):
    fast = ["--audio", str(media / "slow.wav"), "--fps", "10", "--size", "48", "--octaves", "1", "--steps", "1",
            "--threads", "1", "--quiet"]
    result = runner.invoke(app, ["zoom", "-o", f"{tmp_path / 'all'}/", *fast])  # the zoom preset says 120 frames
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "all").glob("*.png"))) == 20  # 2 s at 10 fps
    result = runner.invoke(app, ["zoom", "-o", f"{tmp_path / 'some'}/", "--frames", "3", *fast])
    assert result.exit_code == 0 and len(list((tmp_path / "some").glob("*.png"))) == 3


def test_signals_pickle_for_ray_workers(click):
    import pickle

    again = pickle.loads(pickle.dumps(click))
    assert again.at(30) == click.at(30)


def test_reading_music_without_audio_is_a_one_line_error(tmp_path):
    cfg = zoom_cfg(tmp_path, Path("unused"), [str(tmp_path / "z.mp4")], audio={"file": None})
    with pytest.raises(DreamreelError, match="motion.zoom reads 'beat' but no audio is given"):
        run_render(cfg, quiet=True)


@pytest.mark.parametrize("name, problem", [("missing.wav", "not found"), ("mute.mp4", "no audio stream")])
def test_bad_audio_is_one_line_exit_2_and_writes_nothing(tmp_path, media, name, problem):
    out = tmp_path / "z.mp4"
    result = runner.invoke(app, ["zoom", "-o", str(out), "--audio", str(media / name), "--size", "48", "--octaves", "1",
                                 "--steps", "1", "--threads", "1", "--quiet"])
    assert result.exit_code == 2 and problem in result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output
    assert not list(tmp_path.iterdir())


def test_a_track_longer_than_the_limit_is_refused_in_one_line_having_decoded_no_more(media, monkeypatch):
    """The limit is lowered to 3 s here (30 minutes in use): the 4 s click track is refused, a 2 s
    one read, and ffmpeg is asked for no more than the limit and a second."""
    monkeypatch.setattr(audio, "MAX_SECONDS", 3)
    asked = []
    monkeypatch.setattr(audio, "run", lambda args, *a, **k: asked.append(args) or resume_run(args, *a, **k))
    with pytest.raises(DreamreelError, match="plays longer than 0.05 minutes") as err:
        audio.decode(media / "click.wav")
    assert "\n" not in str(err.value) and asked[-1][asked[-1].index("-t") + 1] == "4"
    assert len(audio.decode(media / "slow.wav")) == 2 * audio.RATE


resume_run = audio.run


def test_resume_with_audio_is_bit_exact_and_refuses_another_track(tmp_path, media, monkeypatch):
    track = tmp_path / "track.wav"
    track.write_bytes((media / "slow.wav").read_bytes())
    over = {"output": {"fps": 10}}
    run_render(zoom_cfg(tmp_path, track, [f"{tmp_path / 'ref'}/"], **over), quiet=True)
    cfg = zoom_cfg(tmp_path, track, [f"{tmp_path / 'run'}/"], **over)
    save = resume.Parts.save

    def save_then_stop(self, frame, carry):  # an interrupted render: stopped after 7 finished frames
        save(self, frame, carry)
        if frame.index == 6:
            raise KeyboardInterrupt

    monkeypatch.setattr(resume.Parts, "save", save_then_stop)
    with pytest.raises(KeyboardInterrupt):
        run_render(cfg, quiet=True)
    monkeypatch.undo()
    track.write_bytes((media / "click.wav").read_bytes())  # another track under the same name
    with pytest.raises(DreamreelError, match="audio"):
        run_render(cfg, quiet=True, resume=True)
    track.write_bytes((media / "slow.wav").read_bytes())
    run_render(cfg, quiet=True, resume=True)
    ref, run = (sorted((tmp_path / name).glob("*.png")) for name in ("ref", "run"))
    assert len(ref) == len(run) == 20
    assert all(np.array_equal(read_rgb(a), read_rgb(b)) for a, b in zip(ref, run))


def test_audio_command_prints_bpm_and_draws_the_curves(tmp_path, media):
    png, csv = tmp_path / "c.png", tmp_path / "c.csv"
    result = runner.invoke(app, ["audio", str(media / "click.wav"), "--fps", "25", "-o", str(png), "--csv", str(csv)])
    assert result.exit_code == 0, result.output
    assert "120" in result.stdout and "beats" in result.stdout
    image = read_rgb(png)
    assert image.shape[1] == 960 and image.shape[0] > 6 * 40 and image.std() > 10
    rows = csv.read_text().splitlines()
    assert rows[0] == "frame,s,onset,beat,rms,low,mid,high" and len(rows) == 4 * FPS + 1


def test_a_video_dreams_to_its_own_soundtrack_or_the_given_track(tmp_path, media):
    """The objective's weights follow the music: the clip's own track and the same track given with
    --audio dream alike, silence dreams otherwise."""
    pan = clips.CLIPS["pan"](8, 64, 48)
    mute = clips.write_mp4(tmp_path / "mute.mp4", pan, fps=12)
    clicked = tmp_path / "clicked.mp4"  # the same picture with the click track as its own soundtrack, as long as it
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(mute), "-t", f"{8 / 12:.4f}", "-i", str(media / "click.wav"),
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", str(clicked)], check=True)
    fast = ["--objective", 'layers({"blocks.2": 1 - beat, "blocks.5": 0.5 + onset})', "--octaves", "1", "--steps", "1",
            "--steps-warm", "1", "--seed", "1", "--threads", "1", "--quiet"]
    runs = {"own": [str(clicked)], "given": [str(mute), "--audio", str(clicked)], "silence": [str(mute), "--audio", str(media / "silent.wav")]}
    for name, args in runs.items():
        result = runner.invoke(app, ["video", args[0], "-o", str(tmp_path / f"{name}.mp4"), "-o", f"{tmp_path / name}/", *args[1:], *fast])
        assert result.exit_code == 0, result.output
        info = probe(tmp_path / f"{name}.mp4")
        assert info.frames == 8 and info.has_audio
    own, given, silence = ([read_rgb(p) for p in sorted((tmp_path / name).glob("*.png"))] for name in runs)
    assert all(np.array_equal(a, b) for a, b in zip(own, given, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(own, silence, strict=True))  # the beat moved the weights
    none = runner.invoke(app, ["video", str(mute), "-o", str(tmp_path / "none.mp4"), *fast])
    assert none.exit_code == 2 and "reads 'beat' but no audio is given" in none.output and not (tmp_path / "none.mp4").exists()


def test_audio_command_bad_file_is_one_line_exit_2(tmp_path, media):
    for path, problem in ((tmp_path / "missing.wav", "not found"), (media / "mute.mp4", "no audio stream")):
        result = runner.invoke(app, ["audio", str(path), "-o", str(tmp_path / "c.png")])
        assert result.exit_code == 2 and problem in result.output and result.output.count("\n") == 1
        assert not (tmp_path / "c.png").exists()
