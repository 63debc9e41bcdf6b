// Shared pieces of the browser end-to-end tests: the weft binary, real
// daemons in temporary data directories, headless Chromium, a seeded
// random source, waiting on conditions with deadlines, and suite, the
// setup and teardown around every test file's tests.

import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, "../../..");
export const inCI = !!process.env.CI && process.env.CI !== "0" && process.env.CI !== "false";

// ---- seeded randomness ----

// seed is fixed by WEFT_E2E_SEED, else drawn; every test prints it.
export function seed() {
  const s = process.env.WEFT_E2E_SEED;
  return s ? Number(s) >>> 0 : (Math.random() * 2 ** 32) >>> 0;
}

// Rng is a small deterministic generator (mulberry32).
export class Rng {
  constructor(seed) {
    this.s = seed >>> 0;
  }
  next() {
    let t = (this.s = (this.s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  }
  int(n) {
    return Math.floor(this.next() * n);
  }
  pick(a) {
    return a[this.int(a.length)];
  }
}

// ---- waiting ----

// slow stretches every deadline (WEFT_E2E_SLOW=4 on a loaded machine).
export const slow = Number(process.env.WEFT_E2E_SLOW || 1);

// waitFor polls cond until it returns a truthy value or the deadline
// passes; the error names what was awaited and the last value seen.
export async function waitFor(what, cond, { timeout = 20_000, every = 25 } = {}) {
  const deadline = Date.now() + timeout * slow;
  let last;
  for (;;) {
    try {
      last = await cond();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      const seen = last instanceof Error ? last.message : JSON.stringify(last)?.slice(0, 500);
      throw new Error(`timed out after ${timeout * slow} ms waiting for ${what} (last: ${seen})`);
    }
    await new Promise((r) => setTimeout(r, every));
  }
}

// ---- tests ----

// tracked returns a test(name, fn) whose fn calling onFail when it throws
// (the suite then keeps its data and prints the daemons' logs). With
// browser, a test is skipped while browser() returns nothing: Chromium is
// not available.
export function tracked(onFail, browser) {
  return (name, fn) =>
    test(name, async (t) => {
      if (browser && !browser()) return t.skip("Chromium not available");
      try {
        await fn(t);
      } catch (e) {
        onFail();
        throw e;
      }
    });
}

// ---- the weft binary ----

let built;

// weftBinary builds cmd/weft once per process (WEFT_E2E_WEFT names a
// prebuilt one instead).
export function weftBinary(dir) {
  built ??= (async () => {
    if (process.env.WEFT_E2E_WEFT) return path.resolve(process.env.WEFT_E2E_WEFT);
    const out = path.join(dir, "weft");
    await run("go", ["build", "-o", out, "./cmd/weft"], { cwd: repoRoot, maxBuffer: 64 << 20 });
    return out;
  })();
  return built;
}

export async function tempDir(prefix = "weft-browser-") {
  return mkdtemp(path.join(tmpdir(), prefix));
}

// ---- daemons ----

const live = new Set();
function killAll() {
  for (const d of live) d.child?.kill("SIGKILL");
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM"])
  process.on(sig, () => {
    killAll();
    process.exit(2);
  });

// Daemon is one `weft daemon` process on 127.0.0.1 with its own data
// directory; its output is kept for failure reports.
export class Daemon {
  constructor(name, bin, dir) {
    this.name = name;
    this.bin = bin;
    this.dir = dir;
    this.out = "";
    this.child = undefined;
    this.api = "";
    this.token = "";
    this.port = 0;
    this.peerID = "";
    this.device = ""; // its device ID: members list it, its tabs' agents start with it
    this.addr = "";
  }

  // start runs the daemon (on its previous API port if it ran before, so
  // open pages find it again) and waits for its api.json.
  async start({ bootstrap = [], relays = [], env = {} } = {}) {
    await mkdir(this.dir, { recursive: true });
    const args = ["daemon", "--data", this.dir, "--api", `127.0.0.1:${this.port}`, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht"];
    for (const b of bootstrap) args.push("--bootstrap", b);
    for (const r of relays) args.push("--relay", r);
    const child = spawn(this.bin, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    live.add(this);
    const keep = (b) => {
      this.out += b.toString();
      if (this.out.length > 400_000) this.out = this.out.slice(-200_000);
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    child.exited = new Promise((r) => child.on("exit", (code, sig) => r({ code, sig })));
    const info = await waitFor(`${this.name} to write api.json`, async () => {
      if (child.exitCode !== null) throw new Error(`${this.name} exited with ${child.exitCode}:\n${this.out}`);
      try {
        const j = JSON.parse(await readFile(path.join(this.dir, "api.json"), "utf8"));
        return j.pid === child.pid ? j : undefined;
      } catch {
        return undefined;
      }
    }, { timeout: 30_000 });
    this.api = info.api;
    this.token = info.token;
    this.port = Number(new URL(info.api).port);
    const st = await this.call("GET", "/api/status");
    this.peerID = st.peer_id;
    this.device = st.device ?? "";
    this.addr = st.addrs.find((a) => a.startsWith("/ip4/127.0.0.1/tcp/"));
    if (!this.addr) throw new Error(`${this.name}: no loopback TCP address in ${JSON.stringify(st.addrs)}`);
    if (!this.addr.includes("/p2p/")) this.addr += `/p2p/${this.peerID}`;
    return this;
  }

  // stop ends the daemon with sig (SIGTERM: clean; SIGKILL: a crash) and
  // waits for it to exit.
  async stop(sig = "SIGTERM") {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    await c.exited;
    live.delete(this);
  }

  async call(method, p, body, { raw = false } = {}) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const r = await fetch(this.api + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    if (!r.ok) throw new Error(`${this.name}: ${method} ${p}: HTTP ${r.status}: ${text}`);
    return raw ? text : text ? JSON.parse(text) : undefined;
  }

  text(doc) {
    return this.call("GET", `/api/docs/${doc}/text`, undefined, { raw: true });
  }

  // cli runs a weft subcommand against this daemon.
  async cli(...args) {
    const { stdout } = await run(this.bin, [...args, "--data", this.dir], { maxBuffer: 64 << 20 });
    return stdout;
  }

  report() {
    return `---- ${this.name} (${this.dir}) ----\n${this.out.slice(-20_000)}`;
  }
}

// Relay is one `weft relay` process on 127.0.0.1.
export class Relay {
  constructor(bin, dir) {
    this.bin = bin;
    this.dir = dir;
    this.out = "";
    this.addr = "";
  }
  async start() {
    await mkdir(this.dir, { recursive: true });
    const child = spawn(this.bin, ["relay", "--data", this.dir, "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--metrics", ""], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    live.add(this);
    child.stdout.on("data", (b) => (this.out += b.toString()));
    child.stderr.on("data", (b) => (this.out += b.toString()));
    child.exited = new Promise((r) => child.on("exit", (code, sig) => r({ code, sig })));
    this.addr = await waitFor("the relay to print its address", () => {
      if (child.exitCode !== null) throw new Error(`the relay exited with ${child.exitCode}:\n${this.out}`);
      const m = this.out.match(/listening (\/ip4\/127\.0\.0\.1\/tcp\/\d+\S*)/);
      if (!m || !this.out.includes("Point daemons at it")) return undefined;
      const id = this.out.match(/peer ID\s+(\S+)/)?.[1];
      return m[1].includes("/p2p/") ? m[1] : `${m[1]}/p2p/${id}`;
    }, { timeout: 30_000 });
    return this;
  }
  async stop() {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill("SIGTERM");
    await c.exited;
    live.delete(this);
  }
  report() {
    return `---- relay (${this.dir}) ----\n${this.out.slice(-20_000)}`;
  }
}

// cluster starts n daemons ("a", "b", … in root/a, root/b, …), each
// bootstrapping to the first and using the relays given.
export async function cluster(n, root, { relays = [] } = {}) {
  const bin = await weftBinary(root);
  const ds = [];
  for (let i = 0; i < n; i++) {
    const d = new Daemon(String.fromCharCode(97 + i), bin, path.join(root, String.fromCharCode(97 + i)));
    await d.start({ bootstrap: i === 0 ? [] : [ds[0].addr], relays });
    ds.push(d);
  }
  return ds;
}

// legacy (WEFT_E2E_LEGACY=1) is for side-by-side benchmark runs only, with
// WEFT_E2E_WEFT naming a binary from before members-only documents (no
// invites): shareDoc then joins by bare ID (POST /api/docs/{id}/join).
export const legacy = process.env.WEFT_E2E_LEGACY === "1";

// shareDoc creates a document on the first daemon (its admin) and has the
// others join it with an invite each (role write, labelled with the
// daemon's name): members-only documents are joined by invite, not by ID.
export async function shareDoc(ds, title = "shared", { role = "write" } = {}) {
  const doc = (await ds[0].call("POST", "/api/docs", { title })).id;
  for (const d of ds.slice(1)) {
    await waitFor(`${d.name} to see ${ds[0].name} as a peer`, async () =>
      (await d.call("GET", "/api/peers")).some((p) => p.id === ds[0].peerID),
    );
    if (legacy) {
      const info = await d.call("POST", `/api/docs/${doc}/join`);
      if (info?.id !== doc) throw new Error(`${d.name}: joining ${doc} by ID gave ${JSON.stringify(info)}`);
      continue;
    }
    await joinWith(d, await invite(ds[0], doc, { role, label: d.name }), doc);
  }
  return doc;
}

// invite has daemon d make an invite to doc (req: role, label, expires in
// seconds) and returns the invite string.
export async function invite(d, doc, req = { role: "write" }) {
  const info = await d.call("POST", `/api/docs/${doc}/invites`, req);
  if (typeof info?.invite !== "string" || !info.invite.startsWith("weft:invite/"))
    throw new Error(`${d.name}: POST /api/docs/${doc}/invites answered no invite: ${JSON.stringify(info)}`);
  if (info.doc !== doc || info.role !== req.role)
    throw new Error(`${d.name}: an invite to ${doc} as ${req.role} came back as ${JSON.stringify(info)}`);
  return info.invite;
}

// joinWith has daemon d join with an invite; with doc, checks that the
// document joined is that one. Returns its DocInfo.
export async function joinWith(d, inviteText, doc) {
  const info = await d.call("POST", "/api/join", { invite: inviteText });
  if (doc && info?.id !== doc) throw new Error(`${d.name}: joining with an invite to ${doc} gave ${JSON.stringify(info)}`);
  return info;
}

// members lists doc's members as daemon d knows them.
export function members(d, doc) {
  return d.call("GET", `/api/docs/${doc}/members`);
}

// ---- Chromium ----

export const chromiumFlags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // Keep timers and animation frames running in pages that are not in
  // front: both users type at once.
  "--disable-background-timer-throttling",
  "--disable-renderer-backgrounding",
  "--disable-backgrounding-occluded-windows",
];

// chromiumPath finds Chromium; without it the tests skip loudly, except
// in CI (CI=1), where its absence is a failure.
export function chromiumPath() {
  const p = process.env.WEFT_CHROMIUM || "/usr/bin/chromium";
  if (existsSync(p)) return p;
  const msg = `Chromium not found at ${p} (install Debian's chromium, or set WEFT_CHROMIUM)`;
  if (inCI) throw new Error(`${msg}; CI needs it`);
  console.error(`\n${"!".repeat(72)}\n!! SKIPPING the browser tests: ${msg}\n${"!".repeat(72)}\n`);
  return undefined;
}

// launch starts headless Chromium with a fresh profile directory.
export async function launch(root) {
  const exe = chromiumPath();
  if (!exe) return undefined;
  const { chromium } = await import("playwright-core");
  const profile = path.join(root, "chromium-profile");
  await mkdir(profile, { recursive: true });
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: exe,
    headless: true,
    args: chromiumFlags,
    viewport: { width: 760, height: 560 },
  });
  return ctx;
}

// cleanup removes a temporary directory unless WEFT_E2E_KEEP is set.
export async function cleanup(dir) {
  if (!process.env.WEFT_E2E_KEEP) await rm(dir, { recursive: true, force: true });
  else console.error(`kept ${dir}`);
}

// ---- a suite ----

// suite declares a block of tests that run one after another (node:test's
// describe), with the setup and teardown every browser test file needs,
// and returns its handles, which the block's before hook fills in:
//
//   root   the temporary directory everything lives in
//   ds     the daemons (see cluster); d is ds[0]
//   relay  with opts.relay, a `weft relay` in root/relay that the
//          daemons use
//   ctx    headless Chromium (see launch), or undefined without it
//
// opts: daemons, how many (1); relay (false); browser (true: Chromium is
// launched before the tests, which skip loudly without it, or fail under
// CI=1; false: the tests run without it); seed, printed again when
// anything failed; setup, an async (handles) => … run last in the before
// hook, for what a file sets up itself. body(step) declares the tests
// with step(name, fn) (see tracked).
//
// After the tests Chromium is closed and every process stopped. When the
// setup or a test failed, the seed and every process's output are printed
// and root is kept; otherwise root is removed (unless WEFT_E2E_KEEP).
export function suite(name, opts, body) {
  const { daemons = 1, relay = false, browser = true, seed, setup } = opts;
  const s = { root: "", ds: [], d: undefined, relay: undefined, ctx: undefined };
  let failed = false;
  describe(name, { concurrency: false }, () => {
    before(async () => {
      failed = true; // until set up
      s.root = await tempDir();
      if (relay) s.relay = await new Relay(await weftBinary(s.root), path.join(s.root, "relay")).start();
      s.ds = await cluster(daemons, s.root, { relays: s.relay ? [s.relay.addr] : [] });
      s.d = s.ds[0];
      if (browser) s.ctx = await launch(s.root);
      await setup?.(s);
      failed = false;
    });
    after(async () => {
      if (failed) {
        if (seed !== undefined) console.error(`\nseed ${seed} (rerun with WEFT_E2E_SEED=${seed})`);
        for (const p of [...s.ds, s.relay]) if (p) console.error(p.report());
      }
      await s.ctx?.close();
      for (const d of s.ds) await d.stop();
      await s.relay?.stop();
      if (!failed) await cleanup(s.root);
      else if (s.root) console.error(`kept ${s.root}`);
    });
    body(tracked(() => (failed = true), browser ? () => s.ctx : undefined));
  });
  return s;
}
