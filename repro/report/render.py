"""Render ``reports/<scale>/``: an index with the status of every artifact and every claim, one page per
artifact with our numbers beside the paper's and the run's figures, the scoreboard of the claims
(:mod:`.scoreboard`) and, where the workflow gathered one, the time and memory of every job (:mod:`.jobs`); each
page Markdown, and HTML rendered from it (:mod:`.page`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ..provenance import changed_settings, config_hash
from ..results.tables import (
    Status,
    beside_paper,
    claim_text,
    conventions,
    load_results,
    summarise,
)
from ..workflow.notebook import ran_with
from ..workflow.registry import Experiment
from .jobs import jobs_page
from .page import Page, plain
from .scoreboard import scoreboard_page
from .verdicts import ClaimVerdict, artifact_outcome

PAPER_TITLES = {"diffusion_inversion": "Diffusion Inversion", "ddis": "DDIS"}


def _number(value, std=None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    text = f"{value:.4g}"
    if std is not None and not (isinstance(std, float) and math.isnan(std)):
        text += f" ± {std:.2g}"
    return text


def settings_changed(experiment: Experiment, scale: str, folder: Path, results: pd.DataFrame | None) -> str:
    """Where the rows were computed with other settings than the experiment's at this scale now (their
    ``config_hash``, the hash of the params the notebook ran with, differs from the hash of the registry's params
    today): a sentence saying so, which settings differ (from the executed notebook, where it is kept) and how to
    refresh the numbers; else empty. The page's stand-in and protocol describe today's settings, so numbers from
    older ones must not pass for theirs."""
    if results is None or "config_hash" not in results:
        return ""
    params = experiment.params(scale)
    now = config_hash(params)
    then = sorted(set(results["config_hash"].dropna().astype(str)) - {now, "timing"})  # timing rows: no params
    if not then:
        return ""
    commits = ", ".join(computed_at(results))
    ran = ran_with(folder / f"{experiment.id}.ipynb")
    # plain() folds whitespace, the leading space included: the space goes outside it
    differs = changed_settings(ran, params) if ran is not None else ""
    differ = f" {plain(f'What differs: {differs}.')}" if differs else ""
    return (
        f"**These numbers were computed with other settings than this experiment's at scale `{scale}` today** "
        f"(config_hash {', '.join(then)} in the rows" + (f", commit {commits}" if commits else "") + f"; the "
        f"settings in config/ now hash to {now}): the protocol and stand-in on this page describe today's "
        f"settings, not the numbers'.{differ} Rerun it to refresh them: `snakemake --cores all --config "
        f"scale={scale} experiments='[{experiment.id}]'`."
    )


def named_generators(params) -> set[str]:
    """Every generator an experiment's params name: its ``generator``, and those of its cases (Figure 4 times
    several, each case naming its own)."""
    if isinstance(params, dict):
        return set().union(
            *(
                {value} if key == "generator" and isinstance(value, str) else named_generators(value)
                for key, value in params.items()
            )
        )
    if isinstance(params, list):
        return set().union(*map(named_generators, params))
    return set()


def generator_changed(experiment: Experiment, scale: str, results: pd.DataFrame | None) -> str:
    """Where the rows were computed with other weights of a generator the experiment names than those it loads
    today (their ``generator`` label, e.g. ``mini (6c3d665fc6acb26c)``, against the label of the weights in place):
    a sentence saying so and how to refresh the numbers; else empty. A retrained mini model changes every number
    that samples from it, with no setting changed. A generator whose weights have no local fingerprint (a hub id,
    the random SD-shaped models) is not compared."""
    if results is None or "generator" not in results:
        return ""
    from ..generators.bundle import generator_label

    labels = set(results["generator"].dropna().astype(str))
    changed = []
    for source in sorted(named_generators(experiment.params(scale))):
        now = generator_label(source)
        if "(hub:" in now:
            continue
        then = sorted(label for label in labels - {now} if label == source or label.startswith(f"{source} ("))
        if then:
            unnamed = (
                " (a bare name: rows written before they named the weights' fingerprint)" if source in then else ""
            )
            changed.append((source, f"the rows name {', '.join(then)}{unnamed}, the generator loads {now}"))
    if not changed:
        return ""
    return (
        f"**These numbers were computed with other weights of the {', '.join(f'`{s}`' for s, _ in changed)} "
        f"generator than the ones in place today**: {'; '.join(text for _, text in changed)}. Rerun it to refresh "
        f"them: `snakemake --cores all --config scale={scale} experiments='[{experiment.id}]'`."
    )


def stale_notes(experiment: Experiment, scale: str, folder: Path, results: pd.DataFrame | None) -> list[str]:
    """What makes an artifact's numbers older than the project today: changed settings, other generator weights
    (one sentence each, for its page; empty when its numbers are today's)."""
    notes = (settings_changed(experiment, scale, folder, results), generator_changed(experiment, scale, results))
    return [note for note in notes if note]


def computed_at(results: pd.DataFrame | None) -> list[str]:
    """The commits whose code computed an artifact's rows (their ``git_commit``), sorted."""
    if results is None or "git_commit" not in results:
        return []
    return sorted(results["git_commit"].dropna().astype(str).unique())


def _artifact_page(
    experiment: Experiment,
    scale: str,
    folder: Path,
    page_dir: Path,
    status: Status,
    verdicts: list[ClaimVerdict],
    results: pd.DataFrame | None,
    notes: list[str],
) -> Page:
    page = Page(f"{PAPER_TITLES[experiment.paper]} {experiment.artifact}: {experiment.title}")
    page.text(f"[All artifacts at scale `{scale}`](index.md)")
    page.text(
        f"Experiment `{experiment.id}` at scale `{scale}`. Status: **{status.label}**"
        + (f" ({plain(status.detail)})" if status.detail else "")
        + "."
    )
    for note in notes:
        page.text(note)
    page.text(f"Protocol: {experiment.spec['protocol'].strip()}")
    if experiment.stand_in(scale):
        page.text(f"Stand-in at this scale: {experiment.stand_in(scale)}")
    for convention in conventions(experiment, scale):
        page.text(plain(convention))
    table = beside_paper(experiment, summarise(results) if results is not None else None)
    page.heading("Our numbers beside the paper's")
    page.text(
        "Ours: mean ± std over seeds of this run. Paper: as reported. A dash means the side did not report "
        "that cell (at this scale, the paper's setting may have no analogue: see below)."
    )
    if table["unit"].astype(str).str.contains("@").any():
        page.text(
            "A unit such as fid@pool-resnet18 names the feature network our metric was computed on: it is not "
            "the paper's Inception/VGG metric and is not on its scale; compare directions, not values. "
            "A unit's k=N is the neighbourhood size of precision, recall, density or coverage."
        )
    page.table(
        ["table", "row", "column", "unit", "ours", "seeds", "paper", "source"],
        [
            [
                plain(r.table),
                plain(r.row),
                plain(r.column),
                plain(r.unit),
                _number(r.ours, r.ours_std),
                "" if pd.isna(r.seeds) else int(r.seeds),
                _number(r.paper, r.paper_std),
                "" if pd.isna(r.where) else plain(r.where),
            ]
            for r in table.itertuples()
        ],
    )
    if verdicts:
        page.heading("Claims")
        page.table(
            ["claim", "check", "holds at this scale", "evidence"],
            [[plain(claim_text(v.claim)), plain(v.claim["check"]), v.verdict, plain(v.evidence)] for v in verdicts],
        )
    missing = experiment.spec.get("rows_without_mini_analogue", [])
    if missing and scale != "paper":
        page.heading("Rows only the paper scale can fill")
        page.table(["row", "why"], [[plain(m["row"]), plain(m["reason"])] for m in missing])
    figures = sorted(folder.glob("*.png")) if folder.exists() else []
    if figures:
        page.heading("Figures")
        for figure in figures:
            page.image(os.path.relpath(figure, page_dir), figure.stem)
    notebook = folder / f"{experiment.id}.ipynb"
    if notebook.exists():
        page.text(f"Executed notebook: [{plain(notebook.name)}](<{os.path.relpath(notebook, page_dir)}>)")
    return page


def render_report(
    experiments: Sequence[Experiment],
    scale: str,
    runs: Mapping[str, Path],
    page_dir: Path,
    logs_dir: Path = Path("logs"),
    jobs: Sequence[Path] = (),
) -> Path:
    """Write ``page_dir/index.{md,html}``, one page per artifact from ``runs`` (experiment id -> its result
    folder, ``results/<scale>/<id>``), the scoreboard and, from ``jobs`` (the jobs.csv of each run that made
    them), the jobs page; return the index path."""
    page_dir = Path(page_dir)
    index = Page(f"Replication status at scale `{scale}`")
    index.text(
        "Every artifact of the two papers, whether this scale reproduces it, and why a cell is empty. "
        "Numbers come only from the result CSVs of the runs, each row naming the commit, generator and device "
        "that computed it; the paper's are shown beside them on each page."
    )
    index.text("[The scoreboard](scoreboard.md): every claim, reproduced, differs or undecided at this scale.")
    if jobs:
        jobs_page(jobs, scale).write(page_dir / "jobs.md")
        index.text("[Time and memory of every job](jobs.md): where the run's time went.")
    status_rows, claim_rows, outcomes, stale, commits = [], [], [], [], set()
    for experiment in experiments:
        folder = Path(runs[experiment.id])
        status, verdicts = artifact_outcome(experiment, scale, folder, logs_dir)
        outcomes += verdicts
        results = load_results(folder) if not experiment.skip_reason(scale) else None
        notes = stale_notes(experiment, scale, folder, results)
        if notes:
            stale.append(experiment.id)
        page = _artifact_page(experiment, scale, folder, page_dir, status, verdicts, results, notes)
        page.write(page_dir / f"{experiment.id}.md")
        computed = computed_at(results)
        commits.update(computed)
        status_rows.append(
            [
                f"[{experiment.id}]({experiment.id}.md)",
                PAPER_TITLES[experiment.paper],
                plain(experiment.artifact),
                status.label,
                plain(status.detail),
                ", ".join(computed) or "—",
            ]
        )
        claim_rows += [[plain(claim_text(v.claim)), experiment.id, v.verdict, plain(v.evidence)] for v in verdicts]
    index.heading("Artifacts")
    index.table(["experiment", "paper", "artifact", "status", "detail", "commit"], status_rows)
    if len(commits) > 1:
        index.text(
            f"These results come from {len(commits)} commits ({', '.join(sorted(commits))}), not from one run of "
            f"one commit: `snakemake --cores all --config scale={scale} --forceall` computes them all again."
        )
    if stale:
        index.text(
            "Computed with settings or generator weights that have changed since (each page says which and how to "
            f"rerun it): {', '.join(f'[{name}]({name}.md)' for name in stale)}."
        )
    index.heading("Claims")
    index.table(["claim", "experiment", "reproduced at this scale", "evidence"], claim_rows)
    index.write(page_dir / "index.md")
    scoreboard_page(outcomes, scale, stale=stale).write(page_dir / "scoreboard.md")
    return page_dir / "index.md"
