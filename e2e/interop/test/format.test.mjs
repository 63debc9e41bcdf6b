// Unit tests of the JS peer's own codec (lib/format.mjs). The interop test
// (e2e/interop_test.go) checks it against the daemon and Go's encoding;
// these check that it refuses what the format comments rule out.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { encode } from 'cborg'
import * as format from '../lib/format.mjs'

const DOC = '00112233445566778899aabbccddeeff'
const txn = {
  agent: 'js-peer',
  seq: 3,
  parents: [{ agent: 'b', seq: 7 }, { agent: 'a', seq: 1 }],
  ops: [
    { kind: 'delete', target: { agent: 'a', seq: 0 }, len: 2, rev: false },
    { kind: 'insert', text: 'x🚀y', left: { agent: 'b', seq: 7 }, right: null }
  ]
}

test('an envelope round-trips, parents sorted, length in code points', () => {
  const env = format.decodeEnvelope(format.encodeEnvelope(DOC, txn))
  assert.equal(env.doc, DOC)
  assert.equal(env.len, 5) // 2 deleted + 3 code points (the rocket is one)
  assert.deepEqual(env.parents, [{ agent: 'a', seq: 1 }, { agent: 'b', seq: 7 }])
  const got = format.openEnvelope(env)
  assert.deepEqual(got, { ...txn, parents: env.parents })
  assert.deepEqual(format.lastInserted(got), { agent: 'js-peer', seq: 7 })
})

test('agents compare bytewise on UTF-8, not on UTF-16 units', () => {
  // U+FF61 is one UTF-16 unit above the surrogates, but its UTF-8 bytes
  // (EF BD A1) sort below an astral code point's (F0 …).
  assert.ok(format.compareAgents('\uff61', '🚀') < 0)
  assert.ok(format.compareAgents('a', 'ab') < 0)
})

test('malformed input is refused', () => {
  const good = format.encodeEnvelope(DOC, txn)
  const payload = format.encodeTxn(txn)
  const doc = Uint8Array.from(Buffer.from(DOC, 'hex'))
  const parents = [['a', 1], ['b', 7]]
  const cases = {
    truncated: good.slice(0, good.length - 1),
    'trailing byte': Uint8Array.from([...good, 0]),
    'not an array': encode('envelope'),
    'extra field': encode([1, doc, 'js-peer', 3, 5, parents, payload, 0]),
    'version 2': encode([2, doc, 'js-peer', 3, 5, parents, payload]),
    'parent not a pair': encode([1, doc, 'js-peer', 3, 5, [['a', 1, 0]], payload]),
    'short doc': encode([1, new Uint8Array(15), 'js-peer', 3, 5, [], payload]),
    'empty agent': encode([1, new Uint8Array(16), '', 3, 5, [], payload]),
    'zero length': encode([1, new Uint8Array(16), 'js-peer', 3, 0, [], payload]),
    // seq 3 as a two-byte integer: valid CBOR, not the deterministic encoding.
    'non-minimal integer': Uint8Array.from([...good.slice(0, 27), 0x18, ...good.slice(27)])
  }
  assert.equal(good[27], 3) // the seq, after version, doc and agent
  for (const [name, data] of Object.entries(cases)) {
    assert.throws(() => format.decodeEnvelope(data), format.FormatError, name)
  }
  assert.throws(() => format.decodeEnvelope(cases['non-minimal integer']), /strict/)
})

test('a transaction that disagrees with its envelope or breaks the rules is refused', () => {
  const ins = [1, 'x', 0, 0, 0, 0, 0, false]
  assert.throws(() => format.decodeTxn(encode([1, ['js-peer', 'b', 'a'], 3, [2, 7, 3, 1], [ins]])), /not sorted/)
  assert.throws(() => format.decodeTxn(encode([1, ['js-peer'], 3, [1, 3], [ins]])), /later op/)
  assert.throws(() => format.decodeTxn(encode([1, ['js-peer'], 3, [1], [ins]])), /not pairs/)
  assert.throws(() => format.decodeTxn(encode([2, ['js-peer'], 3, [], [ins]])), /version 2/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], [[1, '', 0, 0, 0, 0, 0, false]]])), /empty/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], [[2, '', 1, 0, 0, 0, 0, false]]])), /deletes nothing/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], [[1, 'x', 0, 1, 0, 0, 0, false]]])), /names no agent/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], [[1, 'x', 2, 0, 0, 0, 0, false]]])), /agent 2 of 1/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], [[3, '', 1, 0, 0, 0, 1, false]]])), /unknown kind/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], []])), /without ops/)
  const env = format.decodeEnvelope(format.encodeEnvelope(DOC, txn))
  assert.throws(() => format.openEnvelope({ ...env, len: 4 }), /disagrees/)
})

test('format 2 (time and title ops) is read; format 1 still is', () => {
  const ins = [1, 'hi', 0, 0, 0, 0, 0, false]
  const title = [3, 'Notes', 0, 0, 0, 0, 0, false]
  const t = format.decodeTxn(encode([18, ['a'], 0, [], [ins, title], 1765000000123]))
  assert.equal(t.time, 1765000000123)
  assert.deepEqual(t.ops[1], { kind: 'title', text: 'Notes' })
  assert.equal(format.txnCount(t), 3)
  assert.equal(format.decodeTxn(encode([1, ['a'], 0, [], [ins]])).time, undefined)
  assert.throws(() => format.decodeTxn(encode([18, ['a'], 0, [], [ins], 2 ** 53])), /unsigned integer/)
  assert.throws(() => format.decodeTxn(encode([1, ['a'], 0, [], [title]])), /unknown kind/)
  assert.throws(() => format.decodeTxn(encode([18, ['a'], 0, [], [[3, 'x', 1, 0, 0, 0, 0, false]], 0])), /other fields/)
})
