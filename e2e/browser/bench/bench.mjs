// Benchmarks of the editor in headless Chromium (figures in
// BENCHMARKS.md, "editor"):
//
//   1. keystroke latency: a key pressed in page A until the character is in
//      page B's editor (dispatched into CodeMirror) and until B's next frame,
//      through two daemons on loopback; one keystroke at a time.
//   2. opening the automerge-paper document (259,778 edits, 104,852
//      characters) in a fresh page: navigation until the text is in the
//      editor and editable; then typing in it (key to next frame).
//   3. the history panel's slider on automerge-paper: each version from the
//      key to the frame that shows it (canned route answers, and the
//      daemon's routes where it has them).
//   4. the size of the assets the page loads, raw and gzipped.
//
//   node bench/bench.mjs [--keys N] [--opens N] [--json FILE]   (--keys 0: no latency run)
//
// Prints a Markdown table and, with --json, the raw figures.

import { execFileSync } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { cpus } from "node:os";
import path from "node:path";
import { gzipSync } from "node:zlib";

import { cleanup, cluster, launch, repoRoot, shareDoc, tempDir, waitFor } from "../lib/harness.mjs";
import { openEditor, setCursor, waitLive } from "../lib/page.mjs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const KEYS = Number(opt("keys", 400));
const OPENS = Number(opt("opens", 3));
const JSON_OUT = opt("json", "");

function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const median = (xs) => quantile(xs, 0.5);
const ms = (x) => `${x.toFixed(1)} ms`;

// wsTimes records, in the page, when txns messages go out and come in on
// the document socket (a txns message is a CBOR array, of any length up to
// 255, that starts [1, 2, …]: 0x80–0x97 or 0x98 n, then 0x01 0x02; the
// members-only fields made it 19 long, 0x93).
function wsTimes() {
  globalThis.wsSent = [];
  globalThis.wsRecv = [];
  const now = () => performance.timeOrigin + performance.now();
  const isTxns = (d) => {
    if ((d[0] & 0xe0) !== 0x80 || (d[0] & 0x1f) > 24) return false;
    const i = (d[0] & 0x1f) === 24 ? 2 : 1;
    return d[i] === 0x01 && d[i + 1] === 0x02;
  };
  const W = WebSocket;
  globalThis.WebSocket = class extends W {
    constructor(...a) {
      super(...a);
      this.addEventListener("message", (e) => {
        if (isTxns(new Uint8Array(e.data))) globalThis.wsRecv.push(now());
      });
    }
    send(d) {
      if (d instanceof Uint8Array && isTxns(d)) globalThis.wsSent.push(now());
      return super.send(d);
    }
  };
}

async function keystrokeLatency(ctx, ds, doc) {
  const open = async (d, name) => {
    const p = await openEditor(ctx, d, doc, { name, color: "#e03131" });
    await p.addInitScript(wsTimes);
    await p.reload();
    await waitLive(p);
    return p;
  };
  const a = await open(ds[0], "A");
  const b = await open(ds[1], "B");
  await b.evaluate(() => {
    globalThis.arrivals = [];
    globalThis.weftEditor.onRemote((text) => {
      const t = performance.timeOrigin + performance.now();
      const rec = { t, frame: 0, n: [...text].length };
      globalThis.arrivals.push(rec);
      requestAnimationFrame(() => (rec.frame = performance.timeOrigin + performance.now()));
    });
  });
  await a.evaluate(() => {
    globalThis.keys = [];
    window.addEventListener("keydown", () => globalThis.keys.push(performance.timeOrigin + performance.now()), true);
  });
  await setCursor(a, 0);
  const warm = 20;
  for (let i = 0; i < KEYS + warm; i++) {
    await a.keyboard.press(String.fromCharCode(0x61 + (i % 26)));
    await b.waitForFunction(
      (n) => globalThis.arrivals.reduce((s, r) => s + r.n, 0) >= n && globalThis.arrivals.at(-1).frame > 0,
      i + 1,
      { polling: 5 },
    );
  }
  const keys = await a.evaluate(() => globalThis.keys);
  const sent = await a.evaluate(() => globalThis.wsSent);
  const recv = await b.evaluate(() => globalThis.wsRecv);
  const arr = await b.evaluate(() => globalThis.arrivals);
  if (arr.length !== keys.length || sent.length !== keys.length || recv.length !== keys.length)
    throw new Error(`${keys.length} keys, ${sent.length} sent, ${recv.length} received, ${arr.length} shown: not one each`);
  const r = { dispatch: [], frame: [], tabA: [], daemons: [], tabB: [] };
  for (let i = warm; i < keys.length; i++) {
    r.dispatch.push(arr[i].t - keys[i]);
    r.frame.push(arr[i].frame - keys[i]);
    r.tabA.push(sent[i] - keys[i]);
    r.daemons.push(recv[i] - sent[i]);
    r.tabB.push(arr[i].t - recv[i]);
  }
  await a.close();
  await b.close();
  return r;
}

