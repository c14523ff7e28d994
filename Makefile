# The commands the README names. `make test` installs and starts what the
# tests need (.ci/setup.sh), then runs every test against the real servers;
# `make lint` runs go vet, gofmt and staticcheck; `make build` builds the
# binary ./tripcast. CI (.ci/run) runs `make lint` and `make test`.

SHELL := /bin/bash
export TRIPCAST_CI_CACHE ?= $(HOME)/.cache/tripcast-ci
export PATH := $(TRIPCAST_CI_CACHE)/bin:/usr/local/go/bin:$(PATH)

STATICCHECK_VERSION := 0.8.2

# The servers .ci/setup.sh starts, and the credentials the S3 server accepts.
export TRIPCAST_TEST_S3_ENDPOINT ?= http://127.0.0.1:$(or $(TRIPCAST_S3_PORT),7070)
test: export AWS_ACCESS_KEY_ID := test
test: export AWS_SECRET_ACCESS_KEY := testsecret
test: export AWS_REGION := us-east-1

.PHONY: test setup lint build

test: setup
	env -u AWS_SESSION_TOKEN -u AWS_PROFILE go test ./...

setup:
	@bash .ci/setup.sh

lint:
	go vet ./...
	@out="$$(gofmt -l .)"; if [[ -n "$$out" ]]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if ! staticcheck -version 2>/dev/null | grep -qF "($(STATICCHECK_VERSION))"; then \
		echo "installing staticcheck v$(STATICCHECK_VERSION) into $(TRIPCAST_CI_CACHE)/bin"; \
		GOBIN="$(TRIPCAST_CI_CACHE)/bin" go install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION); \
	fi
	staticcheck ./...

build:
	go build -o tripcast ./cmd/tripcast

# lambda, release, docker, bench, tf-fmt
include deploy/targets.mk
