#!/usr/bin/env bash
# Pretrain the embedded mini model on a GPU machine, in device calls shorter than 10 minutes.
#
#   bench/pretrain_mini.sh speed            throughput of both training stages (bench/pretrain_speed.py)
#   bench/pretrain_mini.sh stage            only copy the carried archives into the data folder
#   bench/pretrain_mini.sh vae [MIN]        train a new autoencoder for at most MIN minutes (resumes)
#   bench/pretrain_mini.sh adopt            adopt the committed model's autoencoder instead (same pool split)
#   bench/pretrain_mini.sh unet [MIN]       train the UNet and text encoder for at most MIN minutes (resumes)
#   bench/pretrain_mini.sh export           export the finished model to $WEIGHTS, its weights to $OUT
#   bench/pretrain_mini.sh card             the model card of the exported model, its files to $OUT
#   bench/pretrain_mini.sh final [MIN]      finish the UNet (at most MIN minutes), export, model card
#   bench/pretrain_mini.sh evaluate         Diffusion Inversion on the new model and its inversion/sampling speed
#
# Data: a device call carries at most 64 MiB, so the pool's archives come in several calls, each in its own
# ignored folder (`../shared/tools/stage-data --to .data1 cifar10-train`, ...). Every phase first copies the
# archives of the carried .data*/ folders into $REPRO_DATA (/tmp/repro-data), which lasts while the machine
# stays warm, as do the decode cache, the work folder and the exported weights (all under /tmp). The weights
# are exported to $WEIGHTS (/tmp/mini-weights), not into the checkout, which the next call replaces; `final`
# returns them as $OUT/mini-weights.tar.NN parts (< 16 MiB each), to unpack in the repository root:
#   cat mini-weights.tar.* | tar -x      (repro/generators/weights/{mini,mini_checkpoints})
# Name the commit in each call, REPRO_GIT_COMMIT=$(git rev-parse --short=12 HEAD): a device's copy may keep an older
# commit's .git, which the card and the CSVs would name otherwise (+dirty).
# A `vae`, `unet` or `final` that stops at its time limit writes the resumable state to $OUT as
# pretrain-pack.tar.NN: on a fresh machine, carry those parts in .resume/ and the next phase unpacks them.
# UNET_BUDGET (minutes of UNet training that size its step count; default the scale's, in
# repro/pretrain/settings.py), PRETRAIN_ARGS (added to every `repro pretrain` call; a CPU dry run:
# "--scale smoke --device cpu"), SPEED_ARGS (added to the speed
# bench), EVALUATE (what `evaluate` runs, default "reconstruction inversion sampling") and INVERSION_STEPS (the
# stage-1 step counts of its reconstruction, default "1000 3000") tune the run. The attention backend and the
# memory layout are speed choices: time them with
# SPEED_ARGS="--attention default,flash,efficient --memory-formats channels_last,contiguous", then train with the
# fastest (e.g. PRETRAIN_ARGS="--attention flash --memory-format contiguous"). On an H100 the defaults were the
# fastest (torch's cuDNN attention, channels-last: results/bench/pretrain_speed_c02b6f7/). The committed weights:
# the pool staged by `bench/mini_dag.sh stage` calls, then REPRO_DATA=/tmp/mini-dag/data and, with UNET_BUDGET=10,
# `adopt`, `unet 7.3` and `final 7` (their card: repro/generators/weights/mini/README.md).
set -euo pipefail
phase=${1:?usage: bench/pretrain_mini.sh speed|stage|vae|adopt|unet|export|card|final|evaluate [MINUTES]}
minutes=${2:-8.5}
out=${OUT:-/tmp/pretrain-out}
work=${PRETRAIN_WORK:-/tmp/repro-pretrain-work}
weights=${WEIGHTS:-/tmp/mini-weights}
mkdir -p "$out" "$work"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 REPRO_OFFLINE=1
export REPRO_CACHE=${REPRO_CACHE:-/tmp/repro-cache}
export PYTHONPATH=/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}

# diffusers and jsonschema are not in the GPU image: install the carried wheels once per machine
if ! python3 -c "import diffusers, jsonschema" 2>/dev/null; then
  ls .whl/*.whl >/dev/null 2>&1 || { echo "diffusers is missing: carry .whl/ with its wheels" >&2; exit 2; }
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi

# the carried archives, copied where they outlast this call
export REPRO_DATA=${REPRO_DATA:-/tmp/repro-data}
mkdir -p "$REPRO_DATA"
for f in "$PWD"/.data*/*; do [ -e "$f" ] && cp -ru "$f" "$REPRO_DATA/"; done
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
}

case "$phase" in
  speed)
    nvidia-smi --query-gpu=name,memory.total --format=csv
    python3 bench/pretrain_speed.py --out "$out" --profile ${SPEED_ARGS:-} 2>&1 | tee "$out/speed.log"
    ;;
  stage) ;;
  vae)
    train vae --max-minutes "$minutes" || pack
    ;;
  adopt)
    train adopt-vae --weights repro/generators/weights
    ;;
  unet)
    if ! train unet --max-minutes "$minutes" ${UNET_BUDGET:+--budget-minutes "$UNET_BUDGET"}; then
      pack  # stopped at its time limit: the state a fresh machine resumes from
    fi
    ;;
  export)
    repro pretrain export --work "$work" --weights "$weights" 2>&1 | tee -a "$out/$phase.log"
    tar -cf /tmp/mini-weights.tar -C "$weights" --transform 's,^,repro/generators/weights/,' mini mini_checkpoints
    split -b 15m -d /tmp/mini-weights.tar "$out/mini-weights.tar."
    ;;
  card)
    train card --weights "$weights"
    tar -cf "$out/mini-card.tar" -C "$weights" --transform 's,^,repro/generators/weights/,' mini/README.md \
      mini/metrics.json mini/loss_curves.png mini/samples_photo.png mini/samples_domains.png
    ;;
  final)
    if train unet --max-minutes "$minutes" ${UNET_BUDGET:+--budget-minutes "$UNET_BUDGET"}; then
      "$0" export && "$0" card
    else
      echo "the UNet has not finished: run the final phase again (its state is in the pack)"
      pack
    fi
    ;;
  evaluate)
    [ -d "$weights/mini/unet" ] || { echo "no exported model in $weights: run the final phase first" >&2; exit 2; }
    export REPRO_MINI_GENERATOR="$weights/mini"
    for part in ${EVALUATE:-reconstruction inversion sampling}; do
      case "$part" in
        reconstruction)
          for steps in ${INVERSION_STEPS:-1000 3000}; do
            python3 bench/inversion_reconstruction.py --images 100 --steps "$steps" --out "$out/inversion$steps" \
              --work "/tmp/inversion$steps" 2>&1 | tee -a "$out/$phase.log"
          done ;;
        inversion) python3 bench/inversion_speed.py --generator mini --out "$out/bench" 2>&1 | tee -a "$out/$phase.log" ;;
        sampling) python3 bench/sampling_speed.py --generator mini --compile --batch 2048 --out "$out/bench" 2>&1 \
                    | tee -a "$out/$phase.log" ;;
        *) echo "unknown evaluation $part (reconstruction, inversion, sampling)" >&2; exit 2 ;;
      esac
    done
    ;;
  *)
    echo "unknown phase $phase (speed, stage, vae, adopt, unet, export, card, final, evaluate)" >&2
    exit 2
    ;;
esac
ls -lR "$out"
