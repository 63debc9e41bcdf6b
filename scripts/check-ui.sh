#!/usr/bin/env bash
# Fails if the committed editor assets (ui/web/dist) are not what their
# sources build: rebuilds into a temporary directory and compares.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
./scripts/build-ui.sh "$tmp/dist" >/dev/null
if ! diff -r ui/web/dist "$tmp/dist" >"$tmp/diff"; then
	echo "check-ui: ui/web/dist does not match its sources; run \`make ui\` and commit the result" >&2
	echo "  (the wasm module's bytes depend on the Go version: this is $(${GO:-go} version | cut -d' ' -f3); the committed one was built with the go.mod toolchain)" >&2
	head -c 2000 "$tmp/diff" | sed 's/^/  /' >&2
	exit 1
fi
echo "check-ui: ui/web/dist matches its sources"
