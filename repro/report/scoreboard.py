"""The scoreboard of a scale: every claim of the two papers, reproduced, differs or undecided at that scale, the
count of each, and one line on what the scale can and cannot say of the papers. The report writes it as
``reports/<scale>/scoreboard.md``; ``repro report --scale S --readme README.md`` writes the same between the
README's markers, with its links made relative to the README.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from ..results.tables import INTERVAL, NO_INTERVAL, claim_text
from .page import Page, plain, write_marked_block
from .verdicts import ClaimVerdict

#: what a verdict at each scale can and cannot say of the papers (DESIGN.md's scales and mini world)
SCOPE = {
    "smoke": (
        "At `smoke` scale a generator trained for a few CPU steps runs every notebook on a few images per class "
        "and one seed: it proves that the whole pipeline runs, and decides no claim (one seed never does)."
    ),
    "mini": (
        "At `mini` scale the papers' methods run on the project's own 64 px text-to-image model, pretrained on a "
        "small pool of real images (CIFAR-10, ImageNette, PACS) in place of Stable Diffusion and LAION, with small "
        "target sets and several seeds: a verdict says whether a claim's direction holds for the method itself, "
        "beyond seed noise; it cannot reproduce the papers' numbers, and what needs Stable Diffusion, CLIP, "
        "BigGAN, LAION retrieval or Inception features stays undecided until the `paper` scale."
    ),
    "paper": (
        "At `paper` scale the papers' own settings run on Stable Diffusion and the papers' datasets: a verdict "
        "speaks to the claim as the paper states it."
    ),
}
VERDICTS = ("reproduced", "differs", "undecided")
BEGIN, END = "<!-- scoreboard:begin -->", "<!-- scoreboard:end -->"


def scoreboard_verdict(verdict: ClaimVerdict) -> str:
    """reproduced (the claim holds), differs (it fails) or undecided (anything else)."""
    return {"yes": "reproduced", "no": "differs"}.get(verdict.verdict, "undecided")


def _note(verdict: ClaimVerdict) -> str:
    """Why a claim is undecided: its intervals straddle the threshold, one seed gave no interval, the scale measures
    nothing to compare (the evidence's first sentence says what is missing), or the artifact did not run."""
    if verdict.verdict in ("yes", "no"):
        return ""
    if verdict.verdict != "undecided":
        return verdict.verdict
    evidence = verdict.evidence.strip()
    if INTERVAL in evidence or not evidence:
        return "the run's evidence decides neither way"
    if NO_INTERVAL in evidence:
        return "one seed: no interval to decide on"
    return evidence.removeprefix("undecided: ").split(". ")[0]


def scoreboard_page(
    verdicts: Sequence[ClaimVerdict], scale: str, link: Callable[[str], str] = str, stale: Sequence[str] = ()
) -> Page:
    """The scoreboard; ``link`` turns a report page's name (``index.md``, ``<id>.md``) into the link to it;
    ``stale`` names the artifacts whose numbers were computed with settings or generator weights that have
    changed since (:func:`repro.report.render.stale_notes`), which the scoreboard says before its verdicts."""
    counts = Counter(map(scoreboard_verdict, verdicts))
    page = Page(f"Scoreboard at scale `{scale}`")
    page.text(SCOPE[scale])
    page.text(
        f"Of {len(verdicts)} claims at scale `{scale}`: "
        + ", ".join(f"**{counts[v]} {'differ' if v == 'differs' else v}**" for v in VERDICTS)
        + f". The evidence of each is on its artifact's page; [the full report]({link('index.md')})."
    )
    if stale:
        page.text(
            f"**{len(stale)} of the {len({v.experiment.id for v in verdicts})} artifacts "
            f"{'was' if len(stale) == 1 else 'were'} computed with settings or generator weights that have changed "
            "since**, so their verdicts are of the settings or weights before: "
            + ", ".join(f"[{name}]({link(f'{name}.md')})" for name in stale)
            + " (each page says what changed)."
        )
    page.table(
        ["verdict", "claim", "experiment", "why undecided"],
        [
            [
                scoreboard_verdict(v),
                plain(claim_text(v.claim)),
                f"[{v.experiment.id}]({link(f'{v.experiment.id}.md')})",
                plain(_note(v)),
            ]
            for v in sorted(verdicts, key=lambda v: VERDICTS.index(scoreboard_verdict(v)))
        ],
    )
    return page


def write_readme_scoreboard(
    readme: Path, verdicts: Sequence[ClaimVerdict], scale: str, pages: Path, stale: Sequence[str] = ()
) -> None:
    """Replace the block between the README's markers with the scoreboard, linked to the report pages in
    ``pages`` from the README's folder."""
    page = scoreboard_page(verdicts, scale, lambda name: os.path.relpath(pages / name, readme.parent), stale)
    write_marked_block(readme, BEGIN, END, page.body(), "scoreboard")