async function replayPaper(d) {
  const id = (await d.cli("doc", "new", "--title", "automerge-paper")).trim();
  const trace = path.join(repoRoot, "testdata", "traces", "sequential", "automerge-paper.json.gz");
  const t0 = Date.now();
  const summary = JSON.parse(await d.cli("doc", "replay", id, trace));
  console.error(`replayed automerge-paper into ${d.name} in ${((Date.now() - t0) / 1000).toFixed(1)} s (${summary.chars} chars)`);
  return { id, chars: summary.chars };
}

// socketOpen marks, in the page, when the document socket opens (before
// the page's own handler runs: it sends the hello), so that "socket open
// → editable" is measured the same way for any build of the page.
function socketOpen() {
  const W = WebSocket;
  globalThis.WebSocket = class extends W {
    constructor(...a) {
      super(...a);
      this.addEventListener("open", () => {
        if (!performance.getEntriesByName("bench-socket-open").length) performance.mark("bench-socket-open");
      });
      this.addEventListener("message", () => {
        globalThis.benchWasmOn = true;
        if (!performance.getEntriesByName("bench-first-message").length) performance.mark("bench-first-message");
      });
    }
  };
}

// wasmCalls times, in the page, every call into the weft module from the
// socket's first message until the page is editable (where the tab's time
// goes: decoding the snapshot, reading the text, resync).
function wasmCalls() {
  globalThis.benchWasm = {};
  let w;
  Object.defineProperty(globalThis, "weft", {
    configurable: true,
    get: () => w,
    set: (v) => {
      w = v;
      for (const [k, f] of Object.entries(v)) {
        if (typeof f !== "function") continue;
        v[k] = (...a) => {
          const t0 = performance.now();
          const r = f(...a);
          if (globalThis.benchWasmOn && !performance.getEntriesByName("weft-doc-ready").length) {
            const e = (globalThis.benchWasm[k] ??= { n: 0, ms: 0 });
            e.n++;
            e.ms += performance.now() - t0;
          }
          return r;
        };
      }
    },
  });
}

async function openPaper(ctx, d, { id, chars }) {
  const summary = { chars };
  const opens = [];
  let typing = [];
  for (let i = 0; i < OPENS; i++) {
    const page = await ctx.newPage();
    await page.addInitScript(socketOpen);
    await page.addInitScript(wasmCalls);
    await page.goto(`${d.api}/#token=${d.token}&doc=${id}`);
    await waitLive(page, 120_000);
    const m = await page.evaluate(() => ({
      wasm: performance.getEntriesByName("weft-wasm-ready")[0]?.startTime,
      socket: performance.getEntriesByName("bench-socket-open")[0]?.startTime,
      first: performance.getEntriesByName("bench-first-message")[0]?.startTime,
      hello: performance.getEntriesByName("weft-doc-hello")[0]?.startTime,
      done: performance.getEntriesByName("weft-doc-done")[0]?.startTime,
      ready: performance.getEntriesByName("weft-doc-ready")[0]?.startTime,
      len: [...globalThis.weftEditor.text()].length,
      calls: globalThis.benchWasm,
    }));
    console.error(`open ${i + 1}: socket → editable ${(m.ready - m.socket).toFixed(1)} ms (hello taken → done handled ${(m.done - m.hello).toFixed(1)} ms, → editable ${(m.ready - m.done).toFixed(1)} ms); wasm calls ${JSON.stringify(m.calls, (k, v) => (typeof v === "number" ? Math.round(v * 10) / 10 : v))}`);
    if (m.len !== summary.chars) throw new Error(`page shows ${m.len} chars, want ${summary.chars}`);
    opens.push(m);
    if (i === OPENS - 1) typing = await typeInBigDoc(page);
    await page.close();
  }
  return { opens, typing, chars: summary.chars };
}

// typeInBigDoc types in the middle of the open document: key to next frame.
async function typeInBigDoc(page) {
  const len = await page.evaluate(() => globalThis.weftEditor.view().state.doc.length);
  await setCursor(page, Math.floor(len / 2));
  await page.evaluate(() => {
    globalThis.frames = [];
    window.addEventListener(
      "keydown",
      () => {
        const t0 = performance.now();
        requestAnimationFrame(() => globalThis.frames.push(performance.now() - t0));
      },
      true,
    );
  });
  for (let i = 0; i < 200; i++) {
    await page.keyboard.press(String.fromCharCode(0x61 + (i % 26)));
    await page.waitForFunction((n) => globalThis.frames.length >= n, i + 1, { polling: 5 });
  }
  await waitFor("the typing to be saved", () => page.evaluate(() => globalThis.weftEditor.unsaved() === 0), { timeout: 30_000 });
  return (await page.evaluate(() => globalThis.frames)).slice(10);
}

