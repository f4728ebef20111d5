"""dreamreel's command line: thin Typer commands; all work happens in `pipeline`."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from pipeline import guard, models, objectives, presets
from pipeline.errors import DreamreelError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Render DeepDream images and animations.")
F = TypeVar("F", bound=Callable[..., Any])


def friendly(fn: F) -> F:
    """Our errors end as one line on stderr and exit status 2; Ctrl-C as exit 130."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DreamreelError as e:
            typer.echo(f"dreamreel: error: {e}", err=True)
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            typer.echo("dreamreel: interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


# Options shared by the rendering commands; each maps to a key of the preset (see `overrides`).
Output = Annotated[list[str], typer.Option("-o", "--output", help="Output: .png .jpg .mp4 .webm .gif, or frames/ (PNG folder); repeatable.")]
Preset = Annotated[str, typer.Option("--preset", "-p", help="Preset name or .toml path; flags override it.")]
Model = Annotated[Optional[str], typer.Option(help="Model name (`dreamreel layers --help`).")]
Weights = Annotated[Optional[Path], typer.Option(help="Local weights file for the model.")]
Objective = Annotated[Optional[str], typer.Option(help='Objective, e.g. \'layer("blocks.9") + 0.5*channel("blocks.5", 12)\'.')]
Layers = Annotated[Optional[str], typer.Option(help="Shorthand objective: blocks.9=1.0,blocks.5=0.5")]
Octaves = Annotated[Optional[int], typer.Option(help="Octave levels in all, full size included.")]
OctaveScale = Annotated[Optional[float], typer.Option(help="Size ratio between octaves (1.4).")]
Steps = Annotated[Optional[int], typer.Option(help="Ascent steps per octave.")]
StepSize = Annotated[Optional[float], typer.Option(help="Step size in [0, 1] pixel units.")]
Jitter = Annotated[Optional[int], typer.Option(help="Max random roll in pixels.")]
Size = Annotated[Optional[int], typer.Option(help="Longest side in pixels.")]
DreamSize = Annotated[Optional[int], typer.Option(help="Dream at this short side (px), put the detail back at full size (4K: 540).")]
Seed = Annotated[Optional[int], typer.Option(help="Random seed.")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda or auto.")]
Threads = Annotated[Optional[int], typer.Option(help="CPU threads for torch.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue an interrupted render from OUT.parts/.")]
Fps = Annotated[Optional[float], typer.Option(help="Frames per second of videos (GIFs: 10, 20, 25 or 50 are exact).")]
Crf = Annotated[Optional[int], typer.Option(help="H.264 quality, 0-51, lower is better (18).")]
Frames = Annotated[Optional[int], typer.Option(help="Number of frames.")]
ContactSheet = Annotated[Optional[str], typer.Option(help="Also write a PNG grid of evenly spaced frames.")]
Loop = Annotated[bool, typer.Option("--loop", help="Make the output play round: its last frame flows into its first "
                                                  "(a zoom's schedules should end where they start, e.g. sin(2*pi*t/N)).")]
Audio = Annotated[Optional[Path], typer.Option(help="Music for the schedules (beat, onset, low, ...), muxed into MP4/WebM; "
                                                    "a zoom then lasts as long as the track unless --frames is given.")]
Mask = Annotated[Optional[str], typer.Option(help="Dream only where this is white: an image (a video carries it along the flow), "
                                                  "a frames folder or video (one mask a frame), or e.g. 'luma > 0.7'.")]
InvertMask = Annotated[bool, typer.Option("--invert-mask", help="Dream where the mask is black instead.")]
Feather = Annotated[Optional[int], typer.Option(help="Soften the mask's edges over this many pixels (8).")]


def _with_audio(cfg: Any, audio: Path | None, frames: int | None) -> Any:
    """`--audio FILE` replaces the recipe's track; without --frames a zoom takes the track's length."""
    if audio is None:
        return cfg
    data = cfg.model_dump()
    data["audio"]["file"] = str(audio)
    if frames is None and cfg.kind == "zoom":
        data["source"]["frames"] = None
    return presets.from_mapping(data, where="command line")


def overrides(*, input: Path | None = None, output: list[str] | None = None, model: str | None = None,
              weights: Path | None = None, objective: str | None = None, layers: str | None = None,
              octaves: int | None = None, octave_scale: float | None = None, steps: int | None = None,
              step_size: float | None = None, jitter: int | None = None, size: int | None = None,
              seed: int | None = None, device: str | None = None, threads: int | None = None,
              dream_size: int | None = None, mask: str | None = None, invert_mask: bool = False,
              feather: int | None = None) -> dict[str, Any]:
    """CLI flags as a nested mapping shaped like a preset (None = not given)."""
    if objective and layers:
        raise DreamreelError("--objective and --layers both given", "use one of them")
    given = {k: v for k, v in {"mask": mask, "invert": invert_mask or None, "feather": feather}.items() if v is not None}
    return {
        **({"mask": given} if given else {}),  # absent unless given: a preset without [mask] stays without
        "seed": seed, "device": device, "threads": threads,
        "source": {"input": str(input) if input else None, "size": size},
        "dream": {"model": model, "weights": str(weights) if weights else None,
                  "objective": objective or (objectives.parse_layers(layers) if layers else None),
                  "octaves": octaves, "octave_scale": octave_scale, "steps": steps, "step_size": step_size, "jitter": jitter,
                  "dream_size": dream_size},
        "output": {"paths": [str(p) for p in output] if output else None},
    }


def run_render(cfg: Any, quiet: bool = False, resume: bool = False) -> list[Path]:
    """`pipeline.render`, imported here: torch and the media layer load only once a render starts,
    so help, listings and every one-line error about arguments, presets or paths come at once."""
    guard.check_found(cfg)  # (`render` checks it too, after its imports)
    from pipeline.renderer import render

    return render(cfg, quiet=quiet, resume=resume)


def _done(paths: list[Path], quiet: bool) -> None:
    if not quiet:
        for p in paths:
            typer.echo(f"wrote {p}", err=True)


@app.command()
@friendly
def dream(input: Annotated[Path, typer.Argument(help="Image to dream on.")], output: Output,
          preset: Preset = "default", model: Model = None, weights: Weights = None, objective: Objective = None,
          layers: Layers = None, octaves: Octaves = None, octave_scale: OctaveScale = None, steps: Steps = None,
          step_size: StepSize = None, jitter: Jitter = None, size: Size = None, dream_size: DreamSize = None,
          seed: Seed = None, device: Device = None, threads: Threads = None, quiet: Quiet = False,
          animate_steps: Annotated[Optional[str], typer.Option(help="Also write the ascent as a GIF, one frame per step.")] = None,
          fps: Fps = None,
          guide: Annotated[Optional[Path], typer.Option(help="Guide image: adds guide(GUIDE, LAYER) + 0.3 * objective.")] = None,
          guide_layer: Annotated[Optional[str], typer.Option(help="Layer the guide is compared at (default per model).")] = None,
          guide_metric: Annotated[str, typer.Option(help="dot, l1 or l2.")] = "dot",
          mask: Mask = None, invert_mask: InvertMask = False, feather: Feather = None) -> None:
    """Dream on one image: dreamreel dream IMG -o OUT.png"""
    flags = overrides(input=input, output=output, model=model, weights=weights, objective=objective, layers=layers,
                      octaves=octaves, octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter,
                      size=size, seed=seed, device=device, threads=threads, dream_size=dream_size, mask=mask,
                      invert_mask=invert_mask, feather=feather)
    flags = presets.merge(flags, {"output": {"animate_steps": animate_steps, "fps": fps}})
    cfg = presets.load(preset, flags)
    if guide:
        cfg = _guided(cfg, guide, guide_layer, guide_metric)
    _done(run_render(cfg, quiet=quiet), quiet)


def _with_objective(cfg: Any, objective: str) -> Any:
    """`cfg` with its dream objective replaced, validated again (a bad layer fails here)."""
    data = cfg.model_dump()
    data["dream"]["objective"] = objective
    return presets.from_mapping(data, where="command line")


def _guided(cfg: Any, guide: Path, layer: str | None, metric: str) -> Any:
    """`--guide`: guide(IMAGE, LAYER) + 0.3 * (the objective); LAYER defaults per model."""
    from pipeline import guided

    layer = layer or guided.guide_layer(cfg.dream.model)
    path = guided.image_path(str(guide))
    return _with_objective(cfg, guided.guide_text(path, layer, cfg.dream.objective, metric=metric))


@app.command()
@friendly
def render(preset: Annotated[str, typer.Argument(help="Preset name or .toml path.")],
           output: Annotated[Optional[list[str]], typer.Option("-o", "--output", help="Output file(s); default out/PRESET.png")] = None,
           input: Annotated[Optional[Path], typer.Option("--input", "-i", help="Input instead of the preset's.")] = None,
           size: Size = None, dream_size: DreamSize = None, seed: Seed = None, device: Device = None,
           threads: Threads = None, quiet: Quiet = False, resume: Resume = False, frames: Frames = None,
           audio: Audio = None, mask: Mask = None, invert_mask: InvertMask = False, feather: Feather = None) -> None:
    """Render a preset, a complete recipe: dreamreel render classic -o out.png"""
    flags = overrides(input=input, output=output, size=size, seed=seed, device=device, threads=threads, dream_size=dream_size,
                      mask=mask, invert_mask=invert_mask, feather=feather)
    cfg = _with_audio(presets.load(preset, presets.merge(flags, {"source": {"frames": frames}})), audio, frames)
    if not cfg.output.paths:
        ext = ".png" if cfg.kind == "dream" else ".mp4"
        cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"paths": (f"out/{Path(preset).stem}{ext}",)})})
    _done(run_render(cfg, quiet=quiet, resume=resume), quiet)


