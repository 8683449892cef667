"""The README's performance table, written from the benchmark CSVs: one row per core figure, beside its target.

Reads the CSVs the other ``bench/*.py`` scripts wrote under ``--results`` (``results/bench/README.md`` says which
run wrote each) and writes one Markdown table between the lines ``<!-- perf:begin -->`` and ``<!-- perf:end -->``
of ``--readme``, leaving the rest of the file as it is. Each row gives the core, its setting (batch, resolution,
mode), our figure, the target of the project's issues and whether it is met, the paper's figure where the CSV
has one, the share of the bf16 matrix-product rate measured on the same GPU, the device, the commit and the CSV.
A figure whose CSV is not there yet keeps its row ("not measured"). A compiled case whose warm-up took under a
second compiled nothing: it replayed a step compiled for an earlier case, and its row gets a footnote saying so.

    python bench/perf_table.py --readme README.md      # rewrite the README's table from results/bench
    python bench/perf_table.py --print                 # print the table instead
    python bench/perf_table.py --check                 # exit 1 if the README's table is not what the CSVs give
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from repro.errors import ReproError
from repro.report.page import Page, marked_block, plain, split_marked, write_marked_block

BEGIN, END = "<!-- perf:begin -->", "<!-- perf:end -->"

#: the targets on one H100, from the project's issue 14 (performance of the cores) and issue 13 (the retrained
#: mini model's fast pretraining step): (at least or at most, the figure, its unit)
TARGETS = {
    "mini inversion": (">=", 40_000, "image-steps/s"),
    "mini sampling": (">=", 100_000, "UNet evaluations/s"),
    "SD-shaped inversion": ("<=", 0.6, "s per embedding"),
    "SD-shaped sampling": ("<=", 0.015, "s per image"),
    "classifier, one training": (">=", 50_000, "images/s"),
    "classifier, grid": (">=", 150_000, "images/s"),
    "UNet pretraining": (">=", 50_000, "images/s"),
}
#: a compiled case whose warm-up took less than this compiled nothing: it reused an earlier case's compiled step
COMPILE_SECONDS = 1.0
REUSED_COMPILE = (
    "reused an earlier case's compiled step: its warm-up ({warmup:.2g} s) compiled nothing, so it timed the step "
    "compiled for an earlier row of the same CSV, not a step of its own setting"
)


@dataclass(frozen=True)
class Figure:
    """One core figure: the rows of ``csv`` that measure it, the column that holds it, and how to show it."""

    core: str
    csv: str
    where: Callable[[pd.DataFrame], pd.Series]  # the rows that measure it (among the rows whose status is ok)
    column: str
    setting: Callable[[dict], str]  # the setting of one row
    planned: str  # the setting, for the row of a CSV not written yet
    target: str | None = None  # a key of TARGETS
    unit: str = ""  # the figure's unit (default: its target's)
    paper: tuple[str, str] | None = None  # (the column of the paper's figure, its unit)
    per: str | None = None  # one table row per value of this column (its best row), instead of the best row only
    lower: bool = False  # a lower value is the better one (a time); a target's sense decides where there is one

    def __post_init__(self):
        if not self.unit and self.target:
            object.__setattr__(self, "unit", TARGETS[self.target][2])
        if self.target:
            object.__setattr__(self, "lower", TARGETS[self.target][0] == "<=")


def compiled(value) -> bool:
    """Whether a CSV's compile column says the case was compiled (True, a torch.compile mode)."""
    return not pd.isna(value) and str(value).strip().lower() not in ("", "false", "eager", "none")


def _on(row: dict) -> str:
    return "compiled" if compiled(row["compile"]) else "eager"


def inversion(scale: str, suffix: str, where, column: str, planned: str) -> Figure:
    """Diffusion Inversion stage 1 (``bench/inversion_speed.py``): our path's best row among ``where``."""
    return Figure(
        f"{scale} inversion (DI stage 1)",
        f"inversion_speed{suffix}.csv",
        lambda t: (t["path"] == "ours") & where(t),
        column,
        lambda r: f"batch {r['batch']}, {r['resolution']} px, {r['precision']}, {_on(r)}",
        planned,
        f"{scale} inversion",
        paper=("paper_a40_sec_per_embedding", "s per embedding (A40)"),
    )


