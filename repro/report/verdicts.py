"""What a scale's run decided: each artifact's status and the verdict on each of its claims, read from its result
folder. The index, the artifact pages and the scoreboard all state them from here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..results.tables import Status, artifact_status, load_claims
from ..workflow.registry import Experiment

#: the statuses of an artifact whose notebook ran to its end
RAN = ("reproduced", "differs", "ran")


@dataclass(frozen=True)
class ClaimVerdict:
    """One claim of the registry as a scale's run decided it."""

    experiment: Experiment
    claim: dict  # the registry's entry: id, text, check, source
    verdict: str  # yes | no | undecided | not tested | the artifact's status where it did not run
    evidence: str


def artifact_outcome(
    experiment: Experiment, scale: str, folder: Path, logs_dir: Path
) -> tuple[Status, list[ClaimVerdict]]:
    """An artifact's status at ``scale`` and the verdict on each of its claims, from its result folder (and the
    failed notebook its run may have left under ``logs_dir``)."""
    status = artifact_status(experiment, scale, folder, Path(logs_dir) / scale / f"{experiment.id}.failed.ipynb")
    ran = status.label in RAN
    claims = load_claims(folder) if ran else None
    found = {} if claims is None else {c["claim"]: c for c in claims.to_dict("records")}
    verdicts = []
    for claim in experiment.claims:
        row = found.get(claim["id"])
        verdict = _verdict(row) if row else "not tested" if ran else status.label
        verdicts.append(ClaimVerdict(experiment, claim, verdict, "" if row is None else row.get("evidence", "")))
    return status, verdicts


def _verdict(claim_row: Mapping) -> str:
    return {"true": "yes", "false": "no"}.get(str(claim_row["holds"]).lower(), "undecided")
