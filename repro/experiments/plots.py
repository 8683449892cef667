"""The figures of the notebooks, drawn from the recorded rows (never from numbers typed in): mean ± std over
seeds of each series against an x field (seaborn's line with its std band), one panel per value of a panel
field; grouped bars with std error bars."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # notebooks run headless under papermill
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402


def _rows(run, table: str, where: Mapping[str, object] | None) -> pd.DataFrame:
    frame = run.frame()
    frame = frame[frame["table"] == table]
    for field, value in (where or {}).items():
        frame = frame[frame[field] == value]
    if frame.empty:
        raise ValueError(
            f"no rows recorded for table {table!r}"
            + (f" with {dict(where)}" if where else "")
            + "; record them before plotting"
        )
    return frame


def curves(
    run,
    *,
    table: str,
    x: str,
    series: str = "column",
    panel: str | None = None,
    xlabel: str = "",
    ylabel: str = "top-1 accuracy (%)",
    logx: bool = False,
    name: str,
    title: str = "",
    where: Mapping[str, object] | None = None,
    reference: Mapping[str, float] | None = None,
) -> Path:
    """Plot the rows of ``table`` (those matching ``where``): the mean ``value`` against field ``x``, one line per
    ``series`` value, one panel per ``panel`` value; the band is the std over the rows of one point (the seeds).
    ``reference``: labelled levels drawn as dashed lines in every panel (e.g. the full real set).
    Saved as ``<name>.png``."""
    frame = _rows(run, table, where)
    panels = list(dict.fromkeys(frame[panel])) if panel else [None]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, value in zip(axes[0], panels):
        part = frame if value is None else frame[frame[panel] == value]
        # series as text: a numeric series (checkpoints, noise) would get a colour scale instead of a legend
        part = part.assign(**{series: part[series].astype(str)})
        sns.lineplot(
            data=part,
            x=x,
            y="value",
            hue=series,
            hue_order=list(dict.fromkeys(part[series])),
            estimator="mean",
            errorbar="sd",
            marker="o",
            ax=ax,
        )
        for k, (label, level) in enumerate((reference or {}).items()):
            ax.axhline(level, linestyle="--", color=f"C{k + 5}", label=str(label))
        ax.set_xlabel(xlabel or x)
        ax.set_ylabel(ylabel)
        if logx:
            ax.set_xscale("log")
        ax.set_title(str(value) if value is not None else title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    path = run.figure(fig, name)
    plt.close(fig)
    return path


def bars(
    run,
    *,
    table: str,
    group: str = "row",
    series: str = "column",
    ylabel: str = "top-1 accuracy (%)",
    name: str,
    title: str = "",
    where: Mapping[str, object] | None = None,
) -> Path:
    """Grouped bars of the mean (± std over seeds) of ``table``'s rows (those matching ``where``), by ``group``
    and ``series``."""
    frame = _rows(run, table, where)
    stats = frame.groupby([group, series], sort=False)["value"].agg(["mean", "std"]).reset_index()
    groups = list(dict.fromkeys(stats[group]))
    kinds = list(dict.fromkeys(stats[series]))
    width = 0.8 / max(1, len(kinds))
    fig, ax = plt.subplots(figsize=(max(4.0, 1.1 * len(groups) * max(1, len(kinds)) * 0.5 + 2), 3.6))
    for k, kind in enumerate(kinds):
        part = stats[stats[series] == kind].set_index(group).reindex(groups)
        ax.bar(
            [g + k * width for g in range(len(groups))],
            part["mean"],
            width,
            yerr=part["std"].fillna(0),
            capsize=2,
            label=str(kind),
        )
    ax.set_xticks([g + width * (len(kinds) - 1) / 2 for g in range(len(groups))])
    ax.set_xticklabels([str(g) for g in groups], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path = run.figure(fig, name)
    plt.close(fig)
    return path


def summary_table(run, table: str) -> pd.DataFrame:
    """Mean ± std and seed count per cell of ``table`` (for display in the notebook)."""
    summary = run.summary()
    return summary[summary["table"] == table].reset_index(drop=True)
