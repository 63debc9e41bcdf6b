#!/usr/bin/env bash
# Builds the editor page's assets into OUT (default ui/web/dist): the
# bundle from the committed lockfile (npm ci, then esbuild with the fixed
# options of ui/web/build.mjs), the crdt compiled to WebAssembly, and Go's
# wasm_exec.js from the toolchain that built it. Same sources, same Go and
# same lockfile give the same bytes (scripts/check-ui.sh relies on it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
out=${1:-ui/web/dist}
mkdir -p "$out"
out=$(cd "$out" && pwd)
GO=${GO:-go}

# Only what the build makes lives in OUT.
find "$out" -mindepth 1 -maxdepth 1 -exec rm -rf {} +

(cd ui/web && npm ci --no-audit --no-fund --loglevel=error && npx --no-install tsc --noEmit -p . && node build.mjs "$out")

# -trimpath and -buildvcs=false keep paths and the commit out of the binary.
GOOS=js GOARCH=wasm "$GO" build -trimpath -buildvcs=false -ldflags='-s -w' -o "$out/weft.wasm" ./ui/web/wasm

goroot=$("$GO" env GOROOT)
for f in "$goroot/lib/wasm/wasm_exec.js" "$goroot/misc/wasm/wasm_exec.js"; do
	if [ -f "$f" ]; then
		cp "$f" "$out/wasm_exec.js"
		break
	fi
done
[ -f "$out/wasm_exec.js" ] || { echo "build-ui: wasm_exec.js not found under $goroot" >&2; exit 1; }
chmod 0644 "$out"/*

echo "build-ui: wrote $(cd "$root" && realpath --relative-to=. "$out" 2>/dev/null || echo "$out"):"
(cd "$out" && for f in app.js app.css weft.wasm wasm_exec.js index.html; do
	printf '  %-14s %9d bytes, %8d gzipped\n' "$f" "$(wc -c <"$f")" "$(gzip -9n <"$f" | wc -c)"
done)
