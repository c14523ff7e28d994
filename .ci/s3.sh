#!/usr/bin/env bash
# s3.sh starts an S3-compatible server (versitygw, posix backend over a fresh
# data folder) on 127.0.0.1:${TRIPCAST_S3_PORT:-7070} for the blob tests, in
# the background, with root credentials test/testsecret. It installs
# versitygw into the CI cache dir when it is absent, stops a versitygw it
# started earlier (pid file), waits until the port answers, and prints the
# environment the tests read. Usage: .ci/s3.sh [stop]
set -euo pipefail

cache="${TRIPCAST_CI_CACHE:-$HOME/.cache/tripcast-ci}"
bin="$cache/bin"
dir="$cache/s3"
port="${TRIPCAST_S3_PORT:-7070}"
version="v1.8.0"
exe="$bin/versitygw"
stamp="$bin/versitygw.version"
pidfile="$dir/versitygw.pid"
logfile="$dir/versitygw.log"

# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# stop stops the versitygw this script started.
stop() { stop_started versitygw; }

if [[ "${1:-}" == "stop" ]]; then
	stop
	exit 0
fi

mkdir -p "$bin" "$dir"
# versitygw built with go install does not know its own version: a stamp
# file next to it records which one was installed.
if [[ ! -x "$exe" ]] || [[ "$(cat "$stamp" 2>/dev/null)" != "$version" ]]; then
	echo "s3.sh: installing versitygw@$version into $bin (about 90 s cold)" >&2
	GOBIN="$bin" go install "github.com/versity/versitygw/cmd/versitygw@$version"
	echo "$version" >"$stamp"
fi

stop
if answers "$port"; then
	echo "s3.sh: 127.0.0.1:$port is already in use by another process; set TRIPCAST_S3_PORT" >&2
	exit 1
fi

rm -rf "$dir/data"
mkdir -p "$dir/data"
ROOT_ACCESS_KEY=test ROOT_SECRET_KEY=testsecret nohup "$exe" --port "127.0.0.1:$port" --quiet \
	posix "$dir/data" >"$logfile" 2>&1 &
echo $! >"$pidfile"

wait_started s3.sh versitygw "$port" 15
echo "s3.sh: versitygw $version on http://127.0.0.1:$port (pid $(cat "$pidfile"), data $dir/data, log $logfile)"
echo "export TRIPCAST_TEST_S3_ENDPOINT=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=testsecret AWS_REGION=us-east-1"
