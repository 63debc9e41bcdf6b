#!/usr/bin/env bash
# fuzz-all.sh TIME PKG...: run every Fuzz target of each package for TIME.
# `go test -fuzz` takes one target at a time, so list them and loop.
set -euo pipefail
time=$1; shift
for pkg in "$@"; do
  for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "fuzz $pkg $target ($time)"
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$time" "$pkg"
  done
done