# Scale-out: chunked video renders, in this process or on a Ray cluster.
Engine = Annotated[str, typer.Option(help="local (this process) or ray (chunks across a Ray cluster; needs dreamreel[ray]).")]
Address = Annotated[Optional[str], typer.Option(help="Ray cluster: auto (the one `ray start` made) or HOST:PORT; none: that, else a new local one.")]
GpusPerTask = Annotated[Optional[float], typer.Option(help="GPUs per Ray worker (default: 1 if the cluster has GPUs, else 0).")]
Workers = Annotated[Optional[int], typer.Option(help="Ray workers (default: as many as GPUs or CPUs allow).")]
ChunkSeconds = Annotated[Optional[float], typer.Option(help="Shots longer than this are split into chunks.")]
WarmupFrames = Annotated[Optional[int], typer.Option(help="Frames rendered before each mid-shot chunk, then dropped.")]
FadeFrames = Annotated[Optional[int], typer.Option(help="The last warm-up frames cross-fade over the previous chunk.")]
KeepParts = Annotated[bool, typer.Option(help="Keep OUT.parts/ (the finished segments) after the join.")]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="Show Ray's own log lines and its workers' output (hidden otherwise).")]


@app.command()
@friendly
def zoom(output: Output, input: Annotated[Optional[Path], typer.Argument(help="Start image (default: the bundled sample).")] = None,
         preset: Preset = "zoom", frames: Frames = None, fps: Fps = None, crf: Crf = None,
         zoom: Annotated[Optional[str], typer.Option("--zoom", help='Scale per frame: 1.03 or "0:(1.02), 60:(1.05)".')] = None,
         angle: Annotated[Optional[str], typer.Option(help="Degrees per frame (number or schedule).")] = None,
         translate_x: Annotated[Optional[str], typer.Option(help="Pixels per frame, right (number or schedule).")] = None,
         translate_y: Annotated[Optional[str], typer.Option(help="Pixels per frame, down (number or schedule).")] = None,
         start: Annotated[Optional[str], typer.Option(help="Without INPUT: image (bundled sample) or noise.")] = None,
         contact_sheet: ContactSheet = None, drift: Annotated[Optional[float], typer.Option(help="Drift control 0-1.")] = None,
         model: Model = None, weights: Weights = None, objective: Objective = None, layers: Layers = None,
         octaves: Octaves = None, octave_scale: OctaveScale = None, steps: Steps = None, step_size: StepSize = None,
         jitter: Jitter = None, size: Size = None, dream_size: DreamSize = None, seed: Seed = None, device: Device = None,
         threads: Threads = None, resume: Resume = False, quiet: Quiet = False, audio: Audio = None, loop: Loop = False,
         mask: Mask = None, invert_mask: InvertMask = False, feather: Feather = None) -> None:
    """Fractal zoom: dreamreel zoom [INPUT] -o OUT.mp4 --frames N (each frame zooms into the last dream)."""
    flags = overrides(input=input, output=output, model=model, weights=weights, objective=objective, layers=layers,
                      octaves=octaves, octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter,
                      size=size, seed=seed, device=device, threads=threads, dream_size=dream_size, mask=mask,
                      invert_mask=invert_mask, feather=feather)
    flags = presets.merge(flags, {
        "kind": "zoom", "loop": loop or None, "source": {"frames": frames, "start": start},
        "motion": {"zoom": zoom, "angle": angle, "translate_x": translate_x, "translate_y": translate_y,
                   "steps": str(steps) if steps is not None else None},  # --steps also overrides a steps schedule
        "post": {"drift": drift}, "output": {"fps": fps, "crf": crf, "contact_sheet": contact_sheet},
    })
    _done(run_render(_with_audio(presets.load(preset, flags), audio, frames), quiet=quiet, resume=resume), quiet)