def sampling(scale: str, suffix: str, column: str, planned: str, resolution: int | None = None) -> Figure:
    """Diffusion Inversion stage 2 (``bench/sampling_speed.py``): the best row of DDIM at 100 steps (at
    ``resolution``, if given)."""
    return Figure(
        f"{scale} sampling (DI stage 2)",
        f"sampling_speed{suffix}.csv",
        lambda t: (
            (t["scheduler"] == "ddim") & (t["steps"] == 100) & (t["resolution"] == (resolution or t["resolution"]))
        ),
        column,
        lambda r: f"batch {r['batch']}, {r['resolution']} px, DDIM {r['steps']} steps with guidance, {_on(r)}",
        planned,
        f"{scale} sampling",
        paper=("paper_a40_sec_per_image_100_steps", "s per image (A40)"),
    )


def _resnet18_at_128(t: pd.DataFrame) -> pd.Series:
    return (t["arch"] == "resnet18") & (t["resolution"] == 32) & (t["batch_size"] == 128)


FIGURES = [
    inversion("mini", "_mini", lambda t: t["compile"].map(compiled), "image_steps_per_second", "our path, compiled"),
    sampling("mini", "_mini", "unet_evaluations_per_second", "DDIM 100 steps with guidance"),
    inversion("SD-shaped", "", lambda t: t["resolution"] == 128, "sec_per_embedding", "128 px, our path"),
    sampling("SD-shaped", "", "sec_per_image", "128 px, DDIM 100 steps with guidance", resolution=128),
    Figure(
        "ResNet-18 classifier, one training",
        "classifier_speed.csv",
        lambda t: _resnet18_at_128(t) & (t["mode"] == "fast"),
        "images_per_second",
        lambda r: f"batch {r['batch_size']}, {r['resolution']} px, mode {r['mode']}",
        "batch 128, 32 px, mode fast",
        "classifier, one training",
    ),
    Figure(
        "ResNet-18 classifier, grid of ≥ 8 trainings",
        "classifier_speed.csv",
        lambda t: _resnet18_at_128(t) & (t["trainings"] >= 8),
        "images_per_second",
        lambda r: f"batch {r['batch_size']}, {r['resolution']} px, {r['mode']}",
        "batch 128, 32 px, a grid of 8 or more",
        "classifier, grid",
        unit="images/s in all",
    ),
    Figure(
        "mini UNet pretraining step",
        "pretrain_speed.csv",
        lambda t: t["stage"] == "unet",
        "images_per_second",
        lambda r: (
            f"batch {r['batch']}, compile {r['compile']}, attention {r['attention']}"
            + (f", {r['memory_format']}" if _present(r.get("memory_format")) else "")
            + (f", heads {r['heads']:.0f}" if _present(r.get("heads")) else "")
        ),
        "the UNet stage",
        "UNet pretraining",
        per="attention",
    ),
    *(
        Figure(
            f"DDIS cost: {unit}",
            "ddis_speed.csv",
            lambda t, unit=unit: t["unit"] == unit,
            "seconds",
            lambda r: (
                plain(r["measured"])
                + (f", batch {r['batch']:.0f}" if _present(r["batch"]) else "")
                + f", {r['resolution']} px"
                + (", DAG steps as CUDA graphs" if _present(r.get("graphed")) and bool(r["graphed"]) else "")
            ),
            unit,
            unit=f"s per {noun}",
            paper=("paper_seconds", f"s per {noun}"),
            lower=True,
        )
        for unit, noun in (
            ("class token", "class"),
            ("DAG image", "image"),
            ("DeepInversion image", "image"),
            ("DDIS image, tokens included", "image"),
        )
    ),
]

HEADER = ["core", "setting", "ours", "target", "met", "paper", "share of bf16 peak", "device", "commit", "CSV"]


def number(x: float) -> str:
    """Thousands separators from 1,000 up, three significant digits below."""
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def _present(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))


def shown_rows(path: Path, figure: Figure) -> list[dict]:
    """The rows of ``path`` the table shows for ``figure``: among the rows whose case ran (status ok, where the
    CSV has a status), the best one, or the best of each value of ``figure.per``. A CSV that lacks a column the
    figure reads is refused."""
    table = pd.read_csv(path)
    if "status" in table.columns:
        table = table[table["status"] == "ok"]
    needed = {figure.column, "device", "git_commit", *(figure.paper[:1] if figure.paper else ())}
    try:
        if needed - set(table.columns):
            raise KeyError(", ".join(sorted(needed - set(table.columns))))
        rows = table[figure.where(table) & table[figure.column].notna()]
    except KeyError as err:
        raise ReproError(
            f"{path} lacks a column this table reads ({err.args[0]}): it was written by another version of its "
            "bench script; run the script again (results/bench/README.md names it)"
        ) from None
    rows = rows.sort_values(figure.column, ascending=figure.lower, kind="stable")
    return (rows.drop_duplicates(figure.per).sort_index() if figure.per else rows.head(1)).to_dict("records")


