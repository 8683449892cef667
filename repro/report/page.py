"""One report page, written once as Markdown (it renders on the repository host) and rendered to HTML from that
same Markdown by markdown-it-py (CommonMark plus tables), so the two never disagree.

Text from the run (evidence, file names, status details) goes through :func:`plain` so that a ``*`` or ``[`` in
it stays a character instead of becoming formatting. Raw HTML in the Markdown is escaped, not passed through.
Relative links to sibling ``.md`` pages point at their ``.html`` twins in the HTML page.

A page's blocks can also go into another Markdown file (a README) between two marker lines:
:func:`write_marked_block` replaces what lies between them and leaves the rest of the file as it is.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from markdown_it import MarkdownIt

from ..errors import ReproError

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

    def body(self) -> str:
        """The blocks without the title, as Markdown (what goes into a marked block of another file)."""
        return "\n\n".join(self.blocks)

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


def split_marked(path: Path, begin: str, end: str, what: str) -> tuple[str, str, str]:
    """``path``'s text as (everything up to and including the line ``begin``, what lies between the markers,
    everything from the line ``end`` on); refused, naming the file and the fix, unless each marker is there
    once and ``begin`` comes first. ``what`` names the block in the message ("scoreboard")."""
    if not path.is_file():
        raise ReproError(f"{path} does not exist: give the Markdown file that holds the {what} block")
    text = path.read_text()
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start or text.count(begin) != 1 or text.count(end) != 1:
        raise ReproError(
            f"{path} has no {what} block: put a line `{begin}` where the {what} goes and a line `{end}` "
            "below it, once each"
        )
    return text[: start + len(begin)], text[start + len(begin) : stop], text[stop:]


def marked_block(markdown: str) -> str:
    """What :func:`write_marked_block` puts between the markers for ``markdown``."""
    return "\n" + markdown + "\n"


def write_marked_block(path: Path, begin: str, end: str, markdown: str, what: str) -> None:
    """Replace what lies between ``path``'s marker lines ``begin`` and ``end`` with ``markdown``; the rest of the
    file stays as it is (see :func:`split_marked` for what is refused)."""
    head, _, tail = split_marked(path, begin, end, what)
    path.write_text(head + marked_block(markdown) + tail)
