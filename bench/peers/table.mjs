#!/usr/bin/env node
// Turns one benchmark run's raw results into the side-by-side markdown table.
//
//   node table.mjs --peers peers.jsonl [--weft weft.jsonl] [--go-merge go-merge.txt]
//                  [--weft-missing REASON] [--merge-missing REASON]
//
// peers.jsonl: run.mjs's lines (already medians). weft.jsonl: `weft trace
// replay` lines, one per file per run (medians taken here). go-merge.txt: the
// output of `go test -bench BenchmarkMerge`, sub-benchmarks matched to trace
// files by name (medians of ns/op taken here).

import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';

import { median } from './lib/replay.mjs';

const { values: v } = parseArgs({
  options: {
    peers: { type: 'string' },
    weft: { type: 'string' },
    'go-merge': { type: 'string' },
    'weft-missing': { type: 'string' },
    'merge-missing': { type: 'string' },
  },
});

function readLines(file) {
  if (!file) return [];
  let text;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const out = [];
  for (const line of text.split('\n')) {
    if (!line.trim().startsWith('{')) continue;
    try {
      out.push(JSON.parse(line));
    } catch {
      // Not a result line.
    }
  }
  return out;
}

const traceName = (file) => basename(file).replace(/\.json(\.gz)?$/, '');
// weft prints a file's base name, run.mjs the path it was given: results are
// matched on kind and base name.
const keyOf = (l) => `${l.kind}:${traceName(l.file)}`;

const peerLines = readLines(v.peers);
const weftLines = readLines(v.weft);

// weft: one line per file per run → medians per file.
const weft = new Map();
for (const l of weftLines) {
  if (!weft.has(keyOf(l))) weft.set(keyOf(l), []);
  weft.get(keyOf(l)).push(l);
}
function weftFigures(key) {
  const ls = weft.get(key);
  if (!ls) return null;
  const med = (k) => median(ls.map((l) => l[k]).filter((x) => typeof x === 'number'));
  return {
    replay_ms: med('replay_ms'),
    final_chars: med('final_chars'),
    matches_end: ls.every((l) => l.matches_end === true),
    snapshot_bytes: med('snapshot_bytes'),
    load_ms: med('load_ms'),
    heap_bytes: med('heap_bytes'),
    merge_ms: ls.some((l) => typeof l.merge_ms === 'number') ? med('merge_ms') : null,
    runs: ls.length,
  };
}

