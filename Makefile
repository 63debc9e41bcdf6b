# weft — see README.md. Every target works on a fresh machine with Go; `make
# bench` also needs Node.js and npm (for the peer comparison).

GO        ?= go
BIN       := bin/weft
FUZZTIME  ?= 10s
# Packages whose code starts goroutines run under the race detector.
RACE_PKGS := ./store/... ./replica/... ./ui/... ./p2p/... ./obs/... ./cmd/...
PURE_PKGS := ./vocab/... ./crdt/... ./wire/... ./member/... ./api/... ./internal/...
# The S3 API server the backup tests run against (store, cmd/weft); they
# skip without it, and fail without it under CI.
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0

.PHONY: all build run replay test vet unit fuzz wasm e2e ui ui-check ui-test test-browser bench bench-go bench-peers bench-browser crash chaos hostile clean tools

all: build

build:
	$(GO) build -o $(BIN) ./cmd/weft

# The main job: the daemon on the default data directory ($$XDG_DATA_HOME/weft).
run: build
	./$(BIN) daemon

# Replay the bundled editing traces and print their figures.
replay: build
	./$(BIN) trace replay testdata/traces/sequential/*.json.gz testdata/traces/concurrent/*.json.gz

# Everything CI runs: static checks, unit and property tests (race detector
# where there are goroutines), the wasm build, short fuzz runs, the editor's
# assets against their sources, its own tests, the multi-process tests
# (real daemons, relay, js-libp2p interop, S3 backups) and the browser tests.
test: vet unit wasm fuzz ui-check ui-test e2e test-browser

# Programs the tests start, installed into $$(go env GOPATH)/bin.
tools:
	$(GO) install $(VERSITYGW)

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 $(PURE_PKGS)
	$(GO) test -count=1 -race $(RACE_PKGS)

wasm:
	GOOS=js GOARCH=wasm $(GO) build ./vocab/... ./crdt/... ./wire/... ./member/... ./ui/web/wasm

# Multi-process tests with the real binary (see e2e/doc.go); they include
# a short run of the fault harness (e2e/chaos: one cluster, 3 schedules)
# and of the hostile-peer suite. One package at a time (-p 1): the hostile
# suite measures CPU and latency, the fault harness convergence times, and
# neither should measure the other.
e2e:
	$(GO) test -p 1 -count=1 -timeout 30m ./e2e/...

# The hostile-peer suite (e2e/hostile_bounds_test.go) with long attacks (30 s
# each), and the relay routing live edits while it hosts 100,000 documents
# (-e2e.long; `make test` runs both shorter: 3 s attacks, 2,000 documents).
# The table goes to hostile-table.md (BENCHMARKS.md says how to read it).
HOSTILE_DURATION ?= 30s
hostile:
	$(GO) test -count=1 -timeout 30m -run 'TestHostileBounds$$|TestRelayBugManyDocumentsHideSubscriptions$$' -v ./e2e/ -e2e.long \
		-hostile.duration=$(HOSTILE_DURATION) -hostile.table=$(CURDIR)/hostile-table.md

# The editor: rebuild the committed assets (ui/web/dist) from their sources
# and the lockfile; check that the committed ones match; the page's tests.
ui:
	./scripts/build-ui.sh

ui-check:
	./scripts/check-ui.sh

ui-test:
	cd ui/web && npm ci --no-audit --no-fund && npm test

# The editor in headless Chromium against real daemons.
test-browser:
	cd e2e/browser && npm ci --no-audit --no-fund && npm test

# Short runs of every fuzz target, against the committed corpus first.
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME) ./crdt ./wire ./member

bench: bench-go bench-peers

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./crdt/ | tee bench-go.txt
	$(GO) test -run='^$$' -bench=. -benchtime=1x -count=3 ./store/ ./replica/ | tee -a bench-go.txt

# The store's SIGKILL crash test for many rounds (make test runs 50).
CRASH_ROUNDS ?= 2000
crash:
	$(GO) test -count=1 -run 'TestCrash$$' ./store -crash-rounds=$(CRASH_ROUNDS)

# The fault harness in network namespaces (root; see e2e/chaos/README.md):
# CHAOS_RUNS clusters × CHAOS_SCHEDULES seeded fault schedules, reports in
# CHAOS_REPORT; CHAOS_SEED repeats a run.
CHAOS_RUNS      ?= 10
CHAOS_SCHEDULES ?= 10
CHAOS_REPORT    ?= chaos-report
CHAOS_SEED      ?= 0
chaos:
	$(GO) test -count=1 -timeout 150m -run 'TestChaos$$' ./e2e/chaos -chaos.runs=$(CHAOS_RUNS) \
		-chaos.schedules=$(CHAOS_SCHEDULES) -chaos.report=$(abspath $(CHAOS_REPORT)) \
		-chaos.seed=$(CHAOS_SEED) -chaos.p99=2s

bench-peers: build
	./scripts/bench-peers.sh

bench-browser: build
	cd e2e/browser && npm ci --no-audit --no-fund && npm run bench

clean:
	rm -rf bin bench-go.txt chaos-report