@app.command("layers")
@friendly
def list_layers(model: Annotated[str, typer.Argument(help="Model name.")] = models.DEFAULT, weights: Weights = None) -> None:
    """The model's layer names with channel counts (names to use in objectives); no weights needed."""
    net = models.load(model, weights) if weights else models.architecture(model)
    typer.echo(f"{net.name} (native {net.facts.native}px)")
    for name, channels in net.channels():
        typer.echo(f"  {name:<24} {channels:>5}")


@app.command("presets")
@friendly
def list_presets() -> None:
    """The bundled presets, one line each."""
    for name, description in presets.describe():
        typer.echo(f"{name:<16} {description}")


@app.command("models")
@friendly
def list_models() -> None:
    """The models dreamreel knows."""
    for spec in models.REGISTRY.values():
        typer.echo(f"{spec.name:<20} {spec.summary}")


# --- video stylisation and its quality measures ------------------------------------


@app.command()
@friendly
def video(input: Annotated[Path, typer.Argument(help="Video file (mp4, mov, avi, webm, gif, ...) or a folder of frames.")],
          output: Output, preset: Preset = "video", model: Model = None, weights: Weights = None,
          objective: Objective = None, layers: Layers = None, octaves: Octaves = None, octave_scale: OctaveScale = None,
          steps: Steps = None, step_size: StepSize = None, jitter: Jitter = None, size: Size = None,
          dream_size: DreamSize = None, seed: Seed = None,
          device: Device = None, threads: Threads = None, quiet: Quiet = False, resume: Resume = False,
          start: Annotated[Optional[float], typer.Option(help="Start at this time (seconds).")] = None,
          end: Annotated[Optional[float], typer.Option(help="Stop at this time (seconds).")] = None,
          max_frames: Annotated[Optional[int], typer.Option("--max-frames", "--frames", help="Render at most this many frames.")] = None,
          fps: Annotated[Optional[float], typer.Option(help="Resample to this rate (default: the source's).")] = None,
          independent: Annotated[bool, typer.Option(help="Dream every frame from scratch (flickers; the reference).")] = False,
          steps_warm: Annotated[Optional[int], typer.Option(help="Ascent steps on frames that carry the previous dream.")] = None,
          blend: Annotated[Optional[float], typer.Option(help="Share of the warped previous dream carried (0-1).")] = None,
          flow: Annotated[Optional[str], typer.Option(help="Optical flow: dis or farneback.")] = None,
          evolve: Annotated[Optional[float], typer.Option(help="How much still, carried regions keep dreaming (0-1; 0 holds them).")] = None,
          drift: Annotated[Optional[float], typer.Option(help="Colour anchoring to the source, 0-1.")] = None,
          crf: Crf = None, contact_sheet: ContactSheet = None,
          engine: Engine = "local", address: Address = None, gpus_per_task: GpusPerTask = None, workers: Workers = None,
          chunk_seconds: ChunkSeconds = None, warmup_frames: WarmupFrames = None, fade_frames: FadeFrames = None,
          keep_parts: KeepParts = False, verbose: Verbose = False, audio: Audio = None, loop: Loop = False,
          mask: Mask = None, invert_mask: InvertMask = False, feather: Feather = None) -> None:
    """Stylise a video with dreams that stay steady through motion: dreamreel video IN.mp4 -o OUT.mp4

    With --engine ray it renders in chunks across a Ray cluster; rerunning resumes."""
    flags = overrides(input=input, output=output, model=model, weights=weights, objective=objective, layers=layers,
                      octaves=octaves, octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter,
                      size=size, seed=seed, device=device, threads=threads, dream_size=dream_size, mask=mask,
                      invert_mask=invert_mask, feather=feather)
    flags["kind"], flags["loop"] = "video", loop or None
    flags["source"].update(start_time=start, end_time=end, frames=max_frames, fps=fps)
    flags["video"] = {"independent": independent or None, "steps_warm": steps_warm, "blend": blend, "flow": flow, "evolve": evolve}
    flags = presets.merge(flags, {"post": {"drift": drift}, "output": {"crf": crf, "contact_sheet": contact_sheet}})
    chunking = {"chunk_seconds": chunk_seconds, "warmup_frames": warmup_frames, "fade_frames": fade_frames}
    flags["scaleout"] = {k: v for k, v in chunking.items() if v is not None}  # presets without [scaleout] keep its defaults
    cfg = _with_audio(presets.load(preset, flags), audio, max_frames)
    if engine == "ray":
        from pipeline import scaleout  # Ray itself is imported only once the render starts

        _done(scaleout.render(cfg, "ray", address=address, gpus_per_task=gpus_per_task, workers=workers, quiet=quiet,
                              keep_parts=keep_parts, verbose=verbose), quiet)
    elif engine == "local":
        _done(run_render(cfg, quiet=quiet, resume=resume), quiet)
    else:
        raise DreamreelError(f"unknown engine {engine!r}", "use local or ray")


