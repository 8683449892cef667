"""Render ``reports/<scale>/``: an index with the status of every artifact and every claim, and one page per
artifact with our numbers beside the paper's and the run's figures. Markdown (it renders on the repository
host) and HTML from the same tables.
"""

from __future__ import annotations

import html
import math
import os
from pathlib import Path
from typing import Sequence

import pandas as pd

from ..results.tables import (artifact_status, beside_paper, claim_text, conventions, load_claims, load_results,
                              summarise)
from ..workflow.registry import Experiment

PAPER_TITLES = {"diffusion_inversion": "Diffusion Inversion", "ddis": "DDIS"}


def _number(value, std=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.4g}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.2g}"
    return text


def _markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(cell, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(cell, r)) + " |" for r in rows]
    return "\n".join(lines)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Page:
    """Blocks written once, emitted as Markdown and as HTML."""

    def __init__(self, title: str):
        self.title = title
        self.blocks: list[tuple[str, tuple]] = []

    def heading(self, text: str, level: int = 2):
        self.blocks.append(("heading", (text, level)))

    def text(self, text: str):
        self.blocks.append(("text", (text,)))

    def table(self, header, rows):
        self.blocks.append(("table", (list(header), [list(r) for r in rows])))

    def image(self, path: str, alt: str):
        self.blocks.append(("image", (path, alt)))

    def link_list(self, items: Sequence[tuple[str, str]]):
        self.blocks.append(("links", (list(items),)))

    def markdown(self) -> str:
        out = [f"# {self.title}"]
        for kind, args in self.blocks:
            if kind == "heading":
                out.append("#" * args[1] + " " + args[0])
            elif kind == "text":
                out.append(args[0])
            elif kind == "table":
                out.append(_markdown_table(*args))
            elif kind == "image":
                out.append(f"![{args[1]}]({args[0]})")
            elif kind == "links":
                out.append("\n".join(f"- [{t}]({h})" for t, h in args[0]))
        return "\n\n".join(out) + "\n"

    def html(self) -> str:
        out = [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, args in self.blocks:
            if kind == "heading":
                out.append(f"<h{args[1]}>{html.escape(args[0])}</h{args[1]}>")
            elif kind == "text":
                out.append(f"<p>{html.escape(args[0])}</p>")
            elif kind == "table":
                out.append(_html_table(*args))
            elif kind == "image":
                out.append(f'<img src="{html.escape(args[0])}" alt="{html.escape(args[1])}" style="max-width:100%">')
            elif kind == "links":
                items = "".join(f'<li><a href="{html.escape(h.replace(".md", ".html"))}">{html.escape(t)}</a></li>'
                                for t, h in args[0])
                out.append(f"<ul>{items}</ul>")
        style = ("body{font-family:sans-serif;max-width:70em;margin:2em auto}table{border-collapse:collapse}"
                 "td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}")
        return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>"
                f"<style>{style}</style></head><body>{''.join(out)}</body></html>\n")

    def write(self, path_md: Path):
        path_md.parent.mkdir(parents=True, exist_ok=True)
        path_md.write_text(self.markdown())
        path_md.with_suffix(".html").write_text(self.html())


