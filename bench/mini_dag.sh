#!/usr/bin/env bash
# The whole mini DAG (shared assets, every notebook, the jobs table, the report) on one GPU machine, in device
# calls shorter than 10 minutes, and what the repository keeps of it, packed to bring back.
#
# Here, in the checkout's root (network for pip, and the data folder $REPRO_DATA, default ../shared/data):
#   bench/mini_dag.sh wheels          download into .whl/ the wheels the GPU image lacks (mini_dag.requirements.txt)
#   bench/mini_dag.sh carry [MIB]     share the wheels and the data folder's archives out over the ignored folders
#                                     .carry1, .carry2, ... of at most MIB each (default: what one call carries
#                                     beside the working tree), splitting larger files into parts; prints the calls
# There, one device call each:
#   bench/mini_dag.sh stage           take in the carried .carry*/ folders: a file whose parts are all in is put
#                                     together, checked (sha256) and moved to its place; the wheels are installed
#                                     as soon as they are all in (the first folders carry them). Says what is still
#                                     to carry
#   bench/mini_dag.sh gpu-tests       the tests marked `gpu` (pytest -m gpu), which a CPU skips, once the wheels
#                                     are in; log in $OUT/gpu-tests.log. Run them before trusting a commit's results
#   bench/mini_dag.sh run [MINUTES]   snakemake --cores all --config scale=mini, stopped after MINUTES (default 8),
#                                     then what is left; exit status 0: the DAG is complete, 3: run again
#   bench/mini_dag.sh start [MINUTES] the same `run` (default 30 minutes), detached: it outlives the call that starts
#                                     it, so the DAG runs on across calls instead of being stopped at each one's end
#   bench/mini_dag.sh wait [MINUTES]  follow a started run for at most MINUTES (default 9), then pack what it has
#                                     written and bring its logs; exit status 0: the DAG is complete, 3: call again
#   bench/mini_dag.sh mps             start NVIDIA's Multi-Process Service unless an earlier call did (what `run`
#                                     does first with MPS=1; for other benches, export the two CUDA_MPS_ folders
#                                     it prints)
#   bench/mini_dag.sh pack            what the repository keeps (results/mini: CSVs, figures, executed notebooks,
#                                     jobs.csv; reports/mini) and the jobs' benchmarks and logs, at most 64 MiB,
#                                     as $OUT/mini-dag.tar.gz.NN parts
#
# A session: `wheels` and `carry` here; a call `bench/mini_dag.sh stage` carrying [".carryK"] for each folder, the
# first `bench/mini_dag.sh stage && bench/mini_dag.sh gpu-tests` (the commit's GPU paths checked before any of its
# results are made); calls `REPRO_GIT_COMMIT=<commit> bench/mini_dag.sh run` until one exits 0 (REPRO_GIT_COMMIT names
# the code in the results' provenance: the copy has no .git); a call `bench/mini_dag.sh pack`; then here, in the
# repository root, `cat mini-dag.tar.gz.* | tar -xz` and `repro report --scale mini --readme README.md`. Keep the
# calls back to back: the state lasts only while the machine stays warm. Or, in place of the `run` calls, the last
# `stage` call followed by `REPRO_GIT_COMMIT=<commit> bench/mini_dag.sh start` and calls `bench/mini_dag.sh wait`
# until one exits 0 (each packs): no job is stopped and started again between calls.
# Fewer calls: the generator's weights (the UNet and its two early checkpoints, 30 MiB) travel with every call as
# tracked files. Untracked for the session (`git rm -q --cached` the three .safetensors files under
# repro/generators/weights and list them in .git/info/exclude), the tree is 12 MiB and `carry` fills 51 MiB
# folders; the `start` call then carries the three files by name. `git reset -q -- <files>` tracks them again.
#
# State: each call gets a fresh copy of the checkout, but /tmp lasts while the machine is held, so all that the
# DAG writes lives under $DAG_STATE (/tmp/mini-dag): results, reports and work through the workflow's config
# (results_dir, reports_dir, work_dir), and the folders the rules name in the checkout (logs/, benchmarks/ and
# Snakemake's own .snakemake/) as links into it. A run stopped at its time limit, or anywhere, is resumed by the
# next: Snakemake reruns what is missing or incomplete, and each job resumes its own work (an asset from
# <name>.partial/, a notebook from work/mini/<id>/). A fresh machine starts over, from `stage`.
# GPU_JOBS (default 1) lets that many jobs share the GPU at once (each asks for one `gpu` of the workflow's
# resources; an experiment that measures run time asks for all of them and runs alone); MPS=1 starts NVIDIA's
# Multi-Process Service first (once per machine), so that those jobs' kernels run side by side instead of in turns.
# DAG_SCALE runs another scale the same way and DAG_CONFIG adds workflow settings (a rehearsal on a CPU, with the
# data folder and the packages in place: DAG_SCALE=smoke DAG_CONFIG='experiments=[di_fig4_runtime]');
# OUT (default $DAG_STATE/out) is where `run` logs and `pack` packs.
set -euo pipefail
phase=${1:?usage: bench/mini_dag.sh wheels|carry [MIB]|stage|gpu-tests|run [MINUTES]|start [MINUTES]|wait [MINUTES]|mps|pack}
scale=${DAG_SCALE:-mini}
state=${DAG_STATE:-/tmp/mini-dag}
out=${OUT:-$state/out}
site=$state/site
mib=$((1024 * 1024))
manifest=$state/incoming/MANIFEST # one line per carried file: sha256, size, parts, name (whl/... or data/...)

