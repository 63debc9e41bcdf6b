// Runs the page's Node tests: bundles test/*.test.ts with esbuild, builds
// the wasm module from the Go sources, and hands the bundles to Node's
// test runner (WEFT_WASM and WEFT_WASM_EXEC tell them where the module and
// Go's loader are).
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, "../../..");
const out = mkdtempSync(path.join(tmpdir(), "weft-web-test-"));
try {
  const tests = readdirSync(here).filter((f) => f.endsWith(".test.ts"));
  await build({
    entryPoints: tests.map((f) => path.join(here, f)),
    outdir: out,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outExtension: { ".js": ".mjs" },
    logLevel: "warning",
  });
  const go = process.env.GO || "go";
  const wasm = path.join(out, "weft.wasm");
  execFileSync(go, ["build", "-o", wasm, "./ui/web/wasm"], { cwd: repo, env: { ...process.env, GOOS: "js", GOARCH: "wasm" }, stdio: "inherit" });
  const goroot = execFileSync(go, ["env", "GOROOT"]).toString().trim();
  const r = spawnSync(process.execPath, ["--test", ...tests.map((f) => path.join(out, f.replace(/\.ts$/, ".mjs")))], {
    stdio: "inherit",
    env: { ...process.env, WEFT_WASM: wasm, WEFT_WASM_EXEC: path.join(goroot, "lib", "wasm", "wasm_exec.js") },
  });
  process.exitCode = r.status ?? 1;
} finally {
  rmSync(out, { recursive: true, force: true });
}
