#!/usr/bin/env bash
# Every speed bench the README's performance table is written from, on one GPU machine: the CSVs of one run, in
# device calls shorter than 10 minutes.
#
#   bench/perf_run.sh [MINUTES]    run the benches not yet done, each only if its expected minutes still fit in
#                                  MINUTES (default 9) from the call's start, then pack everything so far into
#                                  $OUT/perf-run.tar.gz; exit status 0: every bench is done, 3: call again
#
# State lives in $PERF_STATE (default /tmp/perf-run), which lasts while the machine stays warm: keep the calls back
# to back. A bench is done once it exits 0 (its folder then holds a `done` file); one stopped or failed runs again,
# from its start, in the next call. diffusers and jsonschema are not in the GPU image: carry a folder of their wheels
# and their dependencies' ($WHEELS, default .whl/; `bench/mini_dag.sh wheels` fills .whl/ with these and the
# workflow's, 45 MiB, which beside the tracked generator weights pass a call's 64: a folder of only these, about
# 7 MiB, fits), installed once into $PERF_STATE/site. Back here, unpack the tar in a temporary folder, copy the
# CSVs and profiles into results/bench and write the table: `python bench/perf_table.py --readme README.md`.
# PERF_BENCHES replaces the list below (lines "NAME MINUTES SCRIPT ARGS...": the script runs with --out NAME's
# folder added); TINY=1 adds --tiny to every script, a CPU rehearsal of the same calls. Name the commit in the call,
# REPRO_GIT_COMMIT=$(git rev-parse --short=12 HEAD): a device's copy may keep an older commit's .git, which the rows
# would name otherwise (+dirty).
set -euo pipefail
minutes=${1:-9}
state=${PERF_STATE:-/tmp/perf-run}
out=${OUT:-$state/out}
mkdir -p "$state" "$out"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 REPRO_OFFLINE=1
export PYTHONPATH=$state/site:$PWD${PYTHONPATH:+:$PYTHONPATH}
deadline=$(awk -v now="$(date +%s)" -v m="$minutes" 'BEGIN { printf "%d", now + 60 * m }')

wheels=${WHEELS:-.whl}
if ! python3 -c "import diffusers, jsonschema" 2>/dev/null; then
  ls "$wheels"/*.whl >/dev/null 2>&1 || { echo "diffusers is missing: carry $wheels/ with its wheels" >&2; exit 2; }
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$state/site" "$wheels"/*.whl
fi

# name, minutes on an H100 (the script's docstring where it says, rounded up; a guess for the sampling benches: it
# only decides whether the bench still fits in this call, and one that overruns is stopped at the call's end and
# runs again in the next), the script and its arguments: the commands that wrote the committed CSVs
# (results/bench/README.md)
BENCHES="
pretrain 3 bench/pretrain_speed.py --unet-batches 2048 --vae-batches 256 --profile
inversion_mini 3 bench/inversion_speed.py --generator mini
sampling_mini 2 bench/sampling_speed.py --generator mini --compile --batch 2048
inversion_sd 5 bench/inversion_speed.py --budget-seconds 120
sampling_sd 4 bench/sampling_speed.py --compile
classifier 5 bench/classifier_speed.py --batch-sizes 128 --modes plain fast --grids 8 16
ddis 4 bench/ddis_speed.py
"
left=0
while read -r name expected script args; do
  [ -n "$name" ] || continue
  folder=$state/$name
  [ -e "$folder/done" ] && continue
  if [ $(($(date +%s) + 60 * expected)) -gt "$deadline" ]; then
    echo "$name: left for the next call (about $expected minutes)"
    left=$((left + 1))
    continue
  fi
  rm -rf "$folder" && mkdir -p "$folder"
  echo "== $name: $script $args"
  rc=0
  # shellcheck disable=SC2086  # the arguments are several words
  timeout $((deadline - $(date +%s))) python3 "$script" $args --out "$folder" ${TINY:+--tiny} \
    >"$folder/$name.log" 2>&1 </dev/null || rc=$?
  if [ "$rc" -eq 0 ]; then
    touch "$folder/done"
  else
    echo "$name: stopped with status $rc (124: the call's time ran out); it runs again in the next call"
    left=$((left + 1))
  fi
  grep -v -i "warn" "$folder/$name.log" | tail -n 8 || true
done <<<"${PERF_BENCHES:-$BENCHES}"

tar -czf "$out/perf-run.tar.gz" -C "$state" --exclude=./site --exclude=./out .
if [ "$left" -gt 0 ]; then
  echo "$left benches still to run: call again while the machine is warm"
  exit 3
fi
echo "every bench is done: $out/perf-run.tar.gz"
