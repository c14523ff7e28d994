#!/usr/bin/env bash
# Peak memory of tripcast up under eight concurrent /v1/predict/batch
# requests of 100,000 rides each (issue 12.8): builds tripcast, starts
# `up` on a fresh data dir (built-in sample), sends the eight batches at
# once and prints the idle and peak resident memory (VmRSS, VmHWM) and the
# HTTP codes (429: over the batch budget). Usage: bench/batch_memory/run.sh
# [BINARY] [extra up flags]; BINARY defaults to a fresh build of ./cmd/tripcast.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
bin=${1:-}
if [[ -z "$bin" ]]; then
	bin="$work/tripcast"
	go build -o "$bin" ./cmd/tripcast
fi
shift || true
python3 - "$work/batch.json" <<'PY'
import json, random, sys
random.seed(1)
rides = [{"ride_id": i, "PULocationID": random.randint(1, 265), "DOLocationID": random.randint(1, 265),
          "trip_distance": round(random.random() * 10, 2)} for i in range(100000)]
open(sys.argv[1], "w").write(json.dumps(rides))
PY
port=$((20000 + RANDOM % 10000))
"$bin" up --data-dir "$work/data" --listen "127.0.0.1:$port" --log-level error "$@" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do curl -sf -o /dev/null "127.0.0.1:$port/readyz" && break; sleep 0.2; done
idle=$(awk '/VmRSS/ {print $2}' /proc/$pid/status)
codes=$(for _ in 1 2 3 4 5 6 7 8; do
	curl -s -o /dev/null -w '%{http_code}\n' -XPOST -H 'Content-Type: application/json' \
		--data-binary @"$work/batch.json" "127.0.0.1:$port/v1/predict/batch" &
done; wait)
peak=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
kill $pid; wait $pid 2>/dev/null || true
echo "batch body $(stat -c %s "$work/batch.json") bytes x 8 concurrent: idle RSS $((idle / 1024)) MB, peak RSS $((peak / 1024)) MB, HTTP codes $(echo $codes)"