@app.command()
@friendly
def quality(input: Annotated[Path, typer.Argument(help="The source video (or frames folder).")],
            output: Annotated[Path, typer.Argument(help="The stylised video made from it.")],
            start: Annotated[Optional[float], typer.Option(help="The --start the render used (seconds).")] = None,
            end: Annotated[Optional[float], typer.Option(help="The --end the render used (seconds).")] = None,
            max_frames: Annotated[Optional[int], typer.Option("--max-frames", "--frames", help="The --max-frames the render used.")] = None,
            fps: Annotated[Optional[float], typer.Option(help="The --fps the render used.")] = None,
            flow: Annotated[str, typer.Option(help="Optical flow: dis or farneback.")] = "dis",
            as_json: Annotated[bool, typer.Option("--json", help="One JSON line instead of a table.")] = False) -> None:
    """Temporal warping error of OUTPUT (Lai et al. 2018), the input's own (the floor), and dream strength."""
    from pipeline import metrics

    if flow not in ("dis", "farneback"):
        raise DreamreelError(f"unknown flow {flow!r}", "use dis or farneback")
    q = metrics.measure(input, output, start, end, max_frames, flow, fps)  # type: ignore[arg-type]
    if as_json:
        typer.echo(json.dumps(q.as_dict()))
        return
    typer.echo(f"frames                  {q.frames}")
    typer.echo(f"warping error (output)  {q.e_out:.6f}")
    typer.echo(f"warping error (input)   {q.e_in:.6f}   the floor: flow and resampling are not perfect")
    typer.echo(f"dream strength          {q.strength:.2f}   mean |output - input|, 0-255")