wheels() {
  mkdir -p .whl
  local req
  grep -v '^#' bench/mini_dag.requirements.txt | while read -r req; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl "$req" ||
      python3 -m pip wheel -q --no-deps -w .whl "$req" # a pure-Python package published as source only
  done
  du -sh .whl
}

carry() {
  local data=$REPRO_DATA tree budget src name size parts part folder n=0
  # a call carries 64 MiB in all: the working tree (tracked and not ignored files) and the carried folders
  tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -n1 | cut -f1)
  budget=$((${1:-0} * mib))
  if [ "$budget" = 0 ]; then
    budget=$((64 * mib - tree - mib))
    if [ "$budget" -lt $((4 * mib)) ]; then
      echo "the working tree takes $((tree / mib)) MiB of a call's 64: too little is left to carry data" >&2
      exit 2
    fi
  fi
  rm -rf .carry[0-9]* .carry-parts
  mkdir -p .carry-parts
  : >.carry-parts/MANIFEST
  while IFS=$'\t' read -r src name; do
    size=$(stat -c %s "$src")
    parts=$(((size + budget - 1) / budget))
    [ "$parts" -gt 0 ] || parts=1
    mkdir -p ".carry-parts/$(dirname "$name")"
    split -b "$budget" -d -a 2 "$src" ".carry-parts/$name.part"
    [ -e ".carry-parts/$name.part00" ] || : >".carry-parts/$name.part00" # an empty file is one empty part
    echo "$(sha256sum "$src" | cut -d' ' -f1) $size $parts $name" >>.carry-parts/MANIFEST
  done < <(
    for src in .whl/*.whl; do [ -e "$src" ] && printf '%s\twhl/%s\n' "$src" "${src##*/}"; done
    for src in "$data"/*.zip "$data"/models/*; do [ -e "$src" ] && printf '%s\tdata/%s\n' "$src" "${src#"$data"/}"; done
  )
  # first fit, the wheels' parts first, then the data's, largest first within each: the wheels land in the first
  # folders, so the first calls can run the GPU tests before the data is in. Every folder holds the manifest,
  # so any of them tells stage the whole list
  declare -a fill=()
  while IFS=$'\t' read -r size part; do
    for ((folder = 1; folder <= n; folder++)); do
      [ $((fill[folder] + size)) -le "$budget" ] && break
    done
    if [ "$folder" -gt "$n" ]; then
      n=$folder
      fill[folder]=0
      mkdir -p ".carry$folder"
      cp .carry-parts/MANIFEST ".carry$folder/"
    fi
    fill[folder]=$((fill[folder] + size))
    mkdir -p ".carry$folder/$(dirname "$part")"
    mv ".carry-parts/$part" ".carry$folder/$part"
  done < <(cd .carry-parts && find . -name '*.part[0-9][0-9]' -printf '%s\t%P\n' |
    awk -F'\t' '{ print ($2 ~ /^whl\//) ? 0 : 1, $0 }' | sort -k1,1n -k2,2rn | cut -d' ' -f2-)
  rm -rf .carry-parts
  echo "the working tree takes $((tree / mib)) MiB; $n folders of at most $((budget / mib)) MiB to carry, one call each:"
  for ((folder = 1; folder <= n; folder++)); do
    echo "  carry [\".carry$folder\"]: bench/mini_dag.sh stage    ($(du -sh ".carry$folder" | cut -f1))"
  done
}

# where a carried file goes: the wheels to install, or the data folder
destination() {
  case "$1" in
    whl/*) echo "$state/wheels/${1#whl/}" ;;
    data/*) echo "$REPRO_DATA/${1#data/}" ;;
  esac
}

# print the carried files not yet in place; fail where some are missing. The wheels are installed as soon as
# they are all in, the data may still be on its way
staged() {
  local sha size parts name missing=0 wheels_missing=0
  [ -f "$manifest" ] || return 0 # nothing was carried: a rehearsal on a machine that has it all
  while read -r sha size parts name; do
    [ ! -f "$(destination "$name")" ] || continue
    echo "  still to carry: $name"
    missing=1
    [[ $name != whl/* ]] || wheels_missing=1
  done <"$manifest"
  local wheels=("$state"/wheels/*.whl)
  if [ "$wheels_missing" = 0 ] && [ -e "${wheels[0]}" ] && [ ! -e "$site/.installed" ]; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target "$site" \
      "${wheels[@]}"
    touch "$site/.installed"
    echo "  installed ${#wheels[@]} wheels into $site"
  fi
  return "$missing"
}

stage() {
  local folder sha size parts name dest got
  mkdir -p "$state/incoming" "$state/wheels" "$REPRO_DATA"
  for folder in .carry[0-9]*/; do [ -d "$folder" ] && cp -r "$folder." "$state/incoming/"; done
  [ -f "$manifest" ] || { echo "no .carry folder came with this call (bench/mini_dag.sh carry, here)" >&2; exit 2; }
  while read -r sha size parts name; do
    dest=$(destination "$name")
    [ ! -f "$dest" ] || continue
    got=("$state/incoming/$name".part[0-9][0-9])
    if [ ! -e "${got[0]}" ] || [ "${#got[@]}" -ne "$parts" ]; then continue; fi
    mkdir -p "$(dirname "$dest")"
    cat "$state/incoming/$name".part[0-9][0-9] >"$dest.tmp"
    if ! echo "$sha  $dest.tmp" | sha256sum -c --quiet; then
      rm -f "$dest.tmp" "$state/incoming/$name".part[0-9][0-9]
      echo "$name came damaged: carry its folder again" >&2
      exit 2
    fi
    mv "$dest.tmp" "$dest"
    rm -f "$state/incoming/$name".part[0-9][0-9]
    echo "  in place: $name ($((size / mib)) MiB)"
  done <"$manifest"
  if staged; then echo "staged: every carried file is in place"; fi
}

