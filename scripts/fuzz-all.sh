#!/usr/bin/env bash
# fuzz-all.sh BUDGET PKG...: run every Fuzz target of each package for
# BUDGET, a -fuzztime value (a duration like 10s, or a count like 20000x).
# `go test -fuzz` takes one target at a time, so list them and loop.
#
# One fuzzing worker: on a loaded 2-core machine two workers starve each
# other, and Go's fuzzer then fails with "context deadline exceeded" when
# the budget runs out with a worker unresponsive — a flake, not a finding.
# Even with one worker it happens: Go 1.26's fuzzing coordinator can report
# its own -fuzztime deadline as a failure (golang/go#75804, fixed in Go
# 1.27). Such a run (that message, and no new crasher under testdata/fuzz)
# is run again, up to three times in all; if every try stalls that way, the
# target is reported as stalled and the run goes on: nothing was found, and
# the committed corpus was run as tests before fuzzing started (`go test`
# runs seeds first). A real finding writes its input under testdata/fuzz
# and fails at once.
set -euo pipefail
budget=$1; shift
# crashers counts the inputs saved under a target's corpus directory.
crashers() { if [ -d "$1" ]; then find "$1" -type f | wc -l; else echo 0; fi; }
for pkg in "$@"; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    for try in 1 2 3; do
      echo "fuzz $pkg $target ($budget)"
      before=$(crashers "$pkg/testdata/fuzz/$target")
      if out=$(go test -run='^$' -fuzz="^${target}\$" -fuzztime="$budget" -parallel=1 "$pkg" 2>&1); then
        echo "$out"
        break
      fi
      echo "$out"
      after=$(crashers "$pkg/testdata/fuzz/$target")
      if [ "$before" = "$after" ] && grep -q "context deadline exceeded" <<<"$out"; then
        if [ "$try" != 3 ]; then
          echo "fuzz $pkg $target: the fuzzer stalled at the end of its budget (no crasher written); once more"
          continue
        fi
        echo "fuzz $pkg $target: stalled on every try (golang/go#75804), no crasher written; going on"
        break
      fi
      exit 1
    done
  done
done