@app.command("audio")
@friendly
def audio_curves(file: Annotated[Path, typer.Argument(help="Audio file (or a video with sound).")],
                 fps: Annotated[float, typer.Option(min=1.0, max=240.0, help="Frames per second of the render.")] = 25.0,
                 output: Annotated[Optional[Path], typer.Option("-o", "--output", help="Draw the curves as a PNG.")] = None,
                 csv: Annotated[Optional[Path], typer.Option(help="Write the per-frame values as CSV.")] = None,
                 attack: Annotated[float, typer.Option(min=0.0, max=10.0, help="Rise time, seconds.")] = 0.0,
                 release: Annotated[float, typer.Option(min=0.0, max=10.0, help="Fall time, seconds.")] = 0.2) -> None:
    """The variables a track lends to schedules: dreamreel audio song.mp3 -o curves.png --csv curves.csv"""
    from pipeline import audio, audio_plot

    for path in filter(None, (output, csv)):
        audio_plot.check_output(path)
    signals = audio.read(file, fps, attack, release)
    typer.echo(f"{file.name}: {signals.seconds:.2f} s, {signals.frames} frames at {fps:g} fps, "
               f"{signals.scalars['bpm']:.1f} bpm, {len(signals.beats)} beats")
    if output:
        audio_plot.write_png(signals, output, title=file.name)
        typer.echo(f"wrote {output}", err=True)
    if csv:
        audio_plot.write_csv(signals, csv)
        typer.echo(f"wrote {csv}", err=True)


