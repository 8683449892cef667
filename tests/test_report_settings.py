"""A report page whose numbers were computed with other settings than the experiment's today says so (the rows'
config_hash against the hash of the registry's params), names both hashes, the settings that differ (from the
executed notebook) and the command that refreshes them, and the index lists it; numbers computed with today's
settings carry no such notice."""

from __future__ import annotations

from repro.report import render_report
from repro.results.tables import load_results
from repro.workflow.registry import load_registry

NOTICE = "These numbers were computed with other settings than this experiment's at scale `mini` today"


def test_a_page_says_when_its_numbers_come_from_settings_that_have_changed(demo_run, demo_project, tmp_path):
    demo, out = demo_run
    pages = tmp_path / "reports" / "mini"
    index = render_report([demo], "mini", {"di_demo": out}, pages, tmp_path / "logs")
    assert NOTICE not in (pages / "di_demo.md").read_text()
    assert "have changed since" not in index.read_text()

    registry = demo_project / "config" / "experiments" / "di_demo.yaml"
    registry.write_text(registry.read_text().replace("- 4\n", "- 8\n"))  # the mini sizes become [1, 2, 8]
    changed = load_registry(demo_project / "config")["di_demo"]
    assert changed.params("mini")["sizes"] == [1, 2, 8]
    index = render_report([changed], "mini", {"di_demo": out}, pages, tmp_path / "logs")
    page = (pages / "di_demo.md").read_text()
    then = load_results(out)["config_hash"].iloc[0]
    assert NOTICE in page and f"config_hash {then} in the rows" in page
    # which setting differs, read from the executed notebook's record of its parameters
    html = (pages / "di_demo.html").read_text()
    assert "What differs: sizes: [1, 2, 4] there, [1, 2, 8] now." in html
    assert "not the numbers'. What differs: sizes:" in page  # a sentence of its own
    assert "snakemake --cores all --config scale=mini experiments='[di_demo]'" in page
    assert (
        "Computed with settings or generator weights that have changed since (each page says which and how to "
        "rerun it): [di_demo]" in index.read_text()
    )


def test_hashes_that_read_as_numbers_stay_as_written(tmp_path):
    (tmp_path / "results.csv").write_text(
        "table,row,column,value,git_commit,config_hash\nT,1,a,1.0,012345678901,12e456789012\n"
    )
    row = load_results(tmp_path).iloc[0]
    assert (row["git_commit"], row["config_hash"]) == ("012345678901", "12e456789012")


def test_the_index_names_the_commit_of_each_artifact_and_says_when_they_are_several(demo_run, tmp_path):
    import pandas as pd

    demo, out = demo_run
    pages = tmp_path / "reports" / "mini"
    commit = load_results(out)["git_commit"].iloc[0]
    index = render_report([demo], "mini", {"di_demo": out}, pages, tmp_path / "logs").read_text()
    assert "| detail | commit |" in index and f"| {commit} |" in index
    assert "not from one run of one commit" not in index
    # half the rows recomputed by later code: the artifact names both commits, the index says they are several
    results = pd.read_csv(out / "results.csv", dtype={"git_commit": str})
    results.loc[results.index[::2], "git_commit"] = "0123456789ab"
    results.to_csv(out / "results.csv", index=False)
    index = render_report([demo], "mini", {"di_demo": out}, pages, tmp_path / "logs").read_text()
    both = ", ".join(sorted([commit, "0123456789ab"]))
    assert f"| {both} |" in index
    assert f"These results come from 2 commits ({both}), not from one run of one commit" in index
    assert "snakemake --cores all --config scale=mini --forceall" in index


GENERATOR_NOTICE = "These numbers were computed with other weights of the `mini` generator than the ones in place today"


def test_a_page_says_when_its_numbers_come_from_other_generator_weights(demo_project, tmp_path):
    """A retrained mini model changes every number sampled from it with no setting changed: the rows' generator
    label (its weights' fingerprint) against the label of the weights in place."""
    import pandas as pd
    import yaml

    from repro.generators.bundle import generator_label
    from repro.provenance import config_hash
    from repro.workflow.notebook import run_notebook

    registry = demo_project / "config" / "experiments" / "di_demo.yaml"
    spec = yaml.safe_load(registry.read_text())
    spec["scales"]["mini"]["params"]["generator"] = "mini"
    registry.write_text(yaml.safe_dump(spec))
    demo = load_registry(demo_project / "config")["di_demo"]
    assert demo.params("mini")["generator"] == "mini"
    out = tmp_path / "results" / "mini" / "di_demo"
    run_notebook(demo, "mini", out, out / "di_demo.ipynb")
    pages = tmp_path / "reports" / "mini"
    now = generator_label("mini")

    def page_with(label: str) -> tuple[str, str]:
        results = pd.read_csv(out / "results.csv", dtype=str)
        results["generator"] = label
        results["config_hash"] = config_hash(demo.params("mini"))  # today's settings: only the weights differ
        results.loc[results.index[0], "generator"] = "sd14-random"  # another generator's row is not compared
        results.to_csv(out / "results.csv", index=False)
        index = render_report([demo], "mini", {"di_demo": out}, pages, tmp_path / "logs").read_text()
        return (pages / "di_demo.md").read_text(), index

    page, index = page_with(now)
    assert GENERATOR_NOTICE not in page and "have changed since" not in index
    assert "have changed since" not in (pages / "scoreboard.md").read_text()
    page, index = page_with("mini (0123456789abcdef)")
    assert GENERATOR_NOTICE in page and f"the rows name mini (0123456789abcdef), the generator loads {now}" in page
    assert "snakemake --cores all --config scale=mini experiments='[di_demo]'" in page
    assert "generator weights that have changed since" in index and "[di_demo]" in index
    # the scoreboard says it before its verdicts: they are of the weights before
    scoreboard = (pages / "scoreboard.md").read_text()
    assert "**1 of the 1 artifacts was computed with settings or generator weights that have changed since**" in (
        scoreboard
    )
    page, _ = page_with("mini")
    assert "the rows name mini (a bare name: rows written before they named the weights' fingerprint)" in page


def test_the_generators_an_experiment_names_include_those_of_its_cases():
    from pathlib import Path

    from repro.report.render import named_generators

    assert named_generators({"generator": "mini", "cases": [{"generator": "sd14-random"}, {"dtype": "bf16"}]}) == {
        "mini",
        "sd14-random",
    }
    fig4 = load_registry(Path(__file__).parents[1] / "config")[
        "di_fig4_runtime"
    ]  # times several generators, one per case, and names none on top
    assert "generator" not in fig4.params("mini") and {"mini", "sd14-random"} <= named_generators(fig4.params("mini"))
