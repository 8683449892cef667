#!/usr/bin/env bash
# Snakemake runs this inside the new environment, from the workflow's working folder (the checkout).
set -euo pipefail
python -m pip install -e ".[workflow]"