# --- carving, style transfer and the digits net --------------------------------------


def _tiles(text: str) -> list[int]:
    """``2x2,4x4`` (or ``2,4``) -> [2, 4]."""
    out = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        rows, _, cols = part.partition("x")
        if not rows.isdigit() or (cols and cols != rows):
            raise DreamreelError(f"--tiles: bad grid {part!r}", "write square grids such as 2x2 or 2x2,4x4")
        out.append(int(rows))
    return out


def _ints(text: str, flag: str) -> list[int]:
    try:
        return [int(p) for p in text.split(",") if p.strip()]
    except ValueError:
        raise DreamreelError(f"{flag}: {text!r} is not a list of integers", "write e.g. 5 or 5,7,1,3") from None


@app.command()
@friendly
def carve(input: Annotated[Path, typer.Argument(help="Image to carve.")], output: Output,
          preset: Preset = "carve-digits", model: Model = None, weights: Weights = None,
          layer: Annotated[Optional[str], typer.Option(help="Layer whose maps are dreamed (default per model).")] = None,
          map: Annotated[Optional[str], typer.Option("--map", help="Channel index, or one per tile: 5 or 5,7,1,3.")] = None,
          tiles: Annotated[Optional[str], typer.Option(help="Tile grids: 2x2, or 2x2,4x4 to cascade.")] = None,
          iterations: Annotated[Optional[int], typer.Option(help="Outer iterations (4-6).")] = None,
          steps: Annotated[Optional[int], typer.Option(help="Most ascent steps per (sub-)image.")] = None,
          step_size: StepSize = None,
          gray: Annotated[Optional[bool], typer.Option("--gray/--color", help="Grey mode (default: grey for digits).")] = None,
          stretch: Annotated[Optional[bool], typer.Option("--stretch/--no-stretch", help="Contrast stretch for display.")] = None,
          animate_steps: Annotated[Optional[Path], typer.Option(help="GIF of the outer iterations.")] = None,
          size: Size = None, seed: Seed = None, device: Device = None, threads: Threads = None, quiet: Quiet = False) -> None:
    """Carve an image tile by tile (the MNIST series): dreamreel carve IMG -o OUT.png --model digits --map 5"""
    flags = overrides(input=input, output=output, model=model, weights=weights, size=size, seed=seed, device=device, threads=threads)
    flags["kind"] = "carve"
    flags["carve"] = {"layer": layer, "maps": _ints(map, "--map") if map else None, "tiles": _tiles(tiles) if tiles else None,
                      "iterations": iterations, "steps": steps, "step_size": step_size, "gray": gray, "stretch": stretch,
                      "animate": str(animate_steps) if animate_steps else None}
    _done(run_render(presets.load(preset, flags), quiet=quiet), quiet)


@app.command()
@friendly
def style(content: Annotated[Path, typer.Argument(help="Content image.")],
          style_image: Annotated[Path, typer.Argument(metavar="STYLE", help="Style image.")], output: Output,
          preset: Preset = "style", model: Model = None, weights: Weights = None,
          content_layer: Annotated[Optional[str], typer.Option(help="Content layer (default per model).")] = None,
          style_layers: Annotated[Optional[str], typer.Option(help="Style layers with weights: blocks.2=1,blocks.7=1.")] = None,
          content_weight: Annotated[float, typer.Option(help="Weight of the content loss.")] = 1.0,
          style_weight: Annotated[float, typer.Option(help="Weight of the style loss.")] = 1.0,
          octaves: Octaves = None, steps: Steps = None, step_size: StepSize = None, size: Size = None, seed: Seed = None,
          device: Device = None, threads: Threads = None, quiet: Quiet = False) -> None:
    """Style transfer: dreamreel style CONTENT STYLE -o OUT.png"""
    from pipeline import guided

    flags = overrides(input=content, output=output, model=model, weights=weights, octaves=octaves, steps=steps,
                      step_size=step_size, size=size, seed=seed, device=device, threads=threads)
    cfg = presets.load(preset, flags)
    layers = guided.parse_weights(style_layers, "--style-layers") if style_layers else None
    text = guided.style_text(guided.image_path(str(style_image), "style image"), cfg.dream.model, content_layer, layers,
                             content_weight, style_weight)
    _done(run_render(_with_objective(cfg, text), quiet=quiet), quiet)