# the tests marked `gpu` (CUDA streams and graphs, the GPU paths against the host's numbers), which every CPU
# skips: the gate before a commit's GPU results are trusted. They need the wheels, not the data
gpu_tests() {
  staged >/dev/null || true # installs the wheels once they are all in
  if [ -f "$manifest" ] && [ ! -e "$site/.installed" ]; then
    echo "the wheels are not all in yet: stage the folders that carry them (.carry1 first) before gpu-tests" >&2
    exit 2
  fi
  export PYTHONPATH=$site:$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
  if ! python3 -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
    echo "no CUDA GPU here: every gpu test would be skipped; run gpu-tests on the device" >&2
    exit 2
  fi
  mkdir -p "$out"
  python3 -m pytest -m gpu -rs -p no:cacheprovider 2>&1 | tee "$out/gpu-tests.log"
}

# the folders the rules name in the checkout, linked to the state that outlasts this call's copy of it
link_state() {
  local folder
  for folder in logs benchmarks .snakemake; do
    if [ -e "$folder" ] && [ ! -L "$folder" ]; then
      echo "$folder/ is a folder of this checkout; the DAG's state lives in $state: move $folder/ away first" >&2
      exit 2
    fi
    mkdir -p "$state/$folder"
    ln -sfn "$state/$folder" "$folder"
  done
}

