"""dreamreel's command line: thin Typer commands; all work happens in `pipeline`."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

from pipeline import models, objectives, presets
from pipeline.errors import DreamreelError
from pipeline.render import render as run_render

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
Output = Annotated[list[Path], typer.Option("-o", "--output", help="Output file (format by extension); repeatable.")]
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
Seed = Annotated[Optional[int], typer.Option(help="Random seed.")]
Device = Annotated[Optional[str], typer.Option(help="cpu, cuda or auto.")]
Threads = Annotated[Optional[int], typer.Option(help="CPU threads for torch.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]


def overrides(*, input: Path | None = None, output: list[Path] | None = None, model: str | None = None,
              weights: Path | None = None, objective: str | None = None, layers: str | None = None,
              octaves: int | None = None, octave_scale: float | None = None, steps: int | None = None,
              step_size: float | None = None, jitter: int | None = None, size: int | None = None,
              seed: int | None = None, device: str | None = None, threads: int | None = None) -> dict[str, Any]:
    """CLI flags as a nested mapping shaped like a preset (None = not given)."""
    if objective and layers:
        raise DreamreelError("--objective and --layers both given", "use one of them")
    return {
        "seed": seed, "device": device, "threads": threads,
        "source": {"input": str(input) if input else None, "size": size},
        "dream": {"model": model, "weights": str(weights) if weights else None,
                  "objective": objective or (objectives.parse_layers(layers) if layers else None),
                  "octaves": octaves, "octave_scale": octave_scale, "steps": steps, "step_size": step_size, "jitter": jitter},
        "output": {"paths": [str(p) for p in output] if output else None},
    }


def _done(paths: list[Path], quiet: bool) -> None:
    if not quiet:
        for p in paths:
            typer.echo(f"wrote {p}", err=True)


@app.command()
@friendly
def dream(input: Annotated[Path, typer.Argument(help="Image to dream on.")], output: Output,
          preset: Preset = "default", model: Model = None, weights: Weights = None, objective: Objective = None,
          layers: Layers = None, octaves: Octaves = None, octave_scale: OctaveScale = None, steps: Steps = None,
          step_size: StepSize = None, jitter: Jitter = None, size: Size = None, seed: Seed = None,
          device: Device = None, threads: Threads = None, quiet: Quiet = False,
          guide: Annotated[Optional[Path], typer.Option(help="Guide image: adds guide(GUIDE, LAYER) + 0.3 * objective.")] = None,
          guide_layer: Annotated[Optional[str], typer.Option(help="Layer the guide is compared at (default per model).")] = None,
          guide_metric: Annotated[str, typer.Option(help="dot, l1 or l2.")] = "dot") -> None:
    """Dream on one image: dreamreel dream IMG -o OUT.png"""
    flags = overrides(input=input, output=output, model=model, weights=weights, objective=objective, layers=layers,
                      octaves=octaves, octave_scale=octave_scale, steps=steps, step_size=step_size, jitter=jitter,
                      size=size, seed=seed, device=device, threads=threads)
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

    layer = layer or guided.defaults(cfg.dream.model)[2]
    path = guided.image_path(str(guide))
    return _with_objective(cfg, guided.guide_text(path, layer, cfg.dream.objective, metric=metric))


@app.command()
@friendly
def render(preset: Annotated[str, typer.Argument(help="Preset name or .toml path.")],
           output: Annotated[Optional[list[Path]], typer.Option("-o", "--output", help="Output file(s); default out/PRESET.png")] = None,
           input: Annotated[Optional[Path], typer.Option("--input", "-i", help="Input instead of the preset's.")] = None,
           size: Size = None, seed: Seed = None, device: Device = None, threads: Threads = None, quiet: Quiet = False) -> None:
    """Render a preset, a complete recipe: dreamreel render classic -o out.png"""
    cfg = presets.load(preset, overrides(input=input, output=output, size=size, seed=seed, device=device, threads=threads))
    if not cfg.output.paths:
        cfg = cfg.model_copy(update={"output": cfg.output.model_copy(update={"paths": (f"out/{Path(preset).stem}.png",)})})
    _done(run_render(cfg, quiet=quiet), quiet)


@app.command("layers")
@friendly
def list_layers(model: Annotated[str, typer.Argument(help="Model name.")] = models.DEFAULT, weights: Weights = None) -> None:
    """The model's layer names with channel counts (names to use in objectives)."""
    net = models.load(model, weights)
    typer.echo(f"{net.name} (native {net.native}px)")
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


@app.command("train-digits")
@friendly
def train_digits(output: Annotated[Path, typer.Option("-o", "--output", help="Weights file to write (.pt).")],
                 mnist: Annotated[Optional[Path], typer.Option(help="Folder with MNIST idx files (default: scikit-learn's digits).")] = None,
                 epochs: Annotated[int, typer.Option(min=1, max=1000, help="Training epochs.")] = 12,
                 seed: Annotated[int, typer.Option(help="Seed for the init, shuffles and split.")] = 0,
                 threads: Threads = None) -> None:
    """Train the digits CNN (seeded, about 10 s on 2 CPU cores) and print its held-out accuracy."""
    import torch

    from pipeline import digits
    from pipeline.sinks import check_writable

    check_writable(output)
    torch.set_num_threads(threads or 1)  # tiny convs: one thread is fastest, and the result is reproducible
    split = digits.mnist(mnist) if mnist else digits.uci_digits(seed)
    net, acc = digits.train(split, epochs=epochs, seed=seed)
    digits.save(net, output)
    typer.echo(f"{split.source}: held-out accuracy {acc:.2%}; wrote {output}")


def main() -> None:
    app(prog_name="dreamreel")


if __name__ == "__main__":
    sys.exit(main())
