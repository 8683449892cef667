"""Open rendered report pages in a real headless browser and list what a reader would see wrong.

Chromium, driven by Playwright (the ``browser`` extra; Chromium itself from the system, e.g. ``apt-get install
chromium``, or ``$REPRO_BROWSER``). Per page: Markdown syntax left in the visible text (``**``, ``[..](..)``,
a ``#`` heading line, a table rule, a backtick), a relative link to a file that does not exist, and an image
that did not load.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

from ..errors import ReproError

BROWSER_ENV = "REPRO_BROWSER"
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: what Markdown looks like when it was not rendered
MARKDOWN_RESIDUE = {
    "bold or emphasis markers": re.compile(r"\*\*|__\w"),
    "a Markdown link": re.compile(r"\]\("),
    "a heading marker": re.compile(r"^#{1,6} ", re.M),
    "a table rule": re.compile(r"\|\s*-{3,}"),
    "a code backtick": re.compile(r"`"),
}


@dataclass
class PageCheck:
    page: Path
    title: str
    links: int
    images: int
    problems: list[str] = field(default_factory=list)


def find_browser() -> str | None:
    """The Chromium binary: ``$REPRO_BROWSER``, else the first of :data:`BROWSER_NAMES` on the PATH."""
    if os.environ.get(BROWSER_ENV):
        return os.environ[BROWSER_ENV]
    return next((found for name in BROWSER_NAMES if (found := shutil.which(name))), None)


def _local_path(url: str) -> Path | None:
    parts = urlsplit(url)
    return Path(unquote(parts.path)) if parts.scheme == "file" else None


def check_pages(pages: Sequence[Path], screenshot: Path | None = None) -> list[PageCheck]:
    """Load every page in headless Chromium; ``screenshot``: save the first page, full length, as PNG."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ReproError("checking pages in a browser needs Playwright: pip install -e '.[browser]'") from None
    binary = find_browser()
    if binary is None:
        raise ReproError(
            f"no Chromium found (looked for {', '.join(BROWSER_NAMES)} and ${BROWSER_ENV}); install "
            "one, e.g. `apt-get install chromium`, or set $REPRO_BROWSER to its path"
        )
    checks = []
    with sync_playwright() as playwright:
        # --no-sandbox: containers and CI runners often run as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(executable_path=binary, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for number, path in enumerate(pages):
                page.goto(Path(path).resolve().as_uri(), wait_until="load")
                checks.append(_inspect(page, Path(path)))
                if screenshot is not None and number == 0:
                    Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return checks


def _inspect(page, path: Path) -> PageCheck:
    text = page.inner_text("body")
    hrefs = page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0])"
    )
    check = PageCheck(path, page.title(), len(hrefs), len(images))
    for what, pattern in MARKDOWN_RESIDUE.items():
        found = pattern.search(text)
        if found:
            context = text[max(0, found.start() - 30) : found.end() + 30].replace("\n", " ")
            check.problems.append(f"{what} shows as text: ...{context}...")
    for href in hrefs:
        target = _local_path(href)
        if target is not None and not target.exists():
            check.problems.append(f"link to a missing file: {target}")
    check.problems += [f"image did not load: {src}" for src, loaded in images if not loaded]
    return check
