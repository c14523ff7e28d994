#!/bin/sh
# Time tripcast's drift tests (package monitor) against the same tests in
# numpy/scipy (Evidently's legacy defaults) on real months, alternating the
# two sides, and print times, ratios and score agreement.
#
# Usage (any directory): bench/drift_vs_scipy/run.sh [-rounds 5] [-iters 10]
#   [-data ../shared/data/tlc] [-python /usr/bin/python3]
# Needs /usr/bin/python3 with numpy and scipy (apt-get install -y python3-scipy).
set -eu
cd "$(dirname "$0")/../.."
exec go run ./bench/drift_vs_scipy "$@"
