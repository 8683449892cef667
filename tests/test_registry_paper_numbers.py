"""Every number the registry attributes to a paper is a number, cites a line, and is on that line."""

from __future__ import annotations

import math
import re
from collections import Counter

import pytest

from repro.workflow.registry import load_registry
from tests.conftest import CONFIG_DIR, REPO

PAPERS = REPO.parent / "shared" / "papers"
PAPER_FILES = {"diffusion_inversion": "diffusion-inversion.txt", "ddis": "ddis.txt"}
WHERE = re.compile(r"^(?P<file>[a-z-]+\.txt) lines? (?P<first>\d+)(?:-(?P<last>\d+))?$")

#: Every cell of every paper table, so a dropped row or column fails: (experiment, table) -> cells.
TABLE_CELLS = {
    ("di_table1_vae_information_loss", "Table 1"): 12,
    ("di_table2_lecf_quality", "Table 2"): 8,
    ("di_table2_lecf_quality", "Table 10"): 45,
    ("di_table3_knn_retrieval", "Table 3"): 12,
    ("di_table4_augmentations", "Table 4"): 16,
    ("di_fig8d_interpolation", "Table 5"): 20,
    ("di_table6_vae_test", "Table 6"): 12,
    ("di_table7_real_plus_synthetic", "Table 7"): 21,
    ("di_fig8d_interpolation", "Table 8"): 25,
    ("di_fig8c_gaussian_noise", "Table 9"): 25,
    ("ddis_table_quality", "Main Results: Synthetic Image Quality"): 30,
    ("ddis_table_ablation", "Ablation Study (PACS Art Painting)"): 16,
}

#: Numbers the papers write in words.
WORDS = {"twice": 2.0, "three": 3.0}
SUFFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6}
NUMBER = re.compile(r"(\d+(?:,\d{3})*(?:\.\d+)?)([kKM](?![A-Za-z]))?")

SPECS = {e.id: e.spec for e in load_registry(CONFIG_DIR).values()}
NUMBERS = [(name, i, n) for name, spec in SPECS.items() for i, n in enumerate(spec["paper_numbers"])]


def numbers_in(text: str) -> list[float]:
    """Every number written in ``text``: decimals, thousands separators, k/K/M suffixes, and number words."""
    found = [float(digits.replace(",", "")) * SUFFIX[suffix or ""] for digits, suffix in NUMBER.findall(text)]
    found += [value for word, value in WORDS.items() if re.search(rf"\b{word}\b", text)]
    return found


def cited_text(entry: dict) -> tuple[str, str]:
    match = WHERE.match(entry["where"])
    assert match, f"where={entry['where']!r} should read '<paper>.txt line N' or 'lines N-M'"
    first = int(match["first"])
    last = int(match["last"] or first)
    assert first <= last <= first + 2, entry["where"]
    return match["file"], (first, last)


def test_numbers_in_reads_every_notation():
    assert numbers_in("0.20 26.2 and 2K, 8M, 30k, 18,444 h, nearly twice, 2-3x") == [
        0.20,
        26.2,
        2000.0,
        8e6,
        3e4,
        18444.0,
        2.0,
        3.0,
        2.0,
    ]


@pytest.mark.parametrize("name, index, entry", NUMBERS, ids=[f"{n}[{i}]" for n, i, _ in NUMBERS])
def test_paper_number_is_numeric_and_cited(name, index, entry):
    for key in ("value", "std"):
        if key in entry:
            assert isinstance(entry[key], (int, float)) and not isinstance(entry[key], bool)
            assert math.isfinite(entry[key])
    paper_file, _ = cited_text(entry)
    assert paper_file == PAPER_FILES[SPECS[name]["paper"]], f"{name} cites the other paper"


@pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/papers is not present")
@pytest.mark.parametrize("name, index, entry", NUMBERS, ids=[f"{n}[{i}]" for n, i, _ in NUMBERS])
def test_paper_number_is_on_its_cited_line(name, index, entry):
    paper_file, (first, last) = cited_text(entry)
    lines = (PAPERS / paper_file).read_text().splitlines()
    text = " ".join(lines[first - 1 : last])
    found = numbers_in(text)
    for key in ("value", "std"):
        if key in entry:
            assert any(math.isclose(entry[key], x, abs_tol=1e-9) for x in found), (
                f"{name}: {entry['table']} / {entry['row']} / {entry['column']}: {key} {entry[key]} is not on "
                f"{entry['where']}: {text!r}"
            )


