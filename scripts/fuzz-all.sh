#!/usr/bin/env bash
# fuzz-all.sh BUDGET PKG...: run every Fuzz target of each package for
# BUDGET, a -fuzztime value (a duration like 10s, or a count like 20000x).
# `go test -fuzz` takes one target at a time, so list them and loop.
#
# One fuzzing worker: on a loaded 2-core machine two workers starve each
# other, and Go's fuzzer then fails with "context deadline exceeded" when
# the budget runs out with a worker unresponsive — a flake, not a finding.
set -euo pipefail
budget=$1; shift
for pkg in "$@"; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($budget)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$budget" -parallel=1 "$pkg"
  done
done
