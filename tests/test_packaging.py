"""The wheel holds the whole product: built from a copy of the repo, installed (not editable) into a
fresh virtual environment, then run from a folder outside the repo.

The fresh environment has no pip and no packages of its own: one .pth line lends it this test
environment's site-packages for torch, Ray and the rest. A .pth line adds a folder without running
the .pth files inside it, so this environment's editable dreamreel (an import hook started from a
.pth file) stays out, and `pipeline` can only come from the wheel.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import cv2
import pytest

REPO = Path(__file__).resolve().parent.parent
NOT_BUILT_FROM = shutil.ignore_patterns(".git", ".venv", "__pycache__", "build", "dist", "*.egg-info", "out", "docs",
                                        "tests", "benchmarks", ".pytest_cache")


def run(*cmd: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """`pip wheel` of a copy of the repo (an in-tree build would leave build/ and egg-info behind)."""
    root = tmp_path_factory.mktemp("wheel")
    src = root / "src"
    shutil.copytree(REPO, src, ignore=NOT_BUILT_FROM)
    run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
        "-w", root / "dist", src, cwd=root)
    [built] = (root / "dist").glob("dreamreel-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh(wheel, tmp_path_factory) -> Path:
    """A new venv with the wheel installed into it; the heavy dependencies borrowed from this one."""
    env = tmp_path_factory.mktemp("fresh") / "venv"
    venv.create(env, with_pip=False)
    python = env / "bin" / "python"
    purelib = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=env).strip())
    (purelib / "borrowed.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    # --ignore-installed: pip (run for the fresh python) sees the borrowed editable dreamreel and must not remove it
    run(sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps", "--no-index",
        "--ignore-installed", "--no-compile", wheel, cwd=env)
    return env


def outside() -> dict[str, str]:
    """The environment for runs outside the repo: nothing in it points back at the repo."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DREAMREEL_PRESETS", "VIRTUAL_ENV")}


def test_the_wheel_holds_every_package_the_presets_and_the_data(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"cli.py", "pipeline/__init__.py", "pipeline/scaleout/ray_engine.py", "pipeline/data/chelsea.png",
            "pipeline/data/digits.pt"} <= names
    bundled = {Path(n).stem for n in names if n.startswith("pipeline/bundled_presets/") and n.endswith(".toml")}
    assert bundled == {p.stem for p in (REPO / "presets").glob("*.toml")}
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "presets/"))]


def test_an_installed_wheel_lists_renders_and_imports_outside_the_repo(fresh, tmp_path):
    env = outside()
    listed = run(fresh / "bin" / "dreamreel", "presets", cwd=tmp_path, env=env)
    assert {"default", "video", "zoom"} <= {line.split()[0] for line in listed.splitlines()}

    run(fresh / "bin" / "dreamreel", "render", "default", "-o", "x.png", "--size", "48", "--threads", "1", "--quiet",
        cwd=tmp_path, env=env)
    assert cv2.imread(str(tmp_path / "x.png")).shape[:2] == (32, 48)  # the bundled sample (451x300), 48 px on its long side

    engine = "pipeline.scaleout.ray_engine" if importlib.util.find_spec("ray") else "pipeline.scaleout"  # dreamreel[ray]
    where = run(fresh / "bin" / "python", "-c", f"import pipeline, {engine}; print(pipeline.__file__)", cwd=tmp_path, env=env)
    assert Path(where.strip()).is_relative_to(fresh)


def test_a_users_preset_folder_is_searched_first(fresh, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "default.toml").write_text('description = "my own default"\n')
    (mine / "night.toml").write_text('description = "my night preset"\n')
    env = {**outside(), "DREAMREEL_PRESETS": f"{mine}{os.pathsep}{tmp_path / 'absent'}"}
    listed = dict(line.split(maxsplit=1) for line in run(fresh / "bin" / "dreamreel", "presets", cwd=tmp_path,
                                                         env=env).splitlines())
    assert listed["default"] == "my own default" and listed["night"] == "my night preset"
    assert "zoom" in listed, "the bundled presets stay listed"


def test_a_source_tree_run_finds_the_top_level_presets(fresh):
    """Run from the checkout (the repo's `pipeline` comes first on sys.path, the wheel's is not used)."""
    code = "import pipeline, pipeline.presets as p; print(pipeline.__file__); print(p.bundled()); print(*p.names())"
    package, folder, names = run(fresh / "bin" / "python", "-c", code, cwd=REPO, env=outside()).splitlines()
    assert Path(package).is_relative_to(REPO) and Path(folder) == REPO / "presets"
    assert names.split() == sorted(p.stem for p in (REPO / "presets").glob("*.toml"))
