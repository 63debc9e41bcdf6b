#!/usr/bin/env node
// Replays editing traces on the peer CRDT libraries and prints one JSON line
// per (peer, trace file), with the fields of `weft trace replay`'s lines.
//
//   node run.mjs [--peers json-joy,loro,yjs,automerge] [--runs 5]
//                [--runs automerge=3] FILE...
//
// Each (peer, file) is measured in child processes of its own (one for the
// replay, merge and snapshot; a fresh one for the snapshot load and the heap),
// so that no library's heap or JIT state affects another's figures.
// Exit status: 0 all good, 1 some trace did not reach its endContent or a peer
// failed, 2 unreadable input.

import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { collect, median, mergeFresh, replayConcurrent, replaySequential, timedLoad } from './lib/replay.mjs';
import { cpLength, loadTrace, TraceError } from './lib/trace.mjs';
import { loadPeer, PEERS } from './peers/index.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const SELF = fileURLToPath(import.meta.url);
// Timed runs and unrecorded warm-up runs per (peer, file). Automerge takes
// tens of seconds per replay of the longest traces, and its hot code is
// WebAssembly, which needs no JIT warm-up.
const DEFAULTS = {
  runs: { all: 5, automerge: 3 },
  warmup: { all: 1, automerge: 0 },
};
const EXIT_MISMATCH = 1;
const EXIT_BAD_INPUT = 2;

const sha = (s) => createHash('sha256').update(s).digest('hex');

function usage(msg) {
  process.stderr.write(`bench-peers: ${msg}\nusage: node --expose-gc run.mjs [--peers ${PEERS.join(',')}] [--runs N] [--runs PEER=N] [--warmup N] [--warmup PEER=N] FILE...\n`);
  process.exit(EXIT_BAD_INPUT);
}

function parseCount(s, what, min = 1) {
  const n = s === undefined || s === '' ? NaN : Number(s);
  if (!Number.isSafeInteger(n) || n < min || n > 1000) usage(`${what}: want a whole number from ${min} to 1000, got ${JSON.stringify(s)}`);
  return n;
}

// `--runs N` applies to every peer; `--runs PEER=N` overrides it for one.
// Without a plain N, the per-peer defaults apply. Returns peer → count.
function countsFor(option, values, min) {
  let plain = null;
  const explicit = {};
  for (const r of values ?? []) {
    const eq = r.indexOf('=');
    if (eq < 0) {
      plain = parseCount(r, `--${option}`, min);
    } else {
      const p = r.slice(0, eq);
      if (!PEERS.includes(p)) usage(`--${option} ${r}: unknown peer ${JSON.stringify(p)}`);
      explicit[p] = parseCount(r.slice(eq + 1), `--${option} ${p}`, min);
    }
  }
  const { all, ...perPeer } = DEFAULTS[option];
  const base = plain ?? all;
  const merged = { ...(plain === null ? perPeer : {}), ...explicit };
  return (peer) => merged[peer] ?? base;
}

// --- children ---------------------------------------------------------------

