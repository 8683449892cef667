"""Report: render reports/<scale>/ (Markdown and HTML) from the registry and the result CSVs."""

from .render import render_report

__all__ = ["render_report"]
