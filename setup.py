"""Which packages the wheel holds: every package under `pipeline` (found, so a new subpackage
ships without an edit here) and the top-level ``presets/`` folder as `pipeline.bundled_presets`.

The list lives here, not in pyproject.toml, because `[tool.setuptools.packages.find]` skips
`package-dir` entries for folders it does not find itself (setuptools 84: the mapped package
left the wheel empty), while a hand-written `packages = [...]` would miss new subpackages.
Everything else about the build is in pyproject.toml.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["pipeline", "pipeline.*"]), "pipeline.bundled_presets"],
      package_dir={"pipeline.bundled_presets": "presets"})
