#!/usr/bin/env bash
# Pretrain the embedded mini model on the GPU machine, in device calls shorter than 10 minutes.
#
#   bench/pretrain_mini.sh check [SPLIT...]   GPU check of both training steps (compile, speed), then decode
#                                             SPLITs (e.g. cifar10/train) into the cache
#   bench/pretrain_mini.sh decode SPLIT...    decode splits into the cache (e.g. imagenette/train)
#   bench/pretrain_mini.sh vae                build the pool, train the autoencoder, cache the latents
#   bench/pretrain_mini.sh unet               train the UNet + text encoder until the time is up (resumes)
#   bench/pretrain_mini.sh final              finish the UNet, export fp16 weights, build the model card
#
# Data: the archives may arrive in several carried folders (.data*/); they are linked into one folder,
# $REPRO_DATA (the data layer reads one folder). The decode cache ($REPRO_CACHE) and the work folder
# ($PRETRAIN_WORK) live under /tmp, so they persist while the machine stays warm. Every training phase also
# writes its resumable state to $OUT as pretrain-pack.tar.NN parts (< 16 MiB each); on a fresh machine, carry
# them in .resume/ and the next phase unpacks them. `final` writes the weights as mini-weights.tar.NN parts:
#   cat mini-weights.tar.* | tar -x      (in the repository root: repro/generators/weights/{mini,mini_checkpoints})
# Time limits (minutes, each phase's whole training command): VAE_MINUTES (8), UNET_MINUTES (8.5),
# FINAL_MINUTES (6.5: the UNet's last chunk; the export and the card take about two more).
# PRETRAIN_ARGS adds options to every `repro pretrain` call (a CPU dry run: "--scale smoke --device cpu").
set -euo pipefail
phase=${1:?usage: bench/pretrain_mini.sh check|decode|vae|unet|final [SPLIT...]}
shift
out=${OUT:-/tmp/pretrain-out}
work=${PRETRAIN_WORK:-/tmp/repro-pretrain-work}
mkdir -p "$out" "$work"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 REPRO_OFFLINE=1
export REPRO_CACHE=${REPRO_CACHE:-/tmp/repro-cache}
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}

# diffusers is not in the GPU image: install the carried wheel(s) once per machine
if ! python3 -c "import diffusers" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "diffusers is missing: carry .whl/ with its wheel" >&2; exit 2; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi

# one data folder of links to the archives of every carried .data*/ folder
if [ -z "${REPRO_DATA:-}" ]; then
  export REPRO_DATA=/tmp/repro-data
  mkdir -p "$REPRO_DATA"
  for f in "$PWD"/.data*/*; do [ -e "$f" ] && ln -sfn "$f" "$REPRO_DATA/"; done
fi
echo "data folder $REPRO_DATA: $(ls "$REPRO_DATA" | tr '\n' ' ')"

# a fresh machine: resume from the pack carried in .resume/
if [ ! -e "$work/split.json" ] && ls .resume/pretrain-pack.tar.* >/dev/null 2>&1; then
  cat .resume/pretrain-pack.tar.* | tar -x -C "$work"
  echo "resumed $work from .resume/"
fi

repro() { python3 -m repro.cli "$@"; }

# run a training command; status 3 means "stopped at its time limit, progress saved"
train() {
  local rc=0
  repro pretrain "$@" --work "$work" ${PRETRAIN_ARGS:-} 2>&1 | tee -a "$out/$phase.log" || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 3 ]; then exit "$rc"; fi
  return "$rc"
}

pack() {
  repro pretrain pack --work "$work" --archive /tmp/pretrain-pack.tar
  split -b 15m -d /tmp/pretrain-pack.tar "$out/pretrain-pack.tar."
  rm -f /tmp/pretrain-pack.tar
  ls -l "$out"
}

decode() {
  local name
  for name in "$@"; do repro data prepare --no-download "$name" 2>&1 | tee -a "$out/$phase.log"; done
}

case "$phase" in
  check)
    nvidia-smi --query-gpu=name,memory.total --format=csv
    python3 bench/pretrain_mini_check.py --out "$out/pretrain_mini_check.json" 2>&1 | tee "$out/check.log"
    decode "$@"
    ;;
  decode)
    decode "$@"
    ;;
  vae)
    train vae --max-minutes "${VAE_MINUTES:-8}" || true
    pack
    ;;
  unet)
    train unet --max-minutes "${UNET_MINUTES:-8.5}" || true
    pack
    ;;
  final)
    if train unet --max-minutes "${FINAL_MINUTES:-6.5}"; then
      repro pretrain export --work "$work" 2>&1 | tee -a "$out/$phase.log"
      repro pretrain card --work "$work" ${PRETRAIN_ARGS:-} 2>&1 | tee -a "$out/$phase.log"
      tar -cf /tmp/mini-weights.tar repro/generators/weights/mini repro/generators/weights/mini_checkpoints
      split -b 15m -d /tmp/mini-weights.tar "$out/mini-weights.tar."
      cp repro/generators/weights/mini/README.md "$out/model_card.md"
      cp repro/generators/weights/mini/metrics.json "$out/metrics.json"
    else
      echo "the UNet has not finished: run the final phase again (its state is in the pack)"
      pack
    fi
    ;;
  *)
    echo "unknown phase $phase (check, decode, vae, unet, final)" >&2
    exit 2
    ;;
esac
ls -l "$out"