# NVIDIA's Multi-Process Service: without it the GPU time-slices between processes, and a job of small kernels
# (DeepInversion, the class tokens) holds the whole GPU for its slice; the daemon outlives the call, like /tmp
start_mps() {
  export CUDA_MPS_PIPE_DIRECTORY=$state/mps CUDA_MPS_LOG_DIRECTORY=$state/mps-log
  local folders="CUDA_MPS_PIPE_DIRECTORY=$CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY=$CUDA_MPS_LOG_DIRECTORY"
  if pgrep -f '^nvidia-cuda-mps-control' >/dev/null; then # -x matches at most 15 characters of a name
    echo "MPS: the daemon an earlier call started serves this one ($folders)"
    return
  fi
  mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
  if command -v nvidia-cuda-mps-control >/dev/null && nvidia-cuda-mps-control -d; then
    echo "MPS: daemon started ($folders)"
  else
    echo "warning: MPS could not start (nvidia-cuda-mps-control): the jobs share the GPU in turns" >&2
    unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
  fi
}

# the commit the results' rows name: REPRO_GIT_COMMIT, else this copy's own, "+dirty" where its tracked files differ
# from it (as repro.provenance.git_commit names it). A device's copy may keep the .git of an older commit under a
# newer tree: its rows would then name that commit, dirty, so say so and how to name the right one
name_commit() {
  local sha
  if [ -z "${REPRO_GIT_COMMIT:-}" ]; then
    sha=$(git rev-parse -q --short=12 HEAD 2>/dev/null) || {
      echo "this copy has no .git: name its commit, REPRO_GIT_COMMIT=\$(git rev-parse --short=12 HEAD), in the call" >&2
      exit 2
    }
    if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
      sha=$sha+dirty
      echo "warning: this tree differs from its .git's commit, so the rows will name $sha; where it is a copy of" \
        "a committed checkout, name that commit: REPRO_GIT_COMMIT=\$(git rev-parse --short=12 HEAD)" >&2
    fi
    REPRO_GIT_COMMIT=$sha
  fi
  export REPRO_GIT_COMMIT
}

