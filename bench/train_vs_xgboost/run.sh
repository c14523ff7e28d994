#!/bin/sh
# Train tripcast's gbdt and XGBoost 1.7 (hist) on the same rows and features
# (green 2021-01 train, 2021-02 valid; PULocationID, DOLocationID,
# trip_distance, hour, weekday), alternating the two trainers -train-reps
# times each, then print both training times (fastest of each side, and the
# median of the pairs' ratios), validation RMSEs and batch-prediction times
# with their ratios.
#
# Usage (any directory): bench/train_vs_xgboost/run.sh [-rounds 300] [-depth 8]
#   [-eta 0.1] [-nthread 2] [-max-bin 256] [-train-reps 5] [-categorical] [-out DIR]
# Needs /usr/bin/python3 with xgboost (apt-get install -y python3-xgboost).
set -eu
cd "$(dirname "$0")/../.."
exec go run ./bench/train_vs_xgboost "$@"
