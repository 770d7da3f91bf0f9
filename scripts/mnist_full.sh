#!/usr/bin/env bash
# Full MNIST runs with the thesis's hyper-parameters (SGD lr 0.01, batch 128, 10 epochs, seed 1),
# correct loss on logits. One CPU thread each, both nets in parallel. ~30-60 min per net on one core.
# Needs the data once:  classifiers fetch-data mnist
set -euo pipefail
OUT=${OUT:-results/mnist/runs}
THREADS=${THREADS:-1}
for model in resnet34 convnet34; do
  nohup python -m classifiers train --model "$model" --out "$OUT/$model-seed1" --threads "$THREADS" \
    --no-progress --resume > "results/mnist/logs/$model-seed1.log" 2>&1 &
done
wait
python -m classifiers report "$OUT/resnet34-seed1" "$OUT/convnet34-seed1" --out results/mnist --title "MNIST"
