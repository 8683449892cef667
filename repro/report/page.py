"""One report page, written once as Markdown (it renders on the repository host) and rendered to HTML from that
same Markdown by markdown-it-py (CommonMark plus tables), so the two never disagree.

Text from the run (evidence, file names, status details) goes through :func:`plain` so that a ``*`` or ``[`` in
it stays a character instead of becoming formatting. Raw HTML in the Markdown is escaped, not passed through.
Relative links to sibling ``.md`` pages point at their ``.html`` twins in the HTML page.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from markdown_it import MarkdownIt

#: characters that would start Markdown formatting inside a table cell or a sentence
_SPECIAL = str.maketrans({c: "\\" + c for c in "\\`*[]<|"})

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.4}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;"
    "vertical-align:top}th{background:#f3f3f3}img{max-width:100%}code{background:#f3f3f3;padding:0 2px}"
)


def plain(text) -> str:
    """``text`` as literal Markdown: formatting characters escaped, line breaks folded."""
    return " ".join(str(text).split()).translate(_SPECIAL)


def _markdown_renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable("table")

    def link_open(renderer, tokens, idx, options, env):
        parts = urlsplit(str(tokens[idx].attrGet("href") or ""))
        if not parts.scheme and not parts.netloc and parts.path.endswith(".md"):
            tokens[idx].attrSet("href", urlunsplit(parts._replace(path=parts.path[:-3] + ".html")))
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


MARKDOWN = _markdown_renderer()


class Page:
    """Markdown blocks under a title; :meth:`write` saves ``<name>.md`` and its HTML rendering ``<name>.html``."""

    def __init__(self, title: str):
        self.title = title  # Markdown (may hold `code`)
        self.blocks: list[str] = []

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append("#" * level + " " + text)

    def text(self, markdown: str) -> None:
        self.blocks.append(markdown)

    def table(self, header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        """Cells are Markdown on one line: pass run data through :func:`plain`."""
        lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
        self.blocks.append("\n".join(lines))

    def image(self, path: str, alt: str) -> None:
        self.blocks.append(f"![{plain(alt)}](<{path}>)")

    def markdown(self) -> str:
        return "\n\n".join([f"# {self.title}", *self.blocks]) + "\n"

    def html(self) -> str:
        title = "".join(t.content for t in MARKDOWN.parseInline(self.title)[0].children or [])
        return (
            f'<!doctype html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head>\n<body>\n{MARKDOWN.render(self.markdown())}</body></html>\n"
        )

    def write(self, path_md: Path) -> None:
        path_md.parent.mkdir(parents=True, exist_ok=True)
        path_md.write_text(self.markdown())
        path_md.with_suffix(".html").write_text(self.html())