def _artifact_page(experiment: Experiment, scale: str, folder: Path, page_dir: Path, status) -> Page:
    page = Page(f"{PAPER_TITLES[experiment.paper]} {experiment.artifact}: {experiment.title}")
    page.text(f"Experiment `{experiment.id}` at scale `{scale}`. Status: **{status.label}**"
              + (f" ({status.detail})" if status.detail else "") + ".")
    page.text(f"Protocol: {experiment.spec['protocol'].strip()}")
    if experiment.stand_in(scale):
        page.text(f"Stand-in at this scale: {experiment.stand_in(scale)}")
    for convention in conventions(experiment, scale):
        page.text(convention)
    results = load_results(folder) if not experiment.skip_reason(scale) else None
    table = beside_paper(experiment, summarise(results) if results is not None else None)
    page.heading("Our numbers beside the paper's")
    page.text("Ours: mean ± std over seeds of this run. Paper: as reported. A dash means the side did not report "
              "that cell (at this scale, the paper's setting may have no analogue: see below).")
    if table["unit"].astype(str).str.contains("@").any():
        page.text("A unit such as fid@pool-resnet18 names the feature network our metric was computed on: it is not "
                  "the paper's Inception/VGG metric and is not on its scale; compare directions, not values. "
                  "A unit's k=N is the neighbourhood size of precision, recall, density or coverage.")
    page.table(
        ["table", "row", "column", "unit", "ours", "seeds", "paper", "source"],
        [[r.table, r.row, r.column, r.unit, _number(r.ours, r.ours_std),
          "" if pd.isna(r.seeds) else int(r.seeds), _number(r.paper, r.paper_std),
          "" if pd.isna(r.where) else r.where] for r in table.itertuples()],
    )
    claims = load_claims(folder) if results is not None else None
    if experiment.claims:
        page.heading("Claims")
        verdicts = {} if claims is None else {c["claim"]: c for c in claims.to_dict("records")}
        page.table(["claim", "check", "holds at this scale", "evidence"], [
            [claim_text(c), c["check"], _verdict(verdicts.get(c["id"])),
             (verdicts.get(c["id"]) or {}).get("evidence", "")] for c in experiment.claims])
    missing = experiment.spec.get("rows_without_mini_analogue", [])
    if missing and scale != "paper":
        page.heading("Rows only the paper scale can fill")
        page.table(["row", "why"], [[m["row"], m["reason"]] for m in missing])
    figures = sorted(folder.glob("*.png")) if folder.exists() else []
    if figures:
        page.heading("Figures")
        for figure in figures:
            page.image(os.path.relpath(figure, page_dir), figure.stem)
    notebook = folder / f"{experiment.id}.ipynb"
    if notebook.exists():
        page.text(f"Executed notebook: [{notebook.name}]({os.path.relpath(notebook, page_dir)})")
    return page


def _verdict(claim_row) -> str:
    if claim_row is None:
        return "not tested"
    return {"true": "yes", "false": "no"}.get(str(claim_row["holds"]).lower(), "undecided")


def render_report(
    experiments: Sequence[Experiment], scale: str, results_dir: Path, reports_dir: Path, logs_dir: Path = Path("logs")
) -> Path:
    """Write ``reports_dir/<scale>/index.{md,html}`` and one page per artifact; return the index path."""
    page_dir = Path(reports_dir) / scale
    index = Page(f"Replication status at scale `{scale}`")
    index.text("Every artifact of the two papers, whether this scale reproduces it, and why a cell is empty. "
               "Numbers come only from this run's CSVs; the paper's are shown beside them on each page.")
    status_rows, claim_rows = [], []
    for experiment in experiments:
        folder = Path(results_dir) / scale / experiment.id
        status = artifact_status(experiment, scale, folder, Path(logs_dir) / scale / f"{experiment.id}.failed.ipynb")
        _artifact_page(experiment, scale, folder, page_dir, status).write(page_dir / f"{experiment.id}.md")
        status_rows.append([f"[{experiment.id}]({experiment.id}.md)", PAPER_TITLES[experiment.paper],
                            experiment.artifact, status.label, status.detail])
        claims = load_claims(folder) if status.label in ("reproduced", "differs", "ran") else None
        verdicts = {} if claims is None else {c["claim"]: c for c in claims.to_dict("records")}
        for claim in experiment.claims:
            found = verdicts.get(claim["id"])
            ran = status.label in ("reproduced", "differs", "ran")
            claim_rows.append([claim_text(claim), experiment.id,
                               _verdict(found) if found else "not tested" if ran else status.label,
                               (found or {}).get("evidence", "")])
    index.heading("Artifacts")
    index.table(["experiment", "paper", "artifact", "status", "detail"], status_rows)
    index.heading("Claims")
    index.table(["claim", "experiment", "reproduced at this scale", "evidence"], claim_rows)
    index.write(page_dir / "index.md")
    return page_dir / "index.md"
