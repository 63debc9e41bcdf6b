#!/usr/bin/env bash
# Side-by-side benchmark of weft's trace replayer against the peer CRDT
# libraries (json-joy, Loro, Yjs, Automerge; pinned in bench/peers), on the
# bundled editing traces, in one run: for every trace, weft's replays are
# interleaved with the peers' so that both see the same machine conditions.
# Prints a markdown table; the raw figures stay in $BENCH_OUT.
#
# Environment (all optional):
#   BENCH_RUNS    timed runs per (system, trace); default 5 (Automerge 3)
#   BENCH_PEERS   comma-separated subset of json-joy,loro,yjs,automerge
#   BENCH_TRACES  space-separated trace files instead of the bundled ones
#   BENCH_OUT     where the raw results go; default bench/peers/results
#   WEFT_BIN      the weft binary; default ./bin/weft (make build)
#
# If weft's replayer or its merge benchmark is not there yet, the peers'
# figures are still measured and the table says what is missing.
# Exit status: 0 when every figure that was measured reached its trace's
# endContent, 1 otherwise or when the peers could not run.
set -euo pipefail

cd "$(dirname "$0")/.."
PEERS_DIR=bench/peers
OUT=${BENCH_OUT:-$PEERS_DIR/results}
WEFT=${WEFT_BIN:-./bin/weft}
RUNS=${BENCH_RUNS:-}

die() { echo "bench-peers: $*" >&2; exit 1; }
say() { echo "bench-peers: $*" >&2; }

if [[ -n $RUNS && ! $RUNS =~ ^[1-9][0-9]*$ ]]; then
  die "BENCH_RUNS must be a positive whole number, not '$RUNS'"
fi
command -v node >/dev/null || die "Node.js 20 or later is needed (with npm) for the peer comparison"
command -v npm >/dev/null || die "npm is needed for the peer comparison"
node_major=$(node -p 'process.versions.node.split(".")[0]')
(( node_major >= 20 )) || die "Node.js 20 or later is needed, this is $(node --version)"

# Install the pinned peers from the lockfile when node_modules is missing or
# was installed from another lockfile.
lock_sum=$(sha256sum "$PEERS_DIR/package-lock.json" | cut -d' ' -f1)
stamp=$PEERS_DIR/node_modules/.weft-lockfile-sha256
if [[ ! -f $stamp || $(cat "$stamp") != "$lock_sum" ]]; then
  say "installing the pinned peers (npm ci)"
  (cd "$PEERS_DIR" && npm ci --no-audit --no-fund >&2) || die "npm ci failed in $PEERS_DIR"
  echo "$lock_sum" >"$stamp"
fi

mkdir -p "$OUT"
peers_out=$OUT/peers.jsonl
weft_out=$OUT/weft.jsonl
merge_out=$OUT/go-merge.txt
: >"$peers_out"
: >"$weft_out"
rm -f "$merge_out"

# The harness's own checks (unit conversion, sync plan, every peer on traces
# with characters outside the BMP) before measuring anything with it.
if ! node --expose-gc --test "$PEERS_DIR/test/" >"$OUT/selftest.txt" 2>&1; then
  cat "$OUT/selftest.txt" >&2
  die "the harness's self-test failed; see above"
fi

if [[ -n ${BENCH_TRACES:-} ]]; then
  read -r -a traces <<<"$BENCH_TRACES"
else
  traces=(testdata/traces/sequential/*.json.gz testdata/traces/concurrent/*.json.gz)
fi
if [[ -n ${BENCH_PEERS:-} ]]; then
  IFS=, read -r -a peers <<<"$BENCH_PEERS"
else
  peers=(json-joy loro yjs automerge)
fi
weft_runs=${RUNS:-5}
peer_args=()
[[ -n $RUNS ]] && peer_args+=(--runs "$RUNS")

# weft's replayer: usable until a run prints no result line.
weft_ok=1
weft_missing=
if [[ ! -x $WEFT ]]; then
  weft_ok=0
  weft_missing="$WEFT is not built (make build)"
fi
weft_run() {
  ((weft_ok)) || return 0
  local line
  # Exit status 1 (a trace missed its endContent) still prints the figures.
  line=$("$WEFT" trace replay "$1" 2>"$OUT/weft.err" | grep -m 1 '^{') || true
  if [[ -n $line ]]; then
    echo "$line" >>"$weft_out"
    return 0
  fi
  weft_ok=0
  weft_missing="\`weft trace replay\` gave no figures ($(head -n 1 "$OUT/weft.err" | tr -d '|'))"
  say "weft: $weft_missing; going on with the peers alone"
}

# weft's merge benchmark, if the crdt package has one.
merge_ok=0
merge_missing="no BenchmarkMergeEncoded in ./crdt/"
if ! command -v go >/dev/null; then
  merge_missing="go is not installed"
elif benches=$(go test -list '^BenchmarkMergeEncoded$' ./crdt/ 2>"$OUT/go-list.err") && grep -q '^BenchmarkMergeEncoded$' <<<"$benches"; then
  merge_ok=1
elif [[ -s $OUT/go-list.err ]]; then
  merge_missing="\`go test -list\` failed in ./crdt/ ($(head -n 1 "$OUT/go-list.err" | tr -d '|'))"
fi
merge_run() {
  ((merge_ok)) || return 0
  # The encoded merge, like the peers': a fresh replica decodes and applies
  # every transaction's own update.
  say "go test -bench BenchmarkMergeEncoded ./crdt/ (count $weft_runs)"
  if ! go test -run '^$' -bench '^BenchmarkMergeEncoded$' -benchmem -count "$weft_runs" ./crdt/ >"$merge_out" 2>&1; then
    merge_ok=0
    merge_missing="\`go test -bench BenchmarkMergeEncoded\` failed (see $merge_out)"
    say "$merge_missing"
  fi
}

start=$(date +%s)
status=0
conc_seen=0
n_conc=0
for f in "${traces[@]}"; do [[ $f == *concurrent* ]] && n_conc=$((n_conc + 1)); done
for file in "${traces[@]}"; do
  say "== $file"
  done_weft=0
  for peer in "${peers[@]}"; do
    if ((done_weft < weft_runs)); then
      weft_run "$file"
      done_weft=$((done_weft + 1))
    fi
    node --expose-gc "$PEERS_DIR/run.mjs" --peers "$peer" "${peer_args[@]}" "$file" >>"$peers_out" || status=1
  done
  while ((done_weft < weft_runs)); do
    weft_run "$file"
    done_weft=$((done_weft + 1))
  done
  # The Go merge benchmark runs once, amid the concurrent traces' peer runs.
  if [[ $file == *concurrent* ]]; then
    conc_seen=$((conc_seen + 1))
    if ((conc_seen == (n_conc + 1) / 2)); then merge_run; fi
  fi
done
elapsed=$(($(date +%s) - start))

if grep -q '"matches_end":false' "$weft_out" 2>/dev/null; then status=1; fi
if grep -q '"error"' "$peers_out"; then status=1; fi

table_args=(--peers "$peers_out" --weft "$weft_out")
((weft_ok)) || table_args+=(--weft-missing "$weft_missing")
if ((merge_ok)); then table_args+=(--go-merge "$merge_out"); else table_args+=(--merge-missing "$merge_missing"); fi
{
  node "$PEERS_DIR/table.mjs" "${table_args[@]}"
  echo
  echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, Node $(node --version); the run took ${elapsed} s. Raw figures: $OUT/."
} | tee "$OUT/table.md"
exit "$status"