@pytest.mark.parametrize("experiment, table", sorted(TABLE_CELLS))
def test_every_table_cell_is_transcribed_once(experiment, table):
    cells = [(n["row"], n["column"]) for n in SPECS[experiment]["paper_numbers"] if n["table"] == table]
    assert len(cells) == TABLE_CELLS[(experiment, table)]
    assert not [cell for cell, count in Counter(cells).items() if count > 1], "a cell is transcribed twice"


@pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/papers is not present")
@pytest.mark.parametrize("experiment, table", sorted(TABLE_CELLS))
def test_table_rows_keep_the_papers_column_order(experiment, table):
    """Within a table row, the registry lists the cells in the paper's left-to-right order, so no column is swapped."""
    by_line: dict[str, list[float]] = {}
    for entry in SPECS[experiment]["paper_numbers"]:
        if entry["table"] == table:
            by_line.setdefault(entry["where"], []).extend([entry["value"]] + ([entry["std"]] if "std" in entry else []))
    for where, ours in by_line.items():
        paper_file, (first, last) = cited_text({"where": where})
        on_line = numbers_in(" ".join((PAPERS / paper_file).read_text().splitlines()[first - 1 : last]))
        assert len(on_line) >= len(ours), where
        assert all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(on_line[-len(ours) :], ours)), (
            f"{table}, {where}: paper row {on_line} does not end with the registry's cells {ours}"
        )


def _number(experiment: str, table: str, row: str, column: str) -> dict:
    matches = [
        n for n in SPECS[experiment]["paper_numbers"] if (n["table"], n["row"], n["column"]) == (table, row, column)
    ]
    assert len(matches) == 1, (experiment, table, row, column)
    return matches[0]


@pytest.mark.skipif(not PAPERS.is_dir(), reason="../shared/papers is not present")
@pytest.mark.parametrize(
    "experiment, table, row, column, value, std, paper_file, snippet",
    [
        (
            "di_fig8d_interpolation",
            "Table 5",
            "0.20",
            "FID",
            26.2,
            None,
            "diffusion-inversion.txt",
            "0.20 26.2 0.635 0.751 0.739",
        ),
        (
            "di_fig8c_gaussian_noise",
            "Table 9",
            "0.40",
            "Density",
            0.094,
            None,
            "diffusion-inversion.txt",
            "0.40 76.255 0.208 0.851 0.094 0.251",
        ),
        (
            "di_table1_vae_information_loss",
            "Table 1",
            "Real (32 -> 512)",
            "CIFAR100",
            71.1,
            0.3,
            "diffusion-inversion.txt",
            "93.5± 0.2 71.1± 0.3",
        ),
        (
            "di_table4_augmentations",
            "Table 4",
            "Synthetic (Ours)",
            "CutMix",
            92.6,
            None,
            "diffusion-inversion.txt",
            "Synthetic (Ours) 89.5 91.5 91.0 89.5 91.5 92.6 89.2 89.1",
        ),
        (
            "di_table6_vae_test",
            "Table 6",
            "STL-10",
            "Real Data",
            83.3,
            0.7,
            "diffusion-inversion.txt",
            "STL-10 83.3± 0.7 89.0 ± 0.2 88.8± 0.2",
        ),
        (
            "ddis_table_quality",
            "Main Results: Synthetic Image Quality",
            "PACS (Cartoon)",
            "DeepInversion FID",
            148.94,
            None,
            "ddis.txt",
            "PACS Cartoon 4.04/85.41 3.91/148.94 2.81/275.86",
        ),
        (
            "ddis_table_ablation",
            "Ablation Study (PACS Art Painting)",
            "DDIS (DAG + CAT)",
            "Precision",
            0.7742,
            None,
            "ddis.txt",
            "DDIS (DAG + CAT) 4.12 133.37 0.7742 0.3213",
        ),
    ],
)
def test_spot_check_against_the_paper_text(experiment, table, row, column, value, std, paper_file, snippet):
    """A few cells checked by hand-written expectations, independent of the number parser above."""
    assert snippet in (PAPERS / paper_file).read_text()
    entry = _number(experiment, table, row, column)
    assert entry["value"] == value
    assert entry.get("std") == std
