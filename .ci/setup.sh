#!/usr/bin/env bash
# setup.sh installs what the tests need and starts the servers they use, so
# that `go test ./...` skips nothing: Debian's python3-xgboost (gbdt's
# interoperability tests), PostgreSQL on 127.0.0.1:5432 with the database
# test, NATS JetStream on 127.0.0.1:4222, AWS's Lambda Runtime Interface
# Emulator (lambda's end-to-end test), an S3-compatible server (.ci/s3.sh,
# versitygw on 127.0.0.1:7070) and a Kinesis-compatible server
# (.ci/kinesis.sh, kinesalite on 127.0.0.1:4567). It is idempotent and takes
# well under a second when everything is already there: a server that
# already answers on its port is used as it is. Go tools go to
# $TRIPCAST_CI_CACHE/bin (default ~/.cache/tripcast-ci/bin), which the caller
# puts on PATH. `make test` runs it before the tests; .ci/run runs it before
# the linters.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH
export TRIPCAST_CI_CACHE=${TRIPCAST_CI_CACHE:-$HOME/.cache/tripcast-ci}
bin="$TRIPCAST_CI_CACHE/bin"
mkdir -p "$bin"

# shellcheck source=lib.sh
source .ci/lib.sh

# as_root runs its arguments as root (through sudo when not root).
as_root() {
	if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
# dpkg answers in milliseconds; importing xgboost takes seconds.
if [[ "$(dpkg-query -W -f='${Status}\n' python3-xgboost python3-pandas 2>/dev/null | grep -c 'ok installed')" != 2 ]] &&
	! /usr/bin/python3 -c 'import xgboost, pandas' 2>/dev/null; then
	missing+=(python3-xgboost python3-pandas)
fi
command -v node >/dev/null || missing+=(nodejs npm)
if ((${#missing[@]})); then
	echo "setup.sh: installing ${missing[*]} (apt)" >&2
	log="$TRIPCAST_CI_CACHE/apt.log"
	if ! { as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq "${missing[@]}"; } >"$log" 2>&1; then
		cat "$log" >&2
		exit 1
	fi
fi

# PostgreSQL and NATS run on the development machines; start them if not.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
	echo "setup.sh: starting PostgreSQL" >&2
	as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
# The tests' database (postgres://postgres@127.0.0.1:5432/test, trust).
if [[ -z "$(psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null)" ]]; then
	echo "setup.sh: creating the PostgreSQL database test" >&2
	createdb -h 127.0.0.1 -U postgres test || echo "setup.sh: could not create database test; the PostgreSQL tests will say why" >&2
fi
if ! answers 4222; then
	echo "setup.sh: starting NATS JetStream on 127.0.0.1:4222" >&2
	as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
		-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
fi

rie_version=v0.0.0-20261030222936-bef5c4ba774d
if [[ ! -x "$bin/aws-lambda-rie" ]]; then
	echo "setup.sh: installing aws-lambda-rie into $bin" >&2
	GOBIN="$bin" go install \
		"github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$rie_version"
fi

answers "${TRIPCAST_S3_PORT:-7070}" || bash .ci/s3.sh >&2
answers "${TRIPCAST_KINESIS_PORT:-4567}" || bash .ci/kinesis.sh >&2