// historyScrub opens the history panel on the paper and moves its slider
// through every version, one at a time (ArrowLeft), timing each from the
// key to the frame that shows the version (the panel's own timings). With
// canned, the history routes' answers are canned in the page (N versions
// of the paper's text, cut at growing lengths, with 300 inserted spans
// each): the panel's drawing alone; without, the daemon's routes answer.
async function historyScrub(ctx, d, { id }, canned) {
  const page = await ctx.newPage();
  await page.goto(`${d.api}/#token=${d.token}&doc=${id}`);
  await waitLive(page, 120_000);
  let versions = 0;
  if (canned) {
    const text = await page.evaluate(() => globalThis.weftEditor.text());
    const cps = [...text];
    const N = 40;
    versions = N;
    const sessions = [];
    for (let i = N - 1; i >= 0; i--)
      sessions.push({ agent: `dev${i % 3}.t`, device: `dev${i % 3}`, start: new Date(1e12 + i * 6e5).toISOString(), end: new Date(1e12 + i * 6e5 + 1000).toISOString(), inserted: 1, deleted: 0, txns: 1, version: `v${i}` });
    await page.route(/\/api\/docs\/[0-9a-f]+\/(history|text)/, async (route) => {
      const u = new URL(route.request().url());
      if (u.pathname.endsWith("/history")) return route.fulfill({ contentType: "application/json", body: JSON.stringify({ version: `v${N - 1}`, sessions }) });
      const i = Number(u.searchParams.get("at").slice(1));
      const n = Math.floor((cps.length * (i + 1)) / N);
      const inserted = [];
      for (let k = 0; k < 300; k++) inserted.push({ start: Math.floor((n * k) / 300), len: 7, agent: `dev${k % 3}.t` });
      return route.fulfill({ contentType: "application/json", body: JSON.stringify({ version: `v${i}`, text: cps.slice(0, n).join(""), inserted }) });
    });
  }
  if (!(await page.$("#history-toggle"))) {
    await page.close();
    return undefined; // a page from before the history panel
  }
  await page.click("#history-toggle");
  await waitFor("the history panel", () => page.evaluate(() => globalThis.weftEditor.historyTimings().length >= 1), { timeout: 120_000 });
  if (!canned) versions = await page.evaluate(() => Number(document.getElementById("hist-slider").max) + 1);
  await page.focus("#hist-slider");
  for (let i = 1; i < versions; i++) {
    await page.keyboard.press("ArrowLeft");
    await waitFor("the version drawn", () => page.evaluate((n) => globalThis.weftEditor.historyTimings().length >= n, i + 1), { timeout: 60_000, every: 5 });
  }
  const t = (await page.evaluate(() => globalThis.weftEditor.historyTimings())).slice(1);
  await page.close();
  return { versions, timings: t };
}

async function sizes() {
  const dist = path.join(repoRoot, "ui", "web", "dist");
  const out = {};
  for (const f of ["app.js", "app.css", "weft.wasm", "wasm_exec.js", "index.html"]) {
    const b = await readFile(path.join(dist, f));
    out[f] = { raw: b.length, gzip: gzipSync(b, { level: 9 }).length };
  }
  return out;
}

function machine() {
  const chromium = (() => {
    try {
      return execFileSync(process.env.WEFT_CHROMIUM || "/usr/bin/chromium", ["--version"], { stdio: ["ignore", "pipe", "ignore"] }).toString().trim();
    } catch {
      return "?";
    }
  })();
  const go = execFileSync("go", ["version"]).toString().trim();
  return `${cpus().length} × ${cpus()[0]?.model ?? "?"}; ${chromium}; node ${process.version}; ${go}`;
}

