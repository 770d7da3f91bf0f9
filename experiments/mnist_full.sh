#!/usr/bin/env bash
# Full MNIST runs: all 60k training images, the full 10k test set, the thesis's hyper-parameters
# (SGD lr 0.01, batch 128, 10 epochs, seed 1) and the correct loss (cross-entropy on logits).
#   * with 2-pixel random shifts:             resnet34-shift2-seed1, convnet34-shift2-seed1
#   * the same with shifts and momentum 0.9:  resnet34-shift2-mom09-seed1
#   * shifts, digits upsampled to 56x56:       resnet34-shift2-in56-seed1 (about 270 s per epoch)
#   * shifts, plus a weight EMA (decay 0.999) evaluated beside the live weights (training unchanged):
#                                              resnet34-shift2-ema-seed1, convnet34-shift2-ema-seed1
#   * the thesis's settings as they are (no shifts), the EMA beside:  resnet34-seed1, convnet34-seed1
#   * shifts at 56x56 with the EMA:            resnet34-shift2-in56-ema-seed1 (about 285 s per epoch)
#   * shifts, random rotation (+-10 degrees) and zoom (0.9-1.1), with the EMA:  resnet34-shift2-affine-ema-seed1,
#                                              convnet34-shift2-affine-ema-seed1
# Then `classifiers evaluate` scores the EMA runs' final weights again (live and EMA; stored and recalibrated
# batch-norm statistics; without and with test-time shifts of 1 pixel) into <run>/posthoc.{json,md}.
# Runs one after another with 2 torch threads (about 100 s per ResNet-34 epoch on an idle 2-core CPU;
# one thread was several times slower here). Every run resumes where it stopped.
# Needs the data once:  classifiers fetch-data mnist
set -euo pipefail
OUT=${OUT:-results/mnist/runs}
THREADS=${THREADS:-2}
mkdir -p results/mnist/logs
train() {  # name, then options
  local name=$1; shift
  python -m classifiers train --out "$OUT/$name" --threads "$THREADS" --channels-last --no-progress --resume "$@" \
    >> "results/mnist/logs/$name.log" 2>&1
}
train resnet34-shift2-seed1 --model resnet34 --augment-shift 2
train convnet34-shift2-seed1 --model convnet34 --augment-shift 2
train resnet34-shift2-mom09-seed1 --model resnet34 --augment-shift 2 --momentum 0.9
train resnet34-shift2-in56-seed1 --model resnet34 --augment-shift 2 --input-size 56
train resnet34-shift2-ema-seed1 --model resnet34 --augment-shift 2 --ema 0.999
train convnet34-shift2-ema-seed1 --model convnet34 --augment-shift 2 --ema 0.999
train resnet34-seed1 --model resnet34 --ema 0.999
train convnet34-seed1 --model convnet34 --ema 0.999
train resnet34-shift2-in56-ema-seed1 --model resnet34 --augment-shift 2 --input-size 56 --ema 0.999
train resnet34-shift2-affine-ema-seed1 --model resnet34 --augment-shift 2 --augment-rotate 10 --augment-scale 0.1 \
  --ema 0.999
train convnet34-shift2-affine-ema-seed1 --model convnet34 --augment-shift 2 --augment-rotate 10 --augment-scale 0.1 \
  --ema 0.999
for name in resnet34-shift2-ema-seed1 convnet34-shift2-ema-seed1 resnet34-seed1 convnet34-seed1 \
    resnet34-shift2-in56-ema-seed1 resnet34-shift2-affine-ema-seed1 convnet34-shift2-affine-ema-seed1; do
  python -m classifiers evaluate "$OUT/$name" --threads "$THREADS" >> "results/mnist/logs/$name-evaluate.log" 2>&1
done
python -m classifiers report "$OUT/resnet34-shift2-seed1" "$OUT/convnet34-shift2-seed1" \
  "$OUT/resnet34-shift2-mom09-seed1" "$OUT/resnet34-shift2-in56-seed1" "$OUT/resnet34-shift2-ema-seed1" \
  "$OUT/convnet34-shift2-ema-seed1" "$OUT/resnet34-seed1" "$OUT/convnet34-seed1" \
  "$OUT/resnet34-shift2-in56-ema-seed1" "$OUT/resnet34-shift2-affine-ema-seed1" \
  "$OUT/convnet34-shift2-affine-ema-seed1" --out results/mnist --title "MNIST"
