"""Headless Chromium for the studio's browser test and the README's screenshot.

Debian's ``chromium`` driven by Playwright for Python through `executable_path`: Playwright
never downloads a browser of its own (`playwright install` is never run), and the flags keep
Chromium from reaching the network by itself.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def missing() -> str | None:
    """Why the browser cannot run here (None: it can)."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install playwright; never `playwright install`)"
    return None


@contextmanager
def launch() -> Iterator[Any]:
    """A headless Chromium `Browser`, closed on exit."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def screenshot(url: str, path: Path, frames: int = 12, size: tuple[int, int] = (1280, 820)) -> None:
    """The page at `url` once `frames` frames have been shown, with its plots drawn, as a PNG."""
    with launch() as browser:
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_function(f"() => Number(document.getElementById('frames')?.textContent) >= {frames}",
                               timeout=600_000)
        page.wait_for_function("() => document.getElementById('live').naturalWidth > 0", timeout=60_000)
        page.wait_for_timeout(700)  # one more status poll: the plots include the last frame
        page.screenshot(path=str(path))


def main(argv: list[str]) -> None:
    """``python -m pipeline.studio.browser OUT.png [PRESET] [SIZE]``: a studio screenshot mid-render."""
    from .. import presets
    from .server import background

    out = Path(argv[0])
    preset = argv[1] if len(argv) > 1 else "zoom"
    size = int(argv[2]) if len(argv) > 2 else 192
    cfg = presets.load(preset, {"threads": 1, "source": {"size": size}})
    with background(cfg) as studio:
        screenshot(studio.url, out)
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])
