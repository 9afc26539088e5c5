# vexen-auth. `make run` starts the stack on the embedded defaults; `make test` runs every test.
export PATH := /usr/local/go/bin:$(PATH)
GO ?= go

.PHONY: run test test-short bench build vet fmt

run:            ## issuer + verifier on SQLite, no Redis needed
	bash scripts/run.sh

test:           ## every test: unit, integration (PostgreSQL, Redis), end to end (nginx, Traefik, Caddy)
	bash scripts/test.sh

test-short:     ## unit tests only
	$(GO) test -short ./...

bench:          ## Go benchmarks, then the load benchmark against the running binaries
	bash scripts/bench.sh

build:
	$(GO) build -o bin/ ./cmd/...

vet:
	gofmt -l $$(git ls-files '*.go'); $(GO) vet ./...
