# syntax=docker/dockerfile:1
# tripcast container image: one static binary (the TLC sample it bootstraps
# from is built in) plus a static health probe, on distroless-static, as a
# non-root user. make docker builds it; compose.yaml runs it.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION} AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS=linux
ARG TARGETARCH=amd64
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w -X tripcast.buildVersion=${VERSION}" \
      -o /out/tripcast ./cmd/tripcast && \
    CGO_ENABLED=0 GOOS=${TARGETOS} GOARCH=${TARGETARCH} \
    go build -trimpath -buildvcs=false -ldflags "-s -w" -o /out/healthcheck ./deploy/healthcheck && \
    mkdir -p /out/data

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tripcast /usr/local/bin/tripcast
COPY --from=build /out/healthcheck /usr/local/bin/healthcheck
COPY --from=build --chown=65532:65532 /out/data /data
USER 65532:65532
WORKDIR /data
ENV TRIPCAST_DATA_DIR=/data \
    TRIPCAST_LISTEN=0.0.0.0:8080 \
    TRIPCAST_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/usr/local/bin/healthcheck", "http://127.0.0.1:8080/readyz"]
ENTRYPOINT ["/usr/local/bin/tripcast"]
CMD ["up"]
