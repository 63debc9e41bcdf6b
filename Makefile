# weft — see README.md. Every target works on a fresh machine with Go; `make
# bench` also needs Node.js and npm (for the peer comparison).

GO        ?= go
BIN       := bin/weft
FUZZTIME  ?= 10s
# Packages whose code starts goroutines run under the race detector.
RACE_PKGS := ./store/... ./replica/... ./ui/... ./p2p/... ./cmd/...
PURE_PKGS := ./crdt/... ./wire/... ./api/... ./internal/...
# The S3 API server the backup tests run against (store, cmd/weft); they
# skip without it, and fail without it under CI.
VERSITYGW := github.com/versity/versitygw/cmd/versitygw@v1.8.0

.PHONY: all build run replay test vet unit fuzz wasm bench bench-go bench-peers crash clean tools

all: build

build:
	$(GO) build -o $(BIN) ./cmd/weft

# The main job: the daemon on the default data directory ($$XDG_DATA_HOME/weft).
run: build
	./$(BIN) daemon

# Replay the bundled editing traces and print their figures.
replay: build
	./$(BIN) trace replay testdata/traces/sequential/*.json.gz testdata/traces/concurrent/*.json.gz

test: vet unit wasm fuzz

# Programs the tests start, installed into $$(go env GOPATH)/bin.
tools:
	$(GO) install $(VERSITYGW)

vet:
	$(GO) vet ./...

unit:
	$(GO) test -count=1 $(PURE_PKGS)
	$(GO) test -count=1 -race $(RACE_PKGS)

wasm:
	GOOS=js GOARCH=wasm $(GO) build ./crdt/... ./wire/...

# Short runs of every fuzz target, against the committed corpus first.
fuzz:
	./scripts/fuzz-all.sh $(FUZZTIME) ./crdt ./wire

bench: bench-go bench-peers

bench-go:
	$(GO) test -run='^$$' -bench=. -benchmem -count=5 ./crdt/ | tee bench-go.txt
	$(GO) test -run='^$$' -bench=. -benchtime=1x -count=3 ./store/ ./cmd/weft/ | tee -a bench-go.txt

# The store's SIGKILL crash test for many rounds (make test runs 50).
CRASH_ROUNDS ?= 2000
crash:
	$(GO) test -count=1 -run 'TestCrash$$' ./store -crash-rounds=$(CRASH_ROUNDS)

bench-peers: build
	./scripts/bench-peers.sh

clean:
	rm -rf bin bench-go.txt
