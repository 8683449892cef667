"""A report page's HTML is its Markdown rendered by markdown-it-py: formatting, tables, links to sibling pages
and run data that stays literal."""

from __future__ import annotations

from repro.report.page import Page, plain


def test_markdown_renders_to_html_with_tables_and_page_links(tmp_path):
    page = Page("Status at scale `mini`")
    page.text(
        "Status: **differs** (1 of 2 claims hold). See [the index](index.md#claims) or [a site](https://x.org/a.md)."
    )
    page.table(["experiment", "status"], [["[di_demo](di_demo.md)", "reproduced"]])
    page.image("../../results/mini/di_demo/figure 1.png", "figure 1")
    page.write(tmp_path / "page.md")
    html = (tmp_path / "page.html").read_text()
    assert "<title>Status at scale mini</title>" in html and "<h1>Status at scale <code>mini</code></h1>" in html
    assert "<strong>differs</strong>" in html and "**" not in html
    assert '<a href="index.html#claims">' in html and '<a href="di_demo.html">' in html
    assert '<a href="https://x.org/a.md">' in html  # only relative page links change
    assert "<table>" in html and "<td>reproduced</td>" in html
    assert '<img src="../../results/mini/di_demo/figure%201.png" alt="figure 1"' in html
    assert (tmp_path / "page.md").read_text().startswith("# Status at scale `mini`\n")


def test_run_data_stays_literal():
    page = Page("t")
    evidence = "a*b and **c** vs [d](e) | <script>alert(1)</script> `f`"
    page.table(["evidence"], [[plain(evidence)]])
    html = page.html()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>" not in html and "<a " not in html and "<code>" not in html
    assert "a*b and **c** vs [d](e) | " in html.replace("&lt;", "<").replace("&gt;", ">")
