// Loads an editing-trace file (.json or .json.gz, the sequential or the
// concurrent format of testdata/traces/README.md), validates it, and prepares
// everything the replay needs outside the timed region: patches converted from
// Unicode code points to UTF-16 code units, and, for concurrent traces, the
// sync plan (which transactions an agent's replica must receive before typing
// each transaction).

import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';

// Upper bounds on what a trace file may make us allocate.
const MAX_FILE_BYTES = 256 << 20;
const MAX_JSON_BYTES = 1 << 30;
const MAX_AGENTS = 1 << 16;

export class TraceError extends Error {
  constructor(file, msg) {
    super(`trace ${file}: ${msg}`);
    this.name = 'TraceError';
  }
}

// Number of code points in s (a lone surrogate counts as one, as it does in
// JS's own code-point iteration).
export function cpLength(s) {
  let n = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n--; i++; }
    }
  }
  return n;
}

function hasAstral(s) {
  return cpLength(s) !== s.length;
}

// Offsets, in code points, of the characters outside the BMP in s.
function astralOffsets(s) {
  const out = [];
  let cp = 0;
  for (let i = 0; i < s.length; i++, cp++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { out.push(cp); i++; }
    }
  }
  return out;
}

function lowerBound(a, x) {
  let lo = 0, hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < x) lo = mid + 1; else hi = mid;
  }
  return lo;
}

// Converts one document's sequence of patches from code points to UTF-16
// units, tracking only where the non-BMP characters are (cheap when they are
// rare, which they are in real text). Also checks every patch stays inside the
// document. `start` is the text the patches apply to.
export class UnitConverter {
  constructor(start = '') {
    this.len = cpLength(start);
    this.astral = astralOffsets(start);
  }

  // Returns [pos16, del16, ins], or a string describing why the patch does
  // not fit the document.
  convert(pos, del, ins) {
    if (pos + del > this.len) {
      return `patch [${pos}, ${del}, …] reaches past the end of the document (${this.len} code points)`;
    }
    const a = this.astral;
    const i = lowerBound(a, pos);
    const j = lowerBound(a, pos + del);
    const out = [pos + i, del + (j - i), ins];
    const insLen = cpLength(ins);
    const added = insLen === ins.length ? [] : astralOffsets(ins).map((o) => pos + o);
    const shift = insLen - del;
    if (j > i || added.length > 0 || (shift !== 0 && j < a.length)) {
      const tail = a.slice(j);
      for (let k = 0; k < tail.length; k++) tail[k] += shift;
      a.length = i;
      for (const x of added) a.push(x);
      for (const x of tail) a.push(x);
    }
    this.len += shift;
    return out;
  }
}

// Converts a transaction's patches, given the exact text (a JS string) they
// apply to. Linear in the document: used only outside timed regions.
export function convertOnText(text, patches) {
  const conv = new UnitConverter(text);
  const out = [];
  for (const [pos, del, ins] of patches) {
    const r = conv.convert(pos, del, ins);
    if (typeof r === 'string') return r;
    out.push(r);
  }
  return out;
}

function isCount(x) {
  return Number.isSafeInteger(x) && x >= 0;
}

function checkPatches(file, where, patches) {
  if (!Array.isArray(patches)) throw new TraceError(file, `${where}: "patches" is not an array`);
  for (let k = 0; k < patches.length; k++) {
    const p = patches[k];
    if (!Array.isArray(p) || p.length !== 3 || !isCount(p[0]) || !isCount(p[1]) || typeof p[2] !== 'string') {
      throw new TraceError(file, `${where} patch ${k}: want [position, deleteCount, insertedText]`);
    }
  }
}

function readJSON(file) {
  let buf;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new TraceError(file, `cannot read: ${e.code || e.message}`);
  }
  if (buf.length > MAX_FILE_BYTES) throw new TraceError(file, `larger than ${MAX_FILE_BYTES} bytes`);
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: MAX_JSON_BYTES });
    } catch (e) {
      throw new TraceError(file, `not valid gzip, or larger than ${MAX_JSON_BYTES} bytes unpacked: ${e.message}`);
    }
  }
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new TraceError(file, `not valid JSON: ${e.message}`);
  }
}

// loadTrace returns
//   sequential: {file, kind, endContent, txns, patches, startContent, ops}
//     ops: every patch as [pos, del, ins] in UTF-16 units, in order; each one
//     is replayed as its own local transaction.
//   concurrent: {file, kind, endContent, txns, patches, numAgents, agentNames,
//     agent, txOps, plan, astral}
//     agent[i]: the agent typing transaction i; txOps[i]: its patches (code
//     points, equal to UTF-16 units unless `astral`); plan[i]: indexes of the
//     transactions the agent's replica lacks from the causal closure of i's
//     parents, ascending (so in causal order).
export function loadTrace(file) {
  const t = readJSON(file);
  if (t === null || typeof t !== 'object' || Array.isArray(t)) throw new TraceError(file, 'top level is not an object');
  if (!Array.isArray(t.txns)) throw new TraceError(file, '"txns" is missing or not an array');
  if (typeof t.endContent !== 'string') throw new TraceError(file, '"endContent" is missing or not a string');
  const concurrent = t.kind === 'concurrent' || t.numAgents !== undefined;
  if (t.kind !== undefined && t.kind !== 'concurrent' && t.kind !== 'sequential') {
    throw new TraceError(file, `unknown "kind" ${JSON.stringify(t.kind)}`);
  }
  return concurrent ? loadConcurrent(file, t) : loadSequential(file, t);
}

