// The trace loader: unit conversion, validation, and the concurrent sync plan.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

import { cpLength, loadTrace, TraceError, UnitConverter } from '../lib/trace.mjs';

const dir = mkdtempSync(join(tmpdir(), 'weft-peers-test-'));
let seq = 0;
function traceFile(obj, gzip = false) {
  const f = join(dir, `t${seq++}.json${gzip ? '.gz' : ''}`);
  const text = typeof obj === 'string' ? obj : JSON.stringify(obj);
  writeFileSync(f, gzip ? gzipSync(text) : text);
  return f;
}

// Applies code-point patches to an array of code points: the obvious way.
function naive(patches, start = '') {
  const cps = [...start];
  for (const [pos, del, ins] of patches) cps.splice(pos, del, ...ins);
  return cps.join('');
}

// Applies UTF-16 patches to a JS string.
function applyU16(ops, start = '') {
  let s = start;
  for (const [pos, del, ins] of ops) s = s.slice(0, pos) + ins + s.slice(pos + del);
  return s;
}

test('cpLength counts a non-BMP character once', () => {
  assert.equal(cpLength('a😀b'), 3);
  assert.equal(cpLength('😀😀'), 2);
  assert.equal(cpLength('\ud800x'), 2); // a lone surrogate is one code point
});

test('UnitConverter turns code-point patches into UTF-16 ones', () => {
  const patches = [
    [0, 0, 'a😀b'], [3, 0, '🎉'], [1, 1, ''], [0, 0, '𝄞x'], [2, 2, 'é'], [3, 0, '😀😀'], [1, 3, 'z'], [0, 1, ''],
  ];
  const conv = new UnitConverter();
  const ops = patches.map((p) => conv.convert(...p));
  assert.equal(applyU16(ops), naive(patches));
});

test('UnitConverter agrees with the naive model on random edits', () => {
  // Deterministic pseudo-random sequence (seed printed on failure).
  const seed = 12345;
  let x = seed;
  const rnd = (n) => { x = (x * 1103515245 + 12345) % 2147483648; return x % n; };
  const alphabet = ['a', 'b', 'é', '😀', '𝄞', '🎉', '中'];
  const patches = [];
  let len = 0;
  const conv = new UnitConverter();
  const ops = [];
  for (let i = 0; i < 2000; i++) {
    const pos = rnd(len + 1);
    const del = rnd(Math.min(3, len - pos) + 1);
    let ins = '';
    for (let k = rnd(4); k > 0; k--) ins += alphabet[rnd(alphabet.length)];
    patches.push([pos, del, ins]);
    ops.push(conv.convert(pos, del, ins));
    len += cpLength(ins) - del;
  }
  assert.equal(applyU16(ops), naive(patches), `seed ${seed}`);
});

test('UnitConverter rejects a patch past the end', () => {
  const conv = new UnitConverter('a😀');
  assert.match(conv.convert(1, 2, ''), /past the end/);
});

test('loadTrace reads gzipped and plain sequential traces', () => {
  const t = { startContent: '😀', endContent: 'x😀y', txns: [{ patches: [[0, 0, 'x'], [2, 0, 'y']] }] };
  for (const gz of [false, true]) {
    const tr = loadTrace(traceFile(t, gz));
    assert.equal(tr.kind, 'sequential');
    assert.equal(tr.txns, 1);
    assert.equal(tr.patches, 2);
    assert.deepEqual(tr.ops, [[0, 0, 'x'], [3, 0, 'y']]);
  }
});

test('loadTrace names what is wrong with bad input', () => {
  const cases = [
    ['not json', /not valid JSON/],
    [[], /top level is not an object/],
    [{ endContent: '' }, /"txns" is missing/],
    [{ txns: [] }, /"endContent" is missing/],
    [{ endContent: '', txns: [{ patches: [[0, 0]] }] }, /txn 0 patch 0: want \[position/],
    [{ endContent: '', txns: [{ patches: [[-1, 0, 'x']] }] }, /txn 0 patch 0: want/],
    [{ endContent: '', txns: [{ patches: [[0, 1, '']] }] }, /past the end/],
    [{ kind: 'concurrent', numAgents: 0, endContent: '', txns: [] }, /numAgents/],
    [{ kind: 'concurrent', numAgents: 1, endContent: '', txns: [{ agent: 1, parents: [], patches: [] }] }, /"agent"/],
    [{ kind: 'concurrent', numAgents: 1, endContent: '', txns: [{ agent: 0, parents: [0], patches: [] }] }, /"parents"/],
    [{ kind: 'concurrent', numAgents: 2, agentNames: ['a'], endContent: '', txns: [] }, /agentNames/],
  ];
  for (const [input, want] of cases) {
    assert.throws(() => loadTrace(traceFile(input)), (e) => e instanceof TraceError && want.test(e.message), JSON.stringify(input));
  }
  assert.throws(() => loadTrace(join(dir, 'missing.json')), /cannot read/);
});

test('the sync plan gives each replica exactly what it lacks, in causal order', () => {
  const t = {
    kind: 'concurrent', numAgents: 2, endContent: '',
    txns: [
      { agent: 0, parents: [], patches: [] }, // 0
      { agent: 1, parents: [], patches: [] }, // 1: typed on the empty document
      { agent: 0, parents: [0], patches: [] }, // 2
      { agent: 1, parents: [1, 2], patches: [] }, // 3: needs 0 and 2
      { agent: 0, parents: [3], patches: [] }, // 4: needs 1 and 3
      { agent: 0, parents: [4], patches: [] }, // 5: needs nothing
    ],
  };
  const tr = loadTrace(traceFile(t));
  assert.deepEqual(tr.plan.map((p) => [...p]), [[], [], [], [0, 2], [1, 3], []]);
});

test('the sync plan refuses an agent that forgets its own history', () => {
  const t = {
    kind: 'concurrent', numAgents: 2, endContent: '',
    txns: [
      { agent: 0, parents: [], patches: [] },
      { agent: 1, parents: [], patches: [] },
      { agent: 0, parents: [1], patches: [] },
    ],
  };
  assert.throws(() => loadTrace(traceFile(t)), /txn 2: agent 0 typed it without its own previous transaction 0/);
});