@app.command()
@friendly
def studio(preset: Annotated[str, typer.Argument(help="Preset name or .toml path (its kind: zoom, video or still).")] = "zoom",
           input: Annotated[Optional[Path], typer.Option("--input", "-i", help="Input instead of the preset's.")] = None,
           port: Annotated[int, typer.Option(min=0, max=65535, help="Port (0: a free one).")] = 8765,
           host: Annotated[str, typer.Option(help="Address to listen on; other than loopback, a token is required.")] = "127.0.0.1",
           no_browser: Annotated[bool, typer.Option("--no-browser", help="Print the URL only.")] = False,
           size: Annotated[int, typer.Option(min=16, max=8192, help="Preview size, longest side in pixels.")] = 192,
           seed: Seed = None, device: Device = None, threads: Threads = None, audio: Audio = None,
           mask: Mask = None, invert_mask: InvertMask = False, feather: Feather = None) -> None:
    """A live page: the render tuned while it runs, then exported as a preset (needs dreamreel[studio]).

    A mask comes from the command line only (the page sends no paths)."""
    flags = overrides(input=input, size=size, seed=seed, device=device, threads=threads, mask=mask, invert_mask=invert_mask,
                      feather=feather)
    cfg = _with_audio(presets.load(preset, flags), audio, None)  # a bad recipe is one line before the server's imports
    try:
        from pipeline import studio as studio_
    except ImportError as e:
        raise DreamreelError(f"dreamreel studio needs its extra ({e.name} is missing)", "pip install 'dreamreel[studio]'") from None
    studio_.serve(cfg, host=host, port=port, open_browser=not no_browser, announce=lambda line: typer.echo(line, err=True))


@app.command("train-digits")
@friendly
def train_digits(output: Annotated[Path, typer.Option("-o", "--output", help="Weights file to write (.pt).")],
                 mnist: Annotated[Optional[Path], typer.Option(help="Folder with MNIST idx files (default: scikit-learn's digits).")] = None,
                 epochs: Annotated[int, typer.Option(min=1, max=1000, help="Training epochs.")] = 12,
                 seed: Annotated[int, typer.Option(help="Seed for the init, shuffles and split.")] = 0,
                 threads: Threads = None) -> None:
    """Train the digits CNN (seeded, about 10 s on 2 CPU cores) and print its held-out accuracy."""
    from pipeline.sinks import check_writable

    check_writable(output)  # a bad path is one line before torch loads
    import torch

    from pipeline.models import digits

    torch.set_num_threads(threads or 1)  # tiny convs: one thread is fastest, and the result is reproducible
    split = digits.mnist(mnist) if mnist else digits.uci_digits(seed)
    net, acc = digits.train(split, epochs=epochs, seed=seed)
    digits.save(net, output)
    typer.echo(f"{split.source}: held-out accuracy {acc:.2%}; wrote {output}")


def main(argv: list[str] | None = None) -> int:
    """Console entry point: usage errors too end as one line and exit status 2."""
    try:
        rc = app(args=argv, prog_name="dreamreel", standalone_mode=False)
    except typer.TyperException as e:  # Typer's own usage errors: missing option, bad value, ...
        ctx, message = getattr(e, "ctx", None), e.format_message().rstrip(".")
        if message:  # empty when help was shown for a bare `dreamreel`
            hint = f"; see `{ctx.command_path} --help`" if ctx else ""
            typer.echo(f"dreamreel: error: {message}{hint}", err=True)
        return 2 if e.exit_code == 2 else e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("dreamreel: interrupted", err=True)
        return 130
    return rc if isinstance(rc, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
