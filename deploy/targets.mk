# Packaging and deployment targets: make lambda, release, docker, bench,
# tf-fmt. Included by the root Makefile (include deploy/targets.mk); every
# path is relative to the repository root.

GO        ?= go
DIST      ?= dist
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
IMAGE     ?= tripcast:$(VERSION)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
# The Lambda's architecture (arm64 on Graviton; amd64 only for local tests).
LAMBDA_ARCH ?= arm64
BENCH_URL ?= http://127.0.0.1:8080

# Static, stripped, reproducible builds stamped with the release version
# (reported by /healthz and stored with each training run).
RELEASE_LDFLAGS = -s -w -X tripcast.buildVersion=$(VERSION)
RELEASE_BUILD   = CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "$(RELEASE_LDFLAGS)"

.PHONY: lambda release docker bench tf-fmt

## lambda: dist/lambda.zip, the function's bootstrap (linux/arm64, static)
lambda:
	@mkdir -p $(DIST)/lambda
	GOOS=linux GOARCH=$(LAMBDA_ARCH) $(RELEASE_BUILD) -tags lambda.norpc -o $(DIST)/lambda/bootstrap ./cmd/tripcast
	rm -f $(DIST)/lambda.zip
	cd $(DIST)/lambda && zip -q -X ../lambda.zip bootstrap
	@echo "$(DIST)/lambda.zip"

## release: dist/tripcast-<os>-<arch> for every platform, with SHA256SUMS
release:
	@mkdir -p $(DIST)
	@set -e; for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "$(DIST)/tripcast-$$os-$$arch"; \
		GOOS=$$os GOARCH=$$arch $(RELEASE_BUILD) -o $(DIST)/tripcast-$$os-$$arch ./cmd/tripcast; \
	done
	cd $(DIST) && sha256sum tripcast-*-* > SHA256SUMS

## docker: the container image (Dockerfile), tagged $(IMAGE)
docker:
	docker build --build-arg VERSION=$(VERSION) -t $(IMAGE) .

## bench: the HTTP load benchmark against a running server at $(BENCH_URL);
## the other benchmarks have their own scripts under bench/.
bench:
	$(GO) run ./bench/http_load -url $(BENCH_URL) -rate 2000 -duration 10s
	@echo "more: bench/train_vs_xgboost/run.sh, bench/drift_vs_scipy/run.sh, go run ./bench/stream_e2e, go run ./bench/kill9"

## tf-fmt: check the Terraform formatting (terraform or tofu)
tf-fmt:
	$(shell command -v tofu || command -v terraform) fmt -check -recursive deploy/terraform