run_dag() {
  local minutes=${1:-8} rc=0 left extra
  staged || { echo "stage the folders above first" >&2; exit 2; }
  [ "${MPS:-0}" != 1 ] || start_mps
  name_commit
  link_state
  mkdir -p "$out" "$state/bin"
  # the jobs' `repro` command: this checkout's package, with the staged wheels
  printf '#!/bin/sh\nexec python3 -m repro.cli "$@"\n' >"$state/bin/repro"
  chmod +x "$state/bin/repro"
  export PATH=$state/bin:$PATH PYTHONPATH=$site:$PWD${PYTHONPATH:+:$PYTHONPATH}
  export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 REPRO_OFFLINE=1 REPRO_CACHE=${REPRO_CACHE:-$state/cache}
  # torch.compile's worker pool takes a process per core by default; GPU_JOBS jobs compiling at once would
  # start that many pools (16 workers of about 600 MiB each per job on a 16-core machine) and fight for the cores
  local threads=$(($(nproc) / ${GPU_JOBS:-1}))
  export TORCHINDUCTOR_COMPILE_THREADS=${TORCHINDUCTOR_COMPILE_THREADS:-$((threads > 0 ? threads : 1))}
  local config=(--config "scale=$scale" "results_dir=$state/results" "reports_dir=$state/reports"
    "work_dir=$state/work" "gpu_jobs=${GPU_JOBS:-1}")
  read -ra extra <<<"${DAG_CONFIG:-}"
  config+=("${extra[@]}")
  python3 -m snakemake --unlock "${config[@]}" >/dev/null 2>&1 || true # a lock left by a piece killed outright
  # GPU_JOBS jobs share the one GPU (default 1: one at a time), so one job's start-up, data decoding and
  # compilation run while another's kernels do
  timeout --kill-after=30s "${minutes}m" python3 -m snakemake --cores all --resources "gpu=${GPU_JOBS:-1}" \
    "${config[@]}" 2>&1 |
    tee -a "$out/run.log" || rc=$?
  left=$(python3 -m snakemake --dry-run --quiet rules "${config[@]}" 2>&1)
  if grep -q "Nothing to be done" <<<"$left"; then
    echo "the $scale DAG is complete: bench/mini_dag.sh pack"
    return 0
  fi
  if [ "$rc" = 124 ]; then
    echo "stopped after $minutes minutes: run again to go on. Left:"
  else
    echo "snakemake ended with status $rc (a failed job's log is under logs/$scale/): run again to retry. Left:"
  fi
  awk '/^Job stats/ {table = 1} table {print} table && /^$/ {exit}' <<<"$left"
  exit 3
}

# `run` as a process of its own session (setsid), which the device lets outlive the call that starts it. It runs
# from a copy of this checkout under $state/tree: the next call's copy of the checkout is sent over this one, and
# must not change the code under a running job. Its log, and the GPU's and the cores' samples every 5 s, go to
# $state/out, which `wait` brings back.
start_dag() {
  local minutes=$1 pid
  staged || { echo "stage the folders above first" >&2; exit 2; }
  if [ -f "$state/daemon.pid" ] && kill -0 "$(cat "$state/daemon.pid")" 2>/dev/null; then
    echo "the run an earlier call started is still going: bench/mini_dag.sh wait" >&2
    exit 2
  fi
  name_commit
  rm -rf "$state/tree" "$state/run.rc"
  mkdir -p "$state/tree" "$state/out"
  # not the carried folders (staged already) nor the links to the state that `run` makes
  tar -c --exclude='./.carry[0-9]*' --exclude='./.whl*' --exclude=./logs --exclude=./benchmarks --exclude=./.snakemake \
    . | tar -x -C "$state/tree"
  cd "$state/tree"
  OUT=$state/out setsid bench/mini_dag.sh detached "$minutes" >"$state/out/run-daemon.log" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$state/daemon.pid"
  echo "started: the $scale DAG for at most $minutes minutes at commit $REPRO_GIT_COMMIT (pid $pid): bench/mini_dag.sh wait"
}

# what `start` runs in its own session: `run` with its exit status kept, sampling the GPU and the cores meanwhile
detached() {
  local monitors=() rc=0
  if command -v nvidia-smi >/dev/null; then
    nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 5 \
      >"$out/gpu_utilization.csv" 2>/dev/null &
    monitors+=($!)
  fi
  vmstat -t 5 >"$out/vmstat.log" 2>/dev/null &
  monitors+=($!)
  (run_dag "$1") || rc=$? # run_dag exits with its status
  kill "${monitors[@]}" 2>/dev/null || true
  echo "$rc" >"$state/run.rc"
}