// Go merge benchmark: "BenchmarkMergeEncoded/<name>-<procs>  <iters>  <ns> ns/op ...".
const mergeNs = new Map();
if (v['go-merge']) {
  let text = '';
  try {
    text = readFileSync(v['go-merge'], 'utf8');
  } catch {
    // Missing: reported as missing below.
  }
  for (const line of text.split('\n')) {
    const m = /^BenchmarkMergeEncoded(\S*?)(?:-\d+)?\s+\d+\s+([\d.]+) ns\/op/.exec(line);
    if (!m) continue;
    const name = m[1].replace(/^\//, '');
    if (!mergeNs.has(name)) mergeNs.set(name, []);
    mergeNs.get(name).push(Number(m[2]));
  }
}
function mergeBenchFor(key) {
  const t = key.slice(key.indexOf(':') + 1);
  for (const name of mergeNs.keys()) {
    if (name.split('/').at(-1).replace(/\.json(\.gz)?$/, '') === t) return name;
  }
  return null;
}
// weft's merge: merge_ms of `weft trace replay` (issue 14) when its lines
// have it, else the Go benchmark's.
function weftMergeMs(key) {
  const w = weftFigures(key);
  if (w && w.merge_ms !== null) return w.merge_ms;
  const name = mergeBenchFor(key);
  return name === null ? null : median(mergeNs.get(name)) / 1e6;
}

const ms = (x) => {
  if (x === null || x === undefined) return '—';
  if (x < 1) return x.toFixed(3);
  if (x < 10) return x.toFixed(2);
  if (x < 100) return x.toFixed(1);
  return Math.round(x).toLocaleString('en-US');
};
const int = (x) => (x === null || x === undefined ? '—' : Math.round(x).toLocaleString('en-US'));
const ratio = (x) => (x >= 10 ? x.toFixed(0) : x >= 1 ? x.toFixed(1) : x.toFixed(2)) + '×';
const ok = (b) => (b === undefined || b === null ? '—' : b ? 'yes' : '**NO**');

const keys = [...new Set([...peerLines.map(keyOf), ...weftLines.map(keyOf)])];
const byPeer = (key, peer) => peerLines.find((l) => keyOf(l) === key && l.peer === peer);
const nameOf = (key) => key.slice(key.indexOf(':') + 1);

const out = [];
const weftMissing = weftLines.length === 0;
const anyMerge = mergeNs.size > 0 || weftLines.some((l) => typeof l.merge_ms === 'number');

// Summary: weft against the targets of issue 2.
out.push('## weft against the peers (ratios from this run)', '');
if (weftMissing) {
  out.push(`weft's figures are missing${v['weft-missing'] ? `: ${v['weft-missing']}` : ''}. Only the peers' figures follow.`, '');
} else {
  out.push('| trace | replay speedup vs json-joy | merge speedup vs json-joy | snapshot / Automerge\'s | load ms | heap after load (bytes) | reaches endContent |');
  out.push('|---|---:|---:|---:|---:|---:|:-:|');
  for (const key of keys) {
    const w = weftFigures(key);
    const jj = byPeer(key, 'json-joy');
    const am = byPeer(key, 'automerge');
    if (!w) {
      out.push(`| ${nameOf(key)} | — | — | — | — | — | — |`);
      continue;
    }
    const wm = weftMergeMs(key);
    const replay = jj && w.replay_ms ? ratio(jj.replay_ms / w.replay_ms) : '—';
    const merge = jj && jj.merge_ms !== undefined && wm ? ratio(jj.merge_ms / wm) : '—';
    const snap = am && w.snapshot_bytes ? (w.snapshot_bytes / am.snapshot_bytes).toFixed(2) : '—';
    out.push(`| ${nameOf(key)} | ${replay} | ${merge} | ${snap} | ${ms(w.load_ms)} | ${int(w.heap_bytes)} | ${ok(w.matches_end)} |`);
  }
  out.push('', 'Targets (issue 2): replay of automerge-paper ≥ 4× json-joy; merge of each concurrent trace into a fresh replica ≥ 2× json-joy; snapshot ≤ Automerge\'s; load < 1 ms; heap after load < 2 MB.');
  if (v['weft-missing']) out.push('', `weft stopped giving figures part way: ${v['weft-missing']}.`);
  if (!anyMerge) out.push('', `weft's merge figures are missing${v['merge-missing'] ? `: ${v['merge-missing']}` : ''}.`);
  const matched = new Set(keys.map(mergeBenchFor));
  const unmatched = [...mergeNs.keys()].filter((name) => !matched.has(name));
  for (const name of unmatched) {
    out.push('', `BenchmarkMerge${name ? '/' + name : ''} names no trace file: ${ms(median(mergeNs.get(name)) / 1e6)} ms/op (median), not in the table.`);
  }
  out.push('');
}

// Per trace: every system side by side.
out.push('## Per trace (medians)', '');
const peerOrder = ['json-joy', 'loro', 'yjs', 'automerge'];
for (const key of keys) {
  const any = peerLines.find((l) => keyOf(l) === key) ?? weftLines.find((l) => keyOf(l) === key);
  const conc = any.kind === 'concurrent';
  out.push(`### ${nameOf(key)} (${any.kind}, ${int(any.txns)} txns, ${int(any.patches)} patches)`, '');
  out.push(`| system | replay ms |${conc ? ' merge ms |' : ''} snapshot bytes | load ms | heap after load (bytes) | final chars | reaches endContent |`);
  out.push(`|---|---:|${conc ? '---:|' : ''}---:|---:|---:|---:|:-:|`);
  const jj = byPeer(key, 'json-joy');
  const am = byPeer(key, 'automerge');
  const vsJJ = (x, key) => (jj && jj[key] && x ? ` (${ratio(jj[key] / x)})` : '');
  const vsAM = (x) => (am && am.snapshot_bytes && x ? ` (${(x / am.snapshot_bytes).toFixed(2)})` : '');
  const w = weftFigures(key);
  if (w) {
    const wm = conc ? weftMergeMs(key) : null;
    out.push(`| **weft** | ${ms(w.replay_ms)}${vsJJ(w.replay_ms, 'replay_ms')} |${conc ? ` ${ms(wm)}${vsJJ(wm, 'merge_ms')} |` : ''} ${int(w.snapshot_bytes)}${vsAM(w.snapshot_bytes)} | ${ms(w.load_ms)} | ${int(w.heap_bytes)} | ${int(w.final_chars)} | ${ok(w.matches_end)} |`);
  } else {
    out.push(`| **weft** | — |${conc ? ' — |' : ''} — | — | — | — | — |`);
  }
  for (const p of peerOrder) {
    const l = byPeer(key, p);
    if (!l) continue;
    if (l.error && l.replay_ms === undefined) {
      out.push(`| ${p} ${l.version} | failed: ${l.error} |${conc ? ' |' : ''} | | | | |`);
      continue;
    }
    out.push(`| ${p} ${l.version} | ${ms(l.replay_ms)}${p === 'json-joy' ? '' : vsJJ(l.replay_ms, 'replay_ms')} |${conc ? ` ${ms(l.merge_ms)}${p === 'json-joy' ? '' : vsJJ(l.merge_ms, 'merge_ms')} |` : ''} ${int(l.snapshot_bytes)}${p === 'automerge' ? '' : vsAM(l.snapshot_bytes)} | ${ms(l.load_ms)} | ${int(l.heap_bytes)} | ${int(l.final_chars)} | ${ok(l.matches_end)} |`);
  }
  out.push('');
}
out.push('In parentheses: json-joy\'s time divided by the row\'s (above 1× is faster than json-joy), and the row\'s snapshot size divided by Automerge\'s.');
process.stdout.write(out.join('\n') + '\n');