const root = await tempDir("weft-browser-bench-");
const ds = await cluster(2, root);
let ctx;
try {
  ctx = await launch(root);
  if (!ctx) process.exit(0);
  // The paper first, so the daemons are idle again for the latency run.
  const paperDoc = await replayPaper(ds[0]);
  const doc = await shareDoc(ds, "latency");
  const lat = KEYS > 0 ? await keystrokeLatency(ctx, ds, doc) : { dispatch: [NaN], frame: [NaN], tabA: [NaN], daemons: [NaN], tabB: [NaN] };
  const paper = await openPaper(ctx, ds[0], paperDoc);
  const scrubCanned = await historyScrub(ctx, ds[0], paperDoc, true);
  const probe = await fetch(`${ds[0].api}/api/docs/${paperDoc.id}/history`, { headers: { Authorization: `Bearer ${ds[0].token}` } });
  let scrub;
  if (probe.ok && scrubCanned) {
    // The replay is one session; eight tabs (eight agents) each add one.
    for (let k = 0; k < 8; k++) {
      const p = await ctx.newPage();
      await p.goto(`${ds[0].api}/#token=${ds[0].token}&doc=${paperDoc.id}`);
      await waitLive(p, 120_000);
      await setCursor(p, 5000 + k * 9000);
      await p.keyboard.type(`[session ${k}] `);
      await waitFor("the tab's edit to be saved", () => p.evaluate(() => globalThis.weftEditor.unsaved() === 0), { timeout: 30_000 });
      await p.close();
    }
    scrub = await historyScrub(ctx, ds[0], paperDoc, false);
  }
  const sz = await sizes();
  const res = { machine: machine(), keys: KEYS, latency: lat, paper, scrubCanned, scrub, sizes: sz };
  if (JSON_OUT) await writeFile(JSON_OUT, JSON.stringify(res, null, 1));
  const rows = [
    [`keystroke A → B's editor, 2 daemons (${KEYS} keys)`, `p50 ${ms(median(lat.dispatch))}, p99 ${ms(quantile(lat.dispatch, 0.99))}, max ${ms(Math.max(...lat.dispatch))}`],
    [`keystroke A → B's next frame`, `p50 ${ms(median(lat.frame))}, p99 ${ms(quantile(lat.frame, 0.99))}`],
    [`… of which: key → A's socket (A's browser and page)`, `p50 ${ms(median(lat.tabA))}, p99 ${ms(quantile(lat.tabA, 0.99))}`],
    [`… A's socket → B's socket (both daemons, gossip)`, `p50 ${ms(median(lat.daemons))}, p99 ${ms(quantile(lat.daemons, 0.99))}`],
    [`… B's socket → B's editor (B's page)`, `p50 ${ms(median(lat.tabB))}, p99 ${ms(quantile(lat.tabB, 0.99))}`],
    [`open automerge-paper (${paper.chars} chars), median of ${OPENS}`, `${ms(median(paper.opens.map((o) => o.ready)))} to editable (wasm ready at ${ms(median(paper.opens.map((o) => o.wasm)))})`],
    [`… socket open → the daemon's first message (hello) / → editable, median of ${OPENS}`, `${ms(median(paper.opens.map((o) => o.first - o.socket)))} / ${ms(median(paper.opens.map((o) => o.ready - o.first)))}`],
    [`… the daemon's hello received → taken (the snapshot loaded) / → editable, median of ${OPENS}`, `${ms(median(paper.opens.map((o) => o.hello - o.first)))} / ${ms(median(paper.opens.map((o) => o.ready - o.hello)))}`],
    [`… socket open → editable, median of ${OPENS}`, `${ms(median(paper.opens.map((o) => o.ready - o.socket)))} (range ${ms(Math.min(...paper.opens.map((o) => o.ready - o.socket)))}–${ms(Math.max(...paper.opens.map((o) => o.ready - o.socket)))})`],
    scrubCanned
      ? [`history slider on automerge-paper, one version drawn (canned route answers: the panel alone), ${scrubCanned.timings.length} versions`, `p50 ${ms(median(scrubCanned.timings))}, p99 ${ms(quantile(scrubCanned.timings, 0.99))}, max ${ms(Math.max(...scrubCanned.timings))}`]
      : [`history slider`, `not measured: the page has no history panel`],
    scrub
      ? [`history slider on automerge-paper, one version drawn (the daemon's routes), ${scrub.timings.length} versions`, scrub.timings.length ? `p50 ${ms(median(scrub.timings))}, p99 ${ms(quantile(scrub.timings, 0.99))}, max ${ms(Math.max(...scrub.timings))}` : "one version only"]
      : [`history slider on automerge-paper (the daemon's routes)`, `not measured: the daemon has no history routes`],
    [`typing in automerge-paper, key → next frame (190 keys)`, `p50 ${ms(median(paper.typing))}, p99 ${ms(quantile(paper.typing, 0.99))}`],
  ];
  for (const [f, s] of Object.entries(sz)) rows.push([`${f}`, `${s.raw.toLocaleString("en")} B, gzip ${s.gzip.toLocaleString("en")} B`]);
  console.log(`machine: ${res.machine}\n`);
  console.log("| what | figure |\n|---|---|");
  for (const [a, b] of rows) console.log(`| ${a} | ${b} |`);
} finally {
  await ctx?.close();
  for (const d of ds) await d.stop();
  await cleanup(root);
}
