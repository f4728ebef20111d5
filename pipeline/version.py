"""The one version string: resume's recipe and the chunk segments' key record it, so that frames
drawn by other code are never taken for this code's."""

from __future__ import annotations

from importlib import metadata


def version() -> str:
    """The installed package's version; "unknown" in a checkout that was never installed."""
    try:
        return metadata.version("dreamreel")
    except metadata.PackageNotFoundError:
        return "unknown"