# follow a started run; print its last progress line and, once it has ended, how it ended
wait_dag() {
  local minutes=$1 pid deadline rc log
  [ -f "$state/daemon.pid" ] || { echo "no run was started on this machine: bench/mini_dag.sh start" >&2; exit 2; }
  pid=$(cat "$state/daemon.pid")
  deadline=$((SECONDS + $(awk -v m="$minutes" 'BEGIN { print int(m * 60) }')))
  while [ ! -f "$state/run.rc" ] && kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 5; done
  grep -E '^[0-9]+ of [0-9]+ steps' "$state/out/run-daemon.log" | tail -n1 || true
  mkdir -p "$out"
  for log in run-daemon.log gpu_utilization.csv vmstat.log; do
    [ ! -f "$state/out/$log" ] || cp "$state/out/$log" "$out/"
  done
  (pack) >/dev/null || echo "warning: nothing packed this time" >&2
  if [ -f "$state/run.rc" ]; then
    rc=$(cat "$state/run.rc")
    tail -n 15 "$state/out/run-daemon.log"
    exit "$rc"
  elif kill -0 "$pid" 2>/dev/null; then
    echo "still running after this call's $minutes minutes: bench/mini_dag.sh wait"
    exit 3
  fi
  echo "the run ended without a status (killed with the machine?): bench/mini_dag.sh start again" >&2
  exit 2
}

pack() {
  local keep=() name="$scale-dag" size folder
  # the results and reports the repository keeps, and the jobs' benchmarks and logs: a run that has not
  # finished has no jobs table yet, which `repro jobs` makes here from the benchmarks
  for folder in "results/$scale" "reports/$scale" "benchmarks/$scale" "logs/$scale"; do
    [ -d "$state/$folder" ] && keep+=("$folder")
  done
  [ "${#keep[@]}" -gt 0 ] || { echo "nothing to pack in $state (bench/mini_dag.sh run)" >&2; exit 2; }
  size=$(cd "$state" && du -scb --exclude=.snakemake_timestamp "${keep[@]}" | tail -n1 | cut -f1)
  if [ "$size" -gt $((64 * mib)) ]; then
    echo "what the repository would keep takes $((size / mib)) MiB, over its 64; the largest files:" >&2
    (cd "$state" && find "${keep[@]}" -type f -printf '%s\t%p\n' | sort -rn | head -n 10) >&2
    exit 2
  fi
  [ -f "$state/results/$scale/jobs.csv" ] || echo "warning: no jobs table yet: the DAG has not finished" >&2
  mkdir -p "$out"
  rm -f "$out/$name".tar.gz.*
  # a run still going may write a file while tar reads it: tar's status 1, a warning and not an error
  { tar -C "$state" --exclude=.snakemake_timestamp --warning=no-file-changed -cz "${keep[@]}" || [ $? = 1 ]; } |
    split -b 15m -d -a 2 - "$out/$name.tar.gz."
  ls -l "$out"
  echo "$((size / mib)) MiB kept; unpack in the repository root: cat $name.tar.gz.* | tar -xz"
}

# the data folder: where carry takes the archives from, here; where stage puts them and the DAG reads them, there
case "$phase" in
  wheels) wheels ;;
  carry) REPRO_DATA=${REPRO_DATA:-../shared/data} carry "${2:-}" ;;
  stage) REPRO_DATA=${REPRO_DATA:-$state/data} stage ;;
  run) export REPRO_DATA=${REPRO_DATA:-$state/data} && run_dag "${2:-}" ;;
  mps) start_mps ;;
  start) export REPRO_DATA=${REPRO_DATA:-$state/data} && start_dag "${2:-30}" ;;
  detached) export REPRO_DATA=${REPRO_DATA:-$state/data} && detached "$2" ;;
  wait) wait_dag "${2:-9}" ;;
  gpu-tests) REPRO_DATA=${REPRO_DATA:-$state/data} gpu_tests ;;
  pack) pack ;;
  *)
    echo "unknown phase $phase (wheels, carry, stage, gpu-tests, run, start, wait, mps, pack)" >&2
    exit 2
    ;;
esac
