"""Results: read the CSVs the notebooks write, aggregate over seeds, line them up with the paper's numbers."""

from .tables import CLAIMS_CSV, RESULTS_CSV, Status, artifact_status, beside_paper, load_claims, load_results, summarise

__all__ = ["CLAIMS_CSV", "RESULTS_CSV", "Status", "artifact_status", "beside_paper", "load_claims",
           "load_results", "summarise"]
