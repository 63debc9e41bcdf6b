// The replays, written once against the peer interface of peers/index.mjs.

import { performance } from 'node:perf_hooks';
import { convertOnText, TraceError } from './trace.mjs';

export function median(xs) {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

// Full collection, so that one run's garbage is not collected during the
// next run's timed region. Needs node --expose-gc.
export function collect() {
  if (typeof globalThis.gc !== 'function') throw new Error('run node with --expose-gc');
  globalThis.gc();
  globalThis.gc();
}

// Every patch as its own local transaction, on one replica.
// Returns {replica, ms}.
export function replaySequential(peer, trace) {
  const r = peer.replica(0);
  if (trace.startContent !== '') peer.local(r, [[0, 0, trace.startContent]], 0, 1, false);
  const ops = trace.ops;
  const n = ops.length;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) peer.local(r, ops, i, i + 1, false);
  const ms = performance.now() - t0;
  return { replica: r, ms };
}

// One replica per agent; before typing transaction i, the agent's replica
// receives exactly the transactions of plan[i] (those it lacks from the causal
// closure of i's parents), then types i's patches as one local transaction.
// txOps[i] are i's patches in UTF-16 units; with txOps null they are converted
// from code points on the replica's text as it goes (slow: only for the
// untimed preparation of traces with non-BMP characters).
// Returns {updates, ms, txOps}: every transaction's encoded update (null for
// one that changed nothing) and the patches it used.
export function replayConcurrent(peer, trace, txOps) {
  const convert = txOps === null;
  if (convert) txOps = new Array(trace.txns);
  const { agent, plan } = trace;
  const n = trace.txns;
  const replicas = new Array(trace.numAgents).fill(null);
  const updates = new Array(n).fill(null);
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const a = agent[i];
    let r = replicas[a];
    if (r === null) r = replicas[a] = peer.replica(a);
    const p = plan[i];
    if (p.length > 0) {
      const batch = [];
      for (let k = 0; k < p.length; k++) {
        const u = updates[p[k]];
        if (u !== null) batch.push(u);
      }
      if (batch.length > 0) peer.receive(r, batch);
    }
    if (convert) {
      const c = convertOnText(peer.text(r), trace.txOps[i]);
      if (typeof c === 'string') throw new TraceError(trace.file, `txn ${i}: ${c}`);
      txOps[i] = c;
    }
    const ops = txOps[i];
    if (ops.length > 0) updates[i] = peer.local(r, ops, 0, ops.length, true);
  }
  const ms = performance.now() - t0;
  for (const r of replicas) if (r !== null) peer.free(r);
  return { updates, ms, txOps };
}

// Applies every update (the peer's genesis first) to a fresh replica and reads
// its text. Returns {replica, text, ms}.
export function mergeFresh(peer, updates) {
  const all = [];
  if (peer.genesis !== null) all.push(peer.genesis);
  for (const u of updates) if (u !== null) all.push(u);
  collect();
  const t0 = performance.now();
  const replica = peer.merge(all);
  const text = peer.text(replica);
  const ms = performance.now() - t0;
  return { replica, text, ms };
}

// Decodes a snapshot into a fresh replica and reads its text.
export function timedLoad(peer, bytes) {
  const t0 = performance.now();
  const replica = peer.load(bytes);
  const text = peer.text(replica);
  const ms = performance.now() - t0;
  return { replica, text, ms };
}