// Replays the trace `runs` times; prints the medians, the final text's hash,
// and writes the snapshot of the last run's final document to snapshotOut.
async function childMeasure(peerName, file, runs, warmup, snapshotOut) {
  const peer = await loadPeer(peerName);
  const trace = loadTrace(file);
  const replayMs = [];
  const mergeMs = [];
  let matches = true;
  let finalText = null;
  let last = null;
  let txOps = trace.kind === 'concurrent' && !trace.astral ? trace.txOps : null;
  if (trace.kind === 'concurrent' && txOps === null) {
    // Positions must be converted against each replica's text: do it once,
    // outside the timed runs.
    txOps = replayConcurrent(peer, trace, null).txOps;
  }
  // Warm-up runs (not recorded) let the JIT compile the hot paths first.
  for (let run = -warmup; run < runs; run++) {
    if (last !== null) peer.free(last);
    collect();
    let text, replay, merge = null;
    if (trace.kind === 'sequential') {
      const { replica, ms } = replaySequential(peer, trace);
      replay = ms;
      text = peer.text(replica);
      last = replica;
    } else {
      let { updates, ms } = replayConcurrent(peer, trace, txOps);
      replay = ms;
      const m = mergeFresh(peer, updates);
      updates = null;
      merge = m.ms;
      text = m.text;
      last = m.replica;
    }
    if (text !== trace.endContent) matches = false;
    finalText = text;
    if (run >= 0) {
      replayMs.push(replay);
      if (merge !== null) mergeMs.push(merge);
    }
    const label = run < 0 ? `warm-up ${run + warmup + 1}/${warmup}` : `run ${run + 1}/${runs}`;
    process.stderr.write(`  ${peerName} ${file} ${label}: replay ${replay.toFixed(1)} ms${merge !== null ? `, merge ${merge.toFixed(1)} ms` : ''}${text === trace.endContent ? '' : ', TEXT DIFFERS FROM endContent'}\n`);
  }
  const snapshot = peer.save(last);
  writeFileSync(snapshotOut, snapshot);
  const out = {
    kind: trace.kind,
    txns: trace.txns,
    patches: trace.patches,
    replay_ms: median(replayMs),
    ...(trace.kind === 'concurrent' ? { merge_ms: median(mergeMs) } : {}),
    final_chars: cpLength(finalText),
    matches_end: matches,
    snapshot_bytes: snapshot.length,
    text_sha256: sha(finalText),
    replay_runs_ms: replayMs.map((x) => +x.toFixed(2)),
    ...(trace.kind === 'concurrent' ? { merge_runs_ms: mergeMs.map((x) => +x.toFixed(2)) } : {}),
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

// In a fresh process: the memory a loaded snapshot holds, then `runs` timed
// loads.
//   js peers: the document lives on the V8 heap. After a warm-up load (dropped,
//     so compiled code and lazily built tables are not counted), the growth of
//     heapUsed + external across HELD_LOADS loads kept alive, divided by
//     HELD_LOADS.
//   wasm peers: the document lives in WebAssembly linear memory, which is
//     counted in `external` and never shrinks. heap_bytes is the growth across
//     the first load in the process: the memory the process holds after
//     loading, transient peak included. heap_next_load_bytes is the growth
//     across a second load with the first kept alive: closer to the
//     document's own size.
const HELD_LOADS = 4;

async function childLoad(peerName, snapshotFile, runs, warmup) {
  const peer = await loadPeer(peerName);
  const bytes = readFileSync(snapshotFile);
  const grown = (a, b) => (b.heapUsed - a.heapUsed) + (b.external - a.external);
  const held = [];
  let textSha = null;
  const loadAndHold = () => {
    const r = peer.load(bytes);
    const text = peer.text(r);
    const h = sha(text);
    if (textSha !== null && h !== textSha) throw new Error('two loads of one snapshot gave different texts');
    textSha = h;
    held.push(r, text);
  };
  let mem;
  if (peer.heapMode === 'js') {
    const w = timedLoad(peer, bytes);
    peer.free(w.replica);
    collect();
    const m0 = process.memoryUsage();
    for (let k = 0; k < HELD_LOADS; k++) loadAndHold();
    collect();
    mem = { heap_bytes: Math.round(grown(m0, process.memoryUsage()) / HELD_LOADS) };
  } else {
    collect();
    const m0 = process.memoryUsage();
    loadAndHold();
    collect();
    const m1 = process.memoryUsage();
    loadAndHold();
    collect();
    mem = { heap_bytes: grown(m0, m1), heap_next_load_bytes: grown(m1, process.memoryUsage()) };
  }
  for (let k = 0; k < held.length; k += 2) peer.free(held[k]);
  held.length = 0;
  const loadMs = [];
  for (let run = -warmup; run < runs; run++) {
    collect();
    const { replica, ms } = timedLoad(peer, bytes);
    if (run >= 0) loadMs.push(ms);
    peer.free(replica);
  }
  const method = peer.heapMode === 'js'
    ? `V8 heapUsed + external growth per load, ${HELD_LOADS} loads held, after a dropped warm-up load and full GCs`
    : 'V8 heapUsed + external growth across the first load in a fresh process, after full GCs; external includes WebAssembly linear memory (64 KiB pages, never shrinks), so this includes the load\'s transient peak';
  process.stdout.write(JSON.stringify({
    load_ms: median(loadMs),
    load_runs_ms: loadMs.map((x) => +x.toFixed(3)),
    ...mem,
    heap_method: method,
    text_sha256: textSha,
  }) + '\n');
}

// --- parent -----------------------------------------------------------------

function version(pkg) {
  return JSON.parse(readFileSync(join(HERE, 'node_modules', pkg, 'package.json'), 'utf8')).version;
}

function runChild(args) {
  const res = spawnSync(process.execPath, ['--expose-gc', SELF, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 << 20,
    encoding: 'utf8',
  });
  if (res.error) return { status: EXIT_MISMATCH, error: res.error.message };
  const lines = res.stdout.trim().split('\n');
  if (res.status !== 0) {
    return { status: res.status === EXIT_BAD_INPUT ? EXIT_BAD_INPUT : EXIT_MISMATCH, error: `child exited with status ${res.status ?? res.signal}` };
  }
  try {
    return { status: 0, out: JSON.parse(lines.at(-1)) };
  } catch {
    return { status: EXIT_MISMATCH, error: 'child printed no result line' };
  }
}

function parent(files, peers, runsFor, warmupFor) {
  const tmp = mkdtempSync(join(tmpdir(), 'weft-peers-'));
  let status = 0;
  try {
    for (const file of files) {
      for (const name of peers) {
        const runs = runsFor(name);
        const warmup = String(warmupFor(name));
        const snap = join(tmp, `${name}.snapshot`);
        const base = { peer: name, version: version(modulePkg[name]), file };
        const m = runChild(['--child', 'measure', '--peer', name, '--runs', String(runs), '--warmup', warmup, '--snapshot-out', snap, file]);
        if (m.status !== 0) {
          status = Math.max(status, m.status);
          process.stdout.write(JSON.stringify({ ...base, error: m.error }) + '\n');
          if (m.status === EXIT_BAD_INPUT) break; // the file is unreadable: skip its other peers
          continue;
        }
        const l = runChild(['--child', 'load', '--peer', name, '--runs', String(runs), '--warmup', warmup, '--snapshot', snap]);
        if (l.status !== 0) {
          status = Math.max(status, EXIT_MISMATCH);
          process.stdout.write(JSON.stringify({ ...base, ...pick(m.out), error: `snapshot load: ${l.error}` }) + '\n');
          continue;
        }
        const loadMatches = l.out.text_sha256 === m.out.text_sha256;
        const line = {
          ...base,
          ...pick(m.out),
          matches_end: m.out.matches_end && loadMatches,
          load_ms: l.out.load_ms,
          heap_bytes: l.out.heap_bytes,
          ...(l.out.heap_next_load_bytes !== undefined ? { heap_next_load_bytes: l.out.heap_next_load_bytes } : {}),
          runs,
          warmup_runs: Number(warmup),
          replay_runs_ms: m.out.replay_runs_ms,
          ...(m.out.merge_runs_ms ? { merge_runs_ms: m.out.merge_runs_ms } : {}),
          load_runs_ms: l.out.load_runs_ms,
          heap_method: l.out.heap_method,
          snapshot_contents: snapshotNotes[name],
        };
        if (!loadMatches) line.error = 'the loaded snapshot does not hold the replayed text';
        if (!line.matches_end) status = Math.max(status, EXIT_MISMATCH);
        process.stdout.write(JSON.stringify(line) + '\n');
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return status;
}

function pick(o) {
  const { kind, txns, patches, replay_ms, merge_ms, final_chars, matches_end, snapshot_bytes } = o;
  return { kind, txns, patches, replay_ms, ...(merge_ms !== undefined ? { merge_ms } : {}), final_chars, matches_end, snapshot_bytes };
}

const modulePkg = {};
const snapshotNotes = {};

async function main() {
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: {
        peers: { type: 'string' },
        runs: { type: 'string', multiple: true },
        warmup: { type: 'string', multiple: true },
        child: { type: 'string' },
        peer: { type: 'string' },
        'snapshot-out': { type: 'string' },
        snapshot: { type: 'string' },
      },
    });
  } catch (e) {
    usage(e.message);
  }
  const { values: v, positionals: files } = parsed;

  if (v.child === 'measure') {
    if (files.length !== 1) usage('measure child takes one file');
    return childMeasure(v.peer, files[0], parseCount(v.runs?.[0], '--runs'), parseCount(v.warmup?.[0], '--warmup', 0), v['snapshot-out']);
  }
  if (v.child === 'load') {
    return childLoad(v.peer, v.snapshot, parseCount(v.runs?.[0], '--runs'), parseCount(v.warmup?.[0], '--warmup', 0));
  }
  if (v.child !== undefined) usage(`unknown --child ${v.child}`);

  if (files.length === 0) usage('no trace files given');
  const peers = v.peers ? v.peers.split(',').map((s) => s.trim()).filter(Boolean) : PEERS;
  for (const p of peers) if (!PEERS.includes(p)) usage(`unknown peer ${JSON.stringify(p)} (known: ${PEERS.join(', ')})`);
  const runsFor = countsFor('runs', v.runs, 1);
  const warmupFor = countsFor('warmup', v.warmup, 0);
  for (const p of peers) {
    const peer = await loadPeer(p);
    modulePkg[p] = peer.pkg;
    snapshotNotes[p] = peer.snapshotNote;
  }
  process.exitCode = parent(files, peers, runsFor, warmupFor);
}

main().catch((e) => {
  if (e instanceof TraceError) {
    process.stderr.write(`bench-peers: ${e.message}\n`);
    process.exit(EXIT_BAD_INPUT);
  }
  process.stderr.write(`bench-peers: ${e.stack || e}\n`);
  process.exit(EXIT_MISMATCH);
});
