#!/usr/bin/env bash
# kinesis.sh starts a Kinesis-compatible server (kinesalite, from npm) on
# 127.0.0.1:${TRIPCAST_KINESIS_PORT:-4567} for the stream tests, in the
# background, in memory. It installs kinesalite into the CI cache dir when it
# is absent, stops a kinesalite it started earlier (pid file), and waits until
# the port answers. Usage: .ci/kinesis.sh [stop]
set -euo pipefail

cache="${TRIPCAST_CI_CACHE:-$HOME/.cache/tripcast-ci}"
dir="$cache/kin"
port="${TRIPCAST_KINESIS_PORT:-4567}"
version="3.3.3"
pidfile="$dir/kinesalite.pid"
logfile="$dir/kinesalite.log"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stop stops the kinesalite this script started (the node process we ran
# carries kinesalite in its command line).
stop() { stop_started kinesalite; }

if [[ "${1:-}" == "stop" ]]; then
	stop
	exit 0
fi

command -v node >/dev/null || { echo "kinesis.sh: node is not installed (apt-get install -y nodejs npm)" >&2; exit 1; }
mkdir -p "$dir"
if [[ ! -f "$dir/node_modules/kinesalite/package.json" ]] ||
	! grep -q "\"version\": \"$version\"" "$dir/node_modules/kinesalite/package.json"; then
	echo "kinesis.sh: installing kinesalite@$version into $dir"
	npm install --silent --no-audit --no-fund --prefix "$dir" "kinesalite@$version" >&2
fi

stop

if answers "$port"; then
	echo "kinesis.sh: something already listens on 127.0.0.1:$port (not started by this script): using it"
	exit 0
fi

# cli.js listens on every interface; start the server through its library
# entry point instead, so it only listens on loopback. shardLimit is raised
# because tests create (and delete) many small streams. kinesalite rethrows a
# request's 'aborted' error (a client canceling a call, e.g. a consumer
# stopping mid GetRecords), which would end the process: log and go on.
cd "$dir"
nohup node -e "
process.on('uncaughtException', function (err) {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) {
    console.error('kinesalite: ignored a client abort:', err.message)
    return
  }
  console.error(err)
  process.exit(1)
})
require('$dir/node_modules/kinesalite')({createStreamMs: 500, deleteStreamMs: 500, updateStreamMs: 500, shardLimit: 1000})
  .listen($port, '127.0.0.1', function () { console.log('kinesalite listening on 127.0.0.1:$port') })
" kinesalite >"$logfile" 2>&1 &
echo $! >"$pidfile"

wait_started kinesis.sh kinesalite "$port" 10
echo "kinesis.sh: kinesalite $version on http://127.0.0.1:$port (pid $(cat "$pidfile"), log $logfile)"
