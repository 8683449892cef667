"""The rendered report in a real headless Chromium: formatted verdicts, no Markdown syntax, working links and
loaded figures; and the check does flag a page that shows raw Markdown, a dead link and a missing image. Skipped
where Playwright or a Chromium binary is not installed (``apt-get install chromium``)."""

from __future__ import annotations

import pytest
from PIL import Image

from repro.report import render_report
from repro.report.browser import check_pages, find_browser
from repro.workflow.notebook import run_notebook
from repro.workflow.registry import load_registry

pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install -e '.[browser]')")
pytestmark = pytest.mark.skipif(find_browser() is None, reason="no Chromium binary (apt-get install chromium)")


def test_the_rendered_report_reads_cleanly_in_chromium(demo_project, tmp_path):
    demo = load_registry(demo_project / "config")["di_demo"]
    run = tmp_path / "results" / "mini" / "di_demo"
    run_notebook(demo, "mini", run, run / "di_demo.ipynb")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(run / "accuracy.png")
    pages = tmp_path / "reports" / "mini"
    index = render_report([demo], "mini", {"di_demo": run}, pages, tmp_path / "logs").with_suffix(".html")
    shot = tmp_path / "index.png"

    checks = check_pages([index, pages / "di_demo.html"], screenshot=shot)

    assert [c.problems for c in checks] == [[], []]
    assert checks[0].title == "Replication status at scale mini" and checks[0].links >= 1
    # the artifact page: the index link back, the executed notebook, and the figure, loaded
    assert checks[1].links == 2 and checks[1].images == 1
    assert shot.stat().st_size > 10_000


def test_the_check_flags_raw_markdown_dead_links_and_missing_images(tmp_path):
    bad = tmp_path / "bad.html"
    bad.write_text(
        "<!doctype html><title>bad</title><body><p>Status: **differs**, see [page](page.md)</p>"
        '<a href="gone.html">gone</a><img src="missing.png" alt="x"></body>'
    )
    (check,) = check_pages([bad])
    text = "\n".join(check.problems)
    assert "bold or emphasis markers shows as text" in text and "a Markdown link shows as text" in text
    assert f"link to a missing file: {tmp_path / 'gone.html'}" in text
    assert "image did not load: missing.png" in text
