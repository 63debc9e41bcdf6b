// Builds the editor page into a directory (default dist/): the bundled
// script and style sheet, index.html and the icon. The wasm module and Go's
// wasm_exec.js are added by scripts/build-ui.sh. Every option is fixed
// here, so the same lockfile gives the same bytes.
import { build } from "esbuild";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.resolve(process.argv[2] ?? path.join(here, "dist"));
await mkdir(out, { recursive: true });

const common = {
  bundle: true,
  minify: true,
  sourcemap: false,
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
  absWorkingDir: here,
  metafile: true,
};

const js = await build({
  ...common,
  entryPoints: ["src/main.ts"],
  outfile: path.join(out, "app.js"),
  format: "iife",
  target: ["chrome111", "firefox119", "safari17"],
});
await build({
  ...common,
  entryPoints: ["src/style.css"],
  outfile: path.join(out, "app.css"),
  target: ["chrome111", "firefox119", "safari17"],
});
for (const f of ["index.html", "favicon.svg"]) await copyFile(path.join(here, "src", f), path.join(out, f));

// The licences of the packages in the bundle, in a fixed order.
const pkgs = new Set();
for (const input of Object.keys(js.metafile.inputs)) {
  const m = input.match(/node_modules\/((?:@[^/]+\/)?[^/]+)\//);
  if (m) pkgs.add(m[1]);
}
let notice = "Third-party software in app.js, with its licence.\n";
for (const name of [...pkgs].sort()) {
  const dir = path.join(here, "node_modules", name);
  const meta = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
  let text = "";
  for (const f of ["LICENSE", "LICENSE.md", "LICENSE.txt", "license"]) {
    try {
      text = await readFile(path.join(dir, f), "utf8");
      break;
    } catch {}
  }
  if (!text) throw new Error(`no licence file in ${name}`);
  notice += `\n${"=".repeat(72)}\n${name} ${meta.version} (${meta.license})\n${"=".repeat(72)}\n${text.trim()}\n`;
}
await writeFile(path.join(out, "THIRD_PARTY_LICENSES.txt"), notice);
