"""The scoreboard: every claim reproduced, differs or undecided at a scale, counted, with what the scale can say;
written by the report beside its pages, and into a README's marked block with links from the README."""

from __future__ import annotations

from repro.cli import main
from repro.report import render_report
from repro.report.scoreboard import BEGIN, END, SCOPE
from tests.conftest import REPO

README = f"""# A project

Its introduction.

## Scoreboard

{BEGIN}
The scoreboard appears here once results exist.
{END}

## Set up
"""


def test_the_report_writes_the_scoreboard_beside_its_pages(demo_run, tmp_path):
    demo, out = demo_run
    index = render_report([demo], "mini", {"di_demo": out}, tmp_path / "reports" / "mini", tmp_path / "logs")
    assert "[The scoreboard](scoreboard.md)" in index.read_text()
    board = (index.parent / "scoreboard.md").read_text()
    assert board.startswith("# Scoreboard at scale `mini`\n") and SCOPE["mini"] in board
    assert "Of 2 claims at scale `mini`: **1 reproduced**, **0 differ**, **1 undecided**." in board
    assert "| reproduced | accuracy grows with data | [di_demo](di_demo.md) |  |" in board
    assert "| undecided | it shrinks | [di_demo](di_demo.md) | not tested |" in board
    assert "[the full report](index.md)" in board and (index.parent / "scoreboard.html").exists()


def test_the_readme_block_is_replaced_with_links_from_the_readme(demo_run, demo_project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text(README)
    args = ["report", "--config-dir", str(demo_project / "config"), "--scale", "mini", "--readme", "README.md"]
    assert main(args) == 0
    readme = (tmp_path / "README.md").read_text()
    before, block, after = readme.partition(BEGIN)[0], *readme.partition(BEGIN)[2].partition(END)[::2]
    assert before == README.partition(BEGIN)[0] and after == README.partition(END)[2]
    assert "once results exist" not in block and SCOPE["mini"] in block
    assert "| reproduced | accuracy grows with data | [di_demo](reports/mini/di_demo.md) |  |" in block
    assert "[the full report](reports/mini/index.md)" in block and "have changed since" not in block
    assert not (tmp_path / "reports").exists()  # it renders nothing else
    assert main(args) == 0 and (tmp_path / "README.md").read_text() == readme  # and again gives the same


def test_the_readme_block_names_the_artifacts_computed_with_settings_changed_since(
    demo_run, demo_project, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text(README)
    registry = demo_project / "config" / "experiments" / "di_demo.yaml"
    registry.write_text(registry.read_text().replace("- 4\n", "- 8\n"))  # the mini sizes become [1, 2, 8]
    assert (
        main(["report", "--config-dir", str(demo_project / "config"), "--scale", "mini", "--readme", "README.md"]) == 0
    )
    block = (tmp_path / "README.md").read_text().partition(BEGIN)[2].partition(END)[0]
    assert "**1 of the 1 artifacts was computed with settings or generator weights that have changed since**" in block
    assert "[di_demo](reports/mini/di_demo.md) (each page says what changed)" in block


def test_a_readme_without_the_markers_is_refused_with_the_fix(demo_run, demo_project, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(README.replace(END, ""))
    args = ["report", "--config-dir", str(demo_project / "config"), "--scale", "mini", "--readme", str(readme)]
    assert main([*args, "--results", str(tmp_path / "results")]) == 2
    assert f"{readme} has no scoreboard block: put a line `{BEGIN}`" in capsys.readouterr().err
    assert readme.read_text() == README.replace(END, "")


def test_a_scale_without_results_leaves_the_readme_as_it_is(demo_project, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(README)
    args = ["report", "--config-dir", str(demo_project / "config"), "--scale", "mini", "--readme", str(readme)]
    assert main([*args, "--results", str(tmp_path / "results")]) == 2
    assert "no experiment has results at scale mini" in capsys.readouterr().err
    assert readme.read_text() == README


def test_the_readme_holds_one_scoreboard_block_near_its_top():
    text = (REPO / "README.md").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1 and text.index(BEGIN) < text.index("## Set up and run")


def test_an_undecided_claim_says_why_it_is_undecided(demo_run):
    """Within the seeds' noise, one seed (no interval), or nothing to compare at this scale: the scoreboard tells
    them apart from the claim's evidence, as the claims helpers write it."""
    from repro.experiments.claims import Cell, Check, difference
    from repro.report.scoreboard import scoreboard_page
    from repro.report.verdicts import ClaimVerdict

    demo, _ = demo_run
    claim = {"id": "c", "text": "it holds", "check": "x"}
    noisy = Check(difference(Cell((1.0, 3.0, 2.0)), Cell((1.5, 2.0, 2.5)), "a - b"), above=True).evidence()
    one_seed = Check(difference(Cell((1.0,)), Cell((0.5,)), "a - b"), above=True).evidence()
    missing = "undecided: no Plug-In Inversion images to distil on. Plug-In Inversion is not run offline"
    verdicts = [ClaimVerdict(demo, claim, "undecided", evidence) for evidence in (noisy, one_seed, missing)]
    assert "CI [" in noisy and "no interval" in one_seed
    rows = scoreboard_page(verdicts, "mini").body()
    assert "| undecided | it holds | [di_demo](di_demo.md) | the run's evidence decides neither way |" in rows
    assert "| undecided | it holds | [di_demo](di_demo.md) | one seed: no interval to decide on |" in rows
    assert "| undecided | it holds | [di_demo](di_demo.md) | no Plug-In Inversion images to distil on |" in rows