function loadSequential(file, t) {
  const start = t.startContent ?? '';
  if (typeof start !== 'string') throw new TraceError(file, '"startContent" is not a string');
  const conv = new UnitConverter(start);
  const ops = [];
  for (let i = 0; i < t.txns.length; i++) {
    const tx = t.txns[i];
    if (tx === null || typeof tx !== 'object') throw new TraceError(file, `txn ${i} is not an object`);
    checkPatches(file, `txn ${i}`, tx.patches);
    for (let k = 0; k < tx.patches.length; k++) {
      const [pos, del, ins] = tx.patches[k];
      const r = conv.convert(pos, del, ins);
      if (typeof r === 'string') throw new TraceError(file, `txn ${i} patch ${k}: ${r}`);
      ops.push(r);
    }
  }
  return {
    file, kind: 'sequential', endContent: t.endContent, startContent: start,
    txns: t.txns.length, patches: ops.length, ops,
  };
}

function loadConcurrent(file, t) {
  const n = t.txns.length;
  const numAgents = t.numAgents;
  if (!Number.isSafeInteger(numAgents) || numAgents < 1 || numAgents > MAX_AGENTS) {
    throw new TraceError(file, `"numAgents" must be an integer from 1 to ${MAX_AGENTS}`);
  }
  if (t.startContent !== undefined && t.startContent !== '') {
    throw new TraceError(file, 'a concurrent trace must start from the empty document');
  }
  let agentNames = null;
  if (t.agentNames !== undefined) {
    if (!Array.isArray(t.agentNames) || t.agentNames.length !== numAgents || !t.agentNames.every((s) => typeof s === 'string')) {
      throw new TraceError(file, '"agentNames" must be an array of numAgents strings');
    }
    agentNames = t.agentNames;
  }
  const agent = new Int32Array(n);
  const parents = new Array(n);
  const txOps = new Array(n);
  let patches = 0;
  let astral = false;
  for (let i = 0; i < n; i++) {
    const tx = t.txns[i];
    if (tx === null || typeof tx !== 'object') throw new TraceError(file, `txn ${i} is not an object`);
    if (!Number.isSafeInteger(tx.agent) || tx.agent < 0 || tx.agent >= numAgents) {
      throw new TraceError(file, `txn ${i}: "agent" must be an integer below numAgents (${numAgents})`);
    }
    if (!Array.isArray(tx.parents) || !tx.parents.every((p) => Number.isSafeInteger(p) && p >= 0 && p < i)) {
      throw new TraceError(file, `txn ${i}: "parents" must be indexes of earlier transactions`);
    }
    checkPatches(file, `txn ${i}`, tx.patches);
    agent[i] = tx.agent;
    parents[i] = tx.parents;
    txOps[i] = tx.patches;
    patches += tx.patches.length;
    if (!astral) astral = tx.patches.some((p) => hasAstral(p[2]));
  }
  if (!astral) astral = hasAstral(t.endContent);
  const plan = syncPlan(file, numAgents, agent, parents);
  return {
    file, kind: 'concurrent', endContent: t.endContent, txns: n, patches,
    numAgents, agentNames, agent, txOps, plan, astral,
  };
}

// For each transaction i, the transactions that agent[i]'s replica lacks from
// the causal closure of i's parents. The harness keeps one replica per agent,
// so it requires each agent's transactions to be typed on that agent's
// previous one (true of every trace in the format: an agent's transactions are
// totally ordered); otherwise the replica would hold edits the transaction was
// not typed on.
function syncPlan(file, numAgents, agent, parents) {
  const n = agent.length;
  const known = Array.from({ length: numAgents }, () => null);
  const last = new Int32Array(numAgents).fill(-1);
  const seen = new Int32Array(n).fill(-1);
  const plan = new Array(n);
  const stack = [];
  for (let i = 0; i < n; i++) {
    const a = agent[i];
    if (known[a] === null) known[a] = new Uint8Array(n);
    const kn = known[a];
    let foundLast = last[a] < 0;
    const missing = [];
    for (const p of parents[i]) stack.push(p);
    while (stack.length > 0) {
      const j = stack.pop();
      if (kn[j]) {
        if (j === last[a]) foundLast = true;
        continue;
      }
      if (seen[j] === i) continue;
      seen[j] = i;
      missing.push(j);
      for (const p of parents[j]) stack.push(p);
    }
    if (!foundLast) {
      throw new TraceError(file, `txn ${i}: agent ${a} typed it without its own previous transaction ${last[a]} among its parents' history; one replica per agent cannot replay that`);
    }
    missing.sort((x, y) => x - y);
    for (const j of missing) kn[j] = 1;
    kn[i] = 1;
    last[a] = i;
    plan[i] = Int32Array.from(missing);
  }
  return plan;
}