def target_cells(figure: Figure, value: float | None) -> tuple[str, str]:
    """The target as text and ✓ / ✗ (— without a target or a figure)."""
    if figure.target is None:
        return "—", "—"
    sense, goal, unit = TARGETS[figure.target]
    text = f"{'≥' if sense == '>=' else '≤'} {number(goal)} {unit}"
    if value is None:
        return text, "—"
    met = value >= goal if sense == ">=" else value <= goal
    return text, "✓" if met else "✗"


def footnote(row: dict) -> str | None:
    """Why a row does not measure its own setting, from the row itself; None if nothing is wrong."""
    warmup = row.get("warmup_seconds")
    if "compile" in row and compiled(row["compile"]) and _present(warmup) and warmup < COMPILE_SECONDS:
        return REUSED_COMPILE.format(warmup=warmup)
    return None


def perf_page(results: Path, link: Callable[[Path], str] = str) -> Page:
    """The table of every figure of ``FIGURES`` from the CSVs in ``results``, with its footnotes; ``link`` turns a
    CSV's path into the link to it."""
    if not results.is_dir():
        raise ReproError(
            f"{results} is not a folder: give --results the folder of the benchmark CSVs (results/bench in the "
            "checkout), or run the bench scripts there first"
        )
    if not any((results / name).is_file() for name in {f.csv for f in FIGURES}):
        raise ReproError(
            f"{results} holds none of the benchmark CSVs ({', '.join(sorted({f.csv for f in FIGURES}))}): give "
            "--results the folder the bench scripts wrote (results/bench in the checkout)"
        )
    notes: list[str] = []
    rows = []
    for figure in FIGURES:
        path = results / figure.csv
        csv = f"[{figure.csv}](<{link(path)}>)"
        shown = shown_rows(path, figure) if path.is_file() else []
        if not shown:
            why = "no row of it ran" if path.is_file() else "no CSV yet"
            rows.append([figure.core, figure.planned, f"not measured ({why})", *target_cells(figure, None)])
            rows[-1] += ["—"] * (len(HEADER) - len(rows[-1]) - 1) + [csv]
        for row in shown:
            value = float(row[figure.column])
            target, met = target_cells(figure, value)
            setting = figure.setting(row)
            note = footnote(row)
            if note is not None:
                if note not in notes:
                    notes.append(note)
                setting += f" [{notes.index(note) + 1}]"
            paper = row.get(figure.paper[0]) if figure.paper else None
            share, peak = row.get("share_of_peak"), row.get("peak_tflops")
            rows.append(
                [
                    figure.core,
                    setting,
                    f"{number(value)} {figure.unit}",
                    target,
                    met,
                    f"{number(float(paper))} {figure.paper[1]}" if _present(paper) else "—",
                    f"{100 * share:.3g} %" + (f" of {peak:.0f} TFLOP/s" if _present(peak) else "")
                    if _present(share)
                    else "—",
                    plain(str(row["device"]).removeprefix("NVIDIA ")),
                    f"`{row['git_commit']}`",
                    csv,
                ]
            )
    page = Page("Performance")
    page.table(HEADER, rows)
    for i, note in enumerate(notes, 1):
        page.text(f"[{i}] {note}.")
    return page


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="results/bench", help="folder of the benchmark CSVs")
    parser.add_argument("--readme", default="README.md", help="Markdown file whose perf block is rewritten")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--print", action="store_true", help="print the table instead of writing it")
    output.add_argument("--check", action="store_true", help="exit 1 if the README's block is not the table")
    args = parser.parse_args(argv)
    results, readme = Path(args.results), Path(args.readme)
    page = perf_page(results, lambda path: os.path.relpath(path, Path.cwd() if args.print else readme.parent))
    if args.print:
        print(page.body())
    elif args.check:
        if split_marked(readme, BEGIN, END, "performance table")[1] != marked_block(page.body()):
            print(
                f"{readme}'s performance table is not what {results} gives: run python bench/perf_table.py "
                f"--results {results} --readme {readme}",
                file=sys.stderr,
            )
            return 1
        print(f"{readme}'s performance table is what {results} gives")
    else:
        write_marked_block(readme, BEGIN, END, page.body(), "performance table")
        print(f"performance table of {results} written into {readme}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except ReproError as err:
        print(f"perf_table: error: {err}", file=sys.stderr)
        sys.exit(2)
