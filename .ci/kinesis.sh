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

stop() {
	if [[ -f "$pidfile" ]]; then
		pid="$(cat "$pidfile")"
		# Only kill the process if it is still the node we started.
		if kill -0 "$pid" 2>/dev/null && grep -q kinesalite "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid"
			for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		fi
		rm -f "$pidfile"
	fi
}

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

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; }
if answers; then
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

for _ in $(seq 100); do
	if answers; then
		echo "kinesis.sh: kinesalite $version on http://127.0.0.1:$port (pid $(cat "$pidfile"), log $logfile)"
		exit 0
	fi
	if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		echo "kinesis.sh: kinesalite exited:" >&2
		cat "$logfile" >&2
		exit 1
	fi
	sleep 0.1
done
echo "kinesis.sh: kinesalite did not answer on 127.0.0.1:$port within 10 s" >&2
cat "$logfile" >&2
exit 1
