# vexen-auth. `make run` starts the stack on the embedded defaults; `make test` runs every test.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: run test test-short bench build vet fmt release image fuzz chaos

run:            ## issuer + verifier on SQLite, no Redis needed
	bash scripts/run.sh

test:           ## every test: unit, integration (PostgreSQL, Redis), end to end (nginx, Traefik, Caddy)
	bash scripts/test.sh

test-short:     ## unit tests only
	$(GO) test -short ./...

chaos:          ## faults under load for minutes (CHAOS_DURATION=10m CHAOS_SEED=N CHAOS_USERS=12); writes docs/reliability.md
	bash scripts/chaos.sh

fuzz:           ## every Fuzz* target for FUZZTIME each (default 60s here, 2s in make test)
	FUZZTIME=$${FUZZTIME:-60s} bash scripts/fuzz.sh

bench:          ## Go benchmarks, then the load benchmark against the running binaries
	bash scripts/bench.sh

VERSION ?= $(shell git describe --tags --always --dirty)
COMMIT  ?= $(shell git rev-parse HEAD)
LDFLAGS := -X github.com/vexen/vexen-auth/internal/version.Version=$(VERSION) -X github.com/vexen/vexen-auth/internal/version.Commit=$(COMMIT)

build:          ## bin/issuer, bin/verifier for this machine, version stamped
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/ ./cmd/...

release:        ## dist/: static, reproducible linux/amd64 + linux/arm64 binaries and SHA256SUMS
	VERSION=$(VERSION) COMMIT=$(COMMIT) bash scripts/release.sh

image: release  ## dist/image: OCI image layout (linux/amd64, arm64) built without a Docker daemon
	cd deploy && $(GO) run ./cmd/vexen-image --dist ../dist --version $(VERSION) --commit $(COMMIT) --out ../dist/image
