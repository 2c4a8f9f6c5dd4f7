#!/usr/bin/env bash
# Reproduce the shipped default model and its numbers in resources/models/MODEL_CARD.md.
#
# Run from the repository root, with ../shared beside the checkout (see DEVELOPERS.md):
#   bash scripts/train_default_model.sh            # default model (frozen MobileNetV2), ~30 min on 2 busy CPU cores
#   bash scripts/train_default_model.sh scratch    # also the simple_cnn from-scratch baseline
# Artefacts (metrics.json, curves.png, confusion.png, feature cache) go to ../runs/, never into the repo.
set -euo pipefail
PY=${PYTHON:-.venv/bin/python}
SHARED=${LANDMARK_SHARED:-../shared}
RUNS=${RUNS:-../runs}

"$PY" -m training train "$SHARED/data/landmarks" \
    --output "$RUNS/mnv2/landmarks-mobilenet_v2.safetensors" --work-dir "$RUNS/mnv2" \
    --mode frozen --backbone mobilenet_v2 \
    --backbone-weights "$SHARED/torch-home/derived/mobilenet_v2_coral_tf2ptq_calib-a812eb75.pth" \
    --non-landmark "$SHARED/data/non_landmark" --outlier-exposure "$SHARED/data/non_landmark" \
    --views 3 --threads 1 --workers 1
cp "$RUNS/mnv2/landmarks-mobilenet_v2.safetensors" resources/models/landmarks-mobilenet_v2.safetensors
"$PY" -m training evaluate resources/models/landmarks-mobilenet_v2.safetensors "$SHARED/data/landmarks/test" \
    --non-landmark "$SHARED/data/non_landmark" --json > "$RUNS/mnv2/test_metrics.json"
"$PY" -m training evaluate resources/models/landmarks-mobilenet_v2.safetensors "$SHARED/data/landmarks/test" \
    --non-landmark "$SHARED/data/non_landmark"

if [[ "${1:-}" == "scratch" ]]; then
    "$PY" -m training train "$SHARED/data/landmarks" \
        --output "$RUNS/scratch/landmarks-simple_cnn.safetensors" --work-dir "$RUNS/scratch" \
        --mode scratch --input-size 96 --resize-size 110 --epochs 12 --batch-size 32 \
        --non-landmark "$SHARED/data/non_landmark" --threads 2 --workers 1
    "$PY" -m training evaluate "$RUNS/scratch/landmarks-simple_cnn.safetensors" "$SHARED/data/landmarks/test" \
        --non-landmark "$SHARED/data/non_landmark" --json > "$RUNS/scratch/test_metrics.json"
fi
