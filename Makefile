# Everything a developer runs. `make help` lists the targets.
SHELL := /usr/bin/env bash -o errexit -o pipefail -o nounset
BIN := _output/bin
GO_TEST_FLAGS ?=
# Extra flags for hack/local-env, e.g. LOCAL_UP_FLAGS="--host-port=16543 --members=member1".
LOCAL_UP_FLAGS ?=
# Extra flags for hack/bench/bench-proxy, e.g. BENCH_FLAGS="--requests=5000 --routes=bare-hop,clusters-path".
BENCH_FLAGS ?=
# Extra flags for hack/bench/bench-tunnel, e.g. BENCH_TUNNEL_FLAGS="--idle-agents=200".
BENCH_TUNNEL_FLAGS ?=
# Extra flags for hack/bench/bench-appstore, e.g. BENCH_APPSTORE_FLAGS="--rounds=20".
BENCH_APPSTORE_FLAGS ?=
# The benchmarks' own Go module (it keeps rancher/remotedialer out of go.mod).
BENCH_MODULE := hack/bench
# How long `make fuzz` fuzzes each target, e.g. FUZZTIME=10m.
FUZZTIME ?= 60s
# How long `make test` (test-fuzz) fuzzes each target.
FUZZTIME_SHORT ?= 3s
# How long a new interesting or failing input is minimized (go test -fuzzminimizetime). The
# short runs skip it: a minimization still running when the 3s end makes go test fail with
# "context deadline exceeded" on a loaded machine.
FUZZMINIMIZETIME ?= 60s
# The fuzz targets, as package:FuzzName. Plain `go test` (test-unit) already runs each one's
# seed corpus (f.Add and testdata/fuzz/<FuzzName>/); -fuzz takes one target at a time.
FUZZ_TARGETS := \
	./pkg/proxy:FuzzCleanPath \
	./pkg/proxy:FuzzClusterPathResolver \
	./pkg/agenttoken:FuzzTokenParsing \
	./pkg/tunnel:FuzzAgentHandshake \
	./pkg/tunnel:FuzzConnectResponse \
	./pkg/appstore/index:FuzzParse

.PHONY: help build tools local-up local-down bench-build bench-proxy bench-tunnel bench-appstore test test-unit test-fuzz test-integration fuzz verify update \
	verify-gofmt verify-govet verify-gomod verify-codegen verify-docs clean

help: ## List the targets.
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## Build the project's binaries into _output/bin.
	go build -o $(BIN)/ ./cmd/...
	go build -o $(BIN)/local-env ./hack/local-env

tools: ## Build the pinned upstream components (etcd, kube-*, kubectl, kwok; helm, registry) into _output/bin.
	hack/build-tools.sh

local-up: tools build ## Start the host and member clusters on 127.0.0.1 (restarts them if running).
	$(BIN)/local-env up $(LOCAL_UP_FLAGS)

local-down: ## Stop every process local-up started.
	@if [[ -x $(BIN)/local-env ]]; then $(BIN)/local-env down $(LOCAL_UP_FLAGS); else go run ./hack/local-env down $(LOCAL_UP_FLAGS); fi

bench-build: ## Build the benchmarks (module hack/bench) into _output/bin.
	go -C $(BENCH_MODULE) build -o $(CURDIR)/$(BIN)/ ./bench-proxy ./bench-tunnel ./bench-appstore

# The benchmarks run from the repository root: their default paths are _output/local/...
bench-proxy: bench-build ## Measure the proxy against the running local environment (make local-up first).
	$(BIN)/bench-proxy $(BENCH_FLAGS)

bench-tunnel: bench-build ## Measure the agent tunnel: member2 through it (make local-up first), then the tunnel alone against remotedialer.
	$(BIN)/bench-proxy --member=member2 $(BENCH_FLAGS)
	$(BIN)/bench-tunnel $(BENCH_TUNNEL_FLAGS)

bench-appstore: bench-build ## Measure an App Store install against helm install straight to each member, and a 15 MB index synced through a Repo (make local-up first).
	$(BIN)/bench-appstore $(BENCH_APPSTORE_FLAGS)

test: verify test-unit test-fuzz test-integration ## Verify, then run every test (what CI runs).

test-unit: ## Unit tests (no binaries needed), fuzz targets' seed corpora included; the benchmarks' module too.
	go test $(GO_TEST_FLAGS) $$(go list ./... | grep -v /test/)
	go -C $(BENCH_MODULE) test $(GO_TEST_FLAGS) ./...

test-fuzz: ## Fuzz each fuzz target briefly (FUZZTIME_SHORT, 3s each).
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SHORT) FUZZMINIMIZETIME=0x

fuzz: ## Fuzz each fuzz target for FUZZTIME (60s), one after the other; new crashers land in testdata/fuzz.
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "go test -run='^$$' -fuzz='^$$name\$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg"; \
		go test $(GO_TEST_FLAGS) -run='^$$' -fuzz="^$$name\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=$(FUZZMINIMIZETIME) $$pkg; \
	done

test-integration: tools build ## Integration tests against real etcd, kube-apiserver and kubectl (-parallel=8: the long watches of test/proxy idle side by side).
	go test $(GO_TEST_FLAGS) -count=1 -parallel=8 -timeout=30m ./test/...

verify: verify-gofmt verify-govet verify-gomod verify-codegen verify-docs ## gofmt, go vet, go.mod tidy, generated code and flag docs up to date.

# Every Go file of the checkout, the hack/bench module's included.
verify-gofmt:
	hack/verify-gofmt.sh

# ./... stops at a nested module: hack/bench is vetted and tidied on its own.
verify-govet:
	go vet ./...
	go -C $(BENCH_MODULE) vet ./...

verify-gomod:
	go mod tidy -diff
	go -C $(BENCH_MODULE) mod tidy -diff

verify-codegen:
	hack/verify-codegen.sh

verify-docs:
	hack/verify-docs.sh

update: ## Regenerate generated code and the flag docs.
	hack/update-codegen.sh
	hack/update-docs.sh

clean: local-down ## Stop the environment and remove _output.
	rm -rf _output
