"""The module map: the package is a plain stack. Every import, deferred ones included, points to a
module below; deferred imports are kept for what is heavy to import, never to hide a circle."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# (importer, imported) deferred on purpose: a command's heavy imports wait until it runs (cli), Ray is
# imported only by a Ray render, and the screenshot script's own entry point; torch (2-3 s) waits for the
# first net built (the catalog names every net without its family module), for `net`'s names on the models
# package's face, and for `pipeline.render` on the package's face, so commands that dream nothing answer at once
LAZY = {("pipeline.scaleout.job", "pipeline.scaleout.ray_engine"), ("pipeline.studio.browser", "pipeline.presets"),
        ("pipeline.studio.browser", "pipeline.studio.server"), ("pipeline.studio.session", "pipeline.models"),
        *(("pipeline.models.catalog", f"pipeline.models.{family}") for family in ("lite", "zoo", "digits", "files")),
        ("pipeline.models", "pipeline.models.net"), ("pipeline", "pipeline.renderer")}


def modules() -> dict[str, Path]:
    paths = sorted((REPO / "pipeline").rglob("*.py")) + [REPO / "cli.py"]
    names = {}
    for p in paths:
        parts = p.relative_to(REPO).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    return names


@cache
def imports() -> dict[str, dict[str, bool]]:
    """Module -> {package module it imports: whether the import is deferred}; ``TYPE_CHECKING`` blocks left out."""
    mods = modules()
    found: dict[str, dict[str, bool]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text())
        typing_only = {id(x) for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
                       for x in ast.walk(n)}
        top = {id(n) for n in tree.body} | {id(x) for n in tree.body if isinstance(n, (ast.If, ast.Try)) for x in n.body}
        found[name] = {}
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([node.module] if node.module else []))
                targets = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods] or [base]
            else:
                continue
            for target in targets:
                if target in mods and target != name:
                    found[name][target] = found[name].get(target, True) and id(node) not in top
    return found


def test_the_map_sees_the_package():
    graph = imports()
    assert {"pipeline.signals", "pipeline.audio", "pipeline.models.registry", "cli"} <= set(graph)
    assert graph["pipeline.audio"] == {"pipeline.errors": False, "pipeline.media": False, "pipeline.signals": False}
    assert graph["pipeline.scaleout.job"]["pipeline.scaleout.ray_engine"] is True  # deferred, and seen as such


def test_no_import_circle_so_every_import_points_down():
    graph, done, path = imports(), set(), []

    def visit(module: str) -> None:
        if module in path:
            pytest.fail("import circle: " + " -> ".join([*path[path.index(module):], module]))
        if module in done:
            return
        path.append(module)
        for target in graph[module]:
            visit(target)
        path.pop()
        done.add(module)

    for module in graph:
        visit(module)


def test_deferred_imports_are_only_the_lazy_heavy_ones():
    deferred = {(m, t) for m, targets in imports().items() if m != "cli" for t, late in targets.items() if late}
    assert deferred <= LAZY, f"deferred imports of package modules: {sorted(deferred - LAZY)}"


@cache
def below(module: str) -> frozenset[str]:
    return frozenset(t for target in imports()[module] for t in {target, *below(target)})


@pytest.mark.parametrize("module", ["pipeline.signals", "pipeline.schedule", "pipeline.objectives", "pipeline.config"])
def test_the_expression_floor_stands_on_the_names_not_on_the_decoder(module):
    assert "pipeline.audio" not in below(module) and "pipeline.media" not in below(module)
    assert "pipeline.signals" in below(module) | {module}


def test_the_names_are_a_leaf():
    assert below("pipeline.signals") == {"pipeline.errors"}
