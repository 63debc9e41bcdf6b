// Every peer, driven through the shared replay code, reaches the expected text
// on small traces with characters outside the BMP, and its snapshot loads back.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

import { mergeFresh, replayConcurrent, replaySequential } from '../lib/replay.mjs';
import { loadTrace } from '../lib/trace.mjs';
import { loadPeer, PEERS } from '../peers/index.mjs';

const dir = mkdtempSync(join(tmpdir(), 'weft-peers-test-'));

const sequential = join(dir, 'seq.json');
writeFileSync(sequential, JSON.stringify({
  startContent: '',
  endContent: 'X𝄞yz🎉!',
  txns: [
    { patches: [[0, 0, 'a😀b']] },
    { patches: [[3, 0, '🎉'], [1, 1, '']] }, // a b 🎉  (the 😀 deleted)
    { patches: [[0, 2, 'X𝄞yz']] }, // X 𝄞 y z 🎉
    { patches: [[5, 0, '!']] },
  ],
}));

// Agent 1 edits at the front while agent 0 edits at the back; agent 1 then
// types after a non-BMP character on the merged text while agent 0
// concurrently deletes another one.
const concurrent = join(dir, 'conc.json');
writeFileSync(concurrent, JSON.stringify({
  kind: 'concurrent',
  numAgents: 2,
  endContent: 'Xab🎉Z',
  txns: [
    { agent: 0, parents: [], patches: [[0, 0, 'a😀b']] }, // 0: a😀b
    { agent: 1, parents: [0], patches: [[0, 0, 'X']] }, // 1: Xa😀b
    { agent: 0, parents: [0], patches: [[3, 0, '🎉']] }, // 2: a😀b🎉
    { agent: 0, parents: [1, 2], patches: [] }, // 3: merge only: Xa😀b🎉
    { agent: 1, parents: [3], patches: [[5, 0, 'Z']] }, // 4: Xa😀b🎉Z
    { agent: 0, parents: [3], patches: [[2, 1, '']] }, // 5: Xab🎉
  ],
}));

for (const name of PEERS) {
  test(`${name}: sequential replay, snapshot and load`, async () => {
    const peer = await loadPeer(name);
    const trace = loadTrace(sequential);
    const { replica } = replaySequential(peer, trace);
    assert.equal(peer.text(replica), trace.endContent);
    const loaded = peer.load(peer.save(replica));
    assert.equal(peer.text(loaded), trace.endContent);
    peer.free(loaded);
    peer.free(replica);
  });

  test(`${name}: concurrent replay and merge into a fresh replica`, async () => {
    const peer = await loadPeer(name);
    const trace = loadTrace(concurrent);
    assert.ok(trace.astral);
    const { txOps } = replayConcurrent(peer, trace, null);
    // Agent 1's last patch lands after the 😀 and 🎉 of the merged text.
    assert.deepEqual(txOps[4], [[7, 0, 'Z']]);
    const { updates } = replayConcurrent(peer, trace, txOps);
    assert.equal(updates[3], null, 'a transaction with no patches sends nothing');
    const m = mergeFresh(peer, updates);
    assert.equal(m.text, trace.endContent);
    const loaded = peer.load(peer.save(m.replica));
    assert.equal(peer.text(loaded), trace.endContent);
    peer.free(loaded);
    peer.free(m.replica);
  });
}
