// weft's transaction envelope (format 1) and crdt transaction (format 2, and 1),
// written from the format comments in wire/envelope.go and crdt/encode.go,
// not from the Go code, so that the interop test checks the format
// independently:
//
//   envelope = [1, doc, agent, seq, len, parents, payload]
//   doc      = bstr .size 16
//   parents  = [* [tstr, uint]]
//   payload  = bstr                   ; the crdt encoding of the transaction
//
//   txn      = [18, agents, seq, parents, ops, time]        ; format 2 (written here): time uint < 2^53
//            / [1, agents, seq, parents, ops]                 ; format 1 (still read)
//   agents   = [+ tstr]                ; agents[0] is the transaction's agent
//   parents  = [* (agent, seq)]        ; flattened pairs
//   ops      = [+ op]
//   op       = [1, text, leftAgent, leftSeq, rightAgent, rightSeq, 0, false]   ; insert
//            / [2, "", targetAgent, targetSeq, 0, 0, len, rev]                 ; delete
//            / [3, title, 0, 0, 0, 0, 0, false]                                 ; title (format 2)
//
// An agent in a reference is 1 + an index into agents; agent 0 with seq 0 is
// the document start (as a left) or end (as a right). Both use CBOR Core
// Deterministic Encoding. An ID is {agent, seq}; null stands for the zero ID.

import { decode, encode } from 'cborg'

export const FORMAT = 1
export const TXN_FORMAT_2 = 18 // crdt transaction format 2's version number
export const MAX_AGENT_BYTES = 64
export const MAX_SEQ = 2 ** 31 - 1
export const MAX_ENVELOPE_BYTES = 4 << 20

const utf8 = new TextEncoder()

export class FormatError extends Error {}

function fail (what) {
  throw new FormatError(what)
}

// strictDecode decodes CBOR and insists that the bytes are the deterministic
// encoding of what they decode to: re-encoding must give them back. That
// also catches what cborg decodes leniently (invalid UTF-8 becomes U+FFFD).
export function strictDecode (bytes, what) {
  let v
  try {
    v = decode(bytes, { strict: true, allowIndefinite: false, allowUndefined: false, allowInfinity: false, allowNaN: false, allowBigInt: true, useMaps: false, rejectDuplicateMapKeys: true })
  } catch (err) {
    fail(`${what}: not CBOR: ${err.message}`)
  }
  if (!equalBytes(encode(v), bytes)) {
    fail(`${what}: not in deterministic encoding (or text is not UTF-8)`)
  }
  return v
}

export function equalBytes (a, b) {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false
  }
  return true
}

function uint (v, what, max = MAX_SEQ) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) {
    fail(`${what}: ${String(v)} is not an unsigned integer up to ${max}`)
  }
  return v
}

function agentName (v, what) {
  if (typeof v !== 'string') fail(`${what}: not a text string`)
  const n = utf8.encode(v).length
  if (n === 0 || n > MAX_AGENT_BYTES) fail(`${what}: agent name of ${n} bytes (need 1..${MAX_AGENT_BYTES})`)
  return v
}

function array (v, what, len) {
  if (!Array.isArray(v)) fail(`${what}: not an array`)
  if (len !== undefined && v.length !== len) fail(`${what}: ${v.length} elements, want ${len}`)
  return v
}

function bytes (v, what) {
  if (!(v instanceof Uint8Array)) fail(`${what}: not a byte string`)
  return v
}

// codePoints counts the Unicode code points of a string (not UTF-16 units).
export function codePoints (s) {
  let n = 0
  for (const _ of s) n++ // eslint-disable-line no-unused-vars
  return n
}

// compareAgents orders agent names bytewise on their UTF-8 encoding.
export function compareAgents (a, b) {
  const x = utf8.encode(a)
  const y = utf8.encode(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] - y[i]
  }
  return x.length - y.length
}

export function compareIDs (a, b) {
  return compareAgents(a.agent, b.agent) || a.seq - b.seq
}

export function hex (b) {
  return Buffer.from(b).toString('hex')
}

// decodeEnvelope decodes and checks an envelope (not its payload).
export function decodeEnvelope (data) {
  if (data.length > MAX_ENVELOPE_BYTES) fail(`envelope of ${data.length} bytes`)
  const w = array(strictDecode(data, 'envelope'), 'envelope', 7)
  if (w[0] !== FORMAT) fail(`envelope format version ${String(w[0])}`)
  const doc = bytes(w[1], 'envelope doc')
  if (doc.length !== 16) fail(`envelope doc of ${doc.length} bytes`)
  const env = {
    doc: hex(doc),
    agent: agentName(w[2], 'envelope agent'),
    seq: uint(w[3], 'envelope seq'),
    len: uint(w[4], 'envelope len'),
    parents: array(w[5], 'envelope parents').map((p, i) => {
      array(p, `envelope parent ${i}`, 2)
      return { agent: agentName(p[0], `envelope parent ${i}`), seq: uint(p[1], `envelope parent ${i} seq`) }
    }),
    payload: bytes(w[6], 'envelope payload')
  }
  if (env.len === 0 || env.seq + env.len > MAX_SEQ) fail('envelope seq span out of range')
  return env
}

// decodeTxn decodes and checks a crdt transaction.
export function decodeTxn (data) {
  const raw = strictDecode(data, 'transaction')
  const v2 = Array.isArray(raw) && raw.length === 6
  const w = array(raw, 'transaction', v2 ? 6 : 5)
  if (w[0] !== (v2 ? TXN_FORMAT_2 : FORMAT)) fail(`transaction format version ${String(w[0])}`)
  const time = v2 ? uint(w[5], 'transaction time', Number.MAX_SAFE_INTEGER) : 0
  const agents = array(w[1], 'transaction agents')
  if (agents.length === 0) fail('transaction without agents')
  agents.forEach((a, i) => agentName(a, `transaction agent ${i}`))
  const ref = (a, s, what, zeroOK) => {
    uint(a, `${what} agent`, Number.MAX_SAFE_INTEGER)
    uint(s, `${what} seq`)
    if (a === 0) {
      if (!zeroOK || s !== 0) fail(`${what} names no agent`)
      return null
    }
    if (a > agents.length) fail(`${what} names agent ${a} of ${agents.length}`)
    return { agent: agents[a - 1], seq: s }
  }
  const txn = { agent: agents[0], seq: uint(w[2], 'transaction seq'), parents: [], ops: [] }
  if (time !== 0) txn.time = time // ms since the Unix epoch; absent: unknown
  const flat = array(w[3], 'transaction parents')
  if (flat.length % 2 !== 0) fail('transaction parents are not pairs')
  for (let i = 0; i < flat.length; i += 2) {
    const p = ref(flat[i], flat[i + 1], `parent ${i / 2}`, false)
    if (txn.parents.length > 0 && compareIDs(txn.parents[txn.parents.length - 1], p) >= 0) fail('parents not sorted or repeated')
    if (p.agent === txn.agent && p.seq >= txn.seq) fail('a parent is a later op of the transaction\'s own agent')
    txn.parents.push(p)
  }
  const ops = array(w[4], 'transaction ops')
  if (ops.length === 0) fail('transaction without ops')
  ops.forEach((o, i) => {
    array(o, `op ${i}`, 8)
    if (typeof o[1] !== 'string' || typeof o[7] !== 'boolean') fail(`op ${i}: bad field types`)
    if (o[0] === 1) {
      if (o[1] === '' || o[6] !== 0 || o[7] !== false) fail(`insert op ${i}: empty or with delete fields`)
      txn.ops.push({ kind: 'insert', text: o[1], left: ref(o[2], o[3], `op ${i} originLeft`, true), right: ref(o[4], o[5], `op ${i} originRight`, true) })
    } else if (o[0] === 2) {
      if (o[1] !== '' || o[4] !== 0 || o[5] !== 0) fail(`delete op ${i} has insert fields`)
      const len = uint(o[6], `delete op ${i} len`)
      if (len === 0) fail(`delete op ${i} deletes nothing`)
      txn.ops.push({ kind: 'delete', target: ref(o[2], o[3], `op ${i} target`, false), len, rev: o[7] })
    } else if (o[0] === 3 && v2) {
      if (o[2] !== 0 || o[3] !== 0 || o[4] !== 0 || o[5] !== 0 || o[6] !== 0 || o[7] !== false) fail(`title op ${i} has other fields`)
      txn.ops.push({ kind: 'title', text: o[1] })
    } else {
      fail(`op ${i} has unknown kind ${String(o[0])}`)
    }
  })
  return txn
}

// txnCount is the number of seqs a transaction consumes.
export function txnCount (txn) {
  return txn.ops.reduce((n, o) => n + (o.kind === 'insert' ? codePoints(o.text) : o.kind === 'title' ? 1 : o.len), 0)
}

// openEnvelope decodes an envelope's payload and checks that it agrees with
// the header.
export function openEnvelope (env) {
  const txn = decodeTxn(env.payload)
  const same = txn.agent === env.agent && txn.seq === env.seq && txnCount(txn) === env.len &&
    txn.parents.length === env.parents.length &&
    txn.parents.every((p, i) => p.agent === env.parents[i].agent && p.seq === env.parents[i].seq)
  if (!same) fail('envelope header disagrees with its transaction')
  return txn
}

// lastInserted returns the ID of the last item a transaction inserted
// (null if it only deletes).
export function lastInserted (txn) {
  let seq = txn.seq
  let last = null
  for (const o of txn.ops) {
    const n = o.kind === 'insert' ? codePoints(o.text) : o.kind === 'title' ? 1 : o.len
    if (o.kind === 'insert') last = { agent: txn.agent, seq: seq + n - 1 }
    seq += n
  }
  return last
}

// encodeTxn encodes a transaction {agent, seq, parents, ops}.
export function encodeTxn (txn) {
  const agents = [txn.agent]
  const ref = (id) => {
    if (id === null) return [0, 0]
    let i = agents.indexOf(id.agent)
    if (i < 0) i = agents.push(id.agent) - 1
    return [i + 1, id.seq]
  }
  const parents = [...txn.parents].sort(compareIDs).flatMap(ref)
  const ops = txn.ops.map((o) => o.kind === 'insert'
    ? [1, o.text, ...ref(o.left), ...ref(o.right), 0, false]
    : [2, '', ...ref(o.target), 0, 0, o.len, o.rev])
  return encode([TXN_FORMAT_2, agents, txn.seq, parents, ops, txn.time ?? 0])
}

// encodeEnvelope wraps a transaction for the document docHex (32 hex digits).
export function encodeEnvelope (docHex, txn) {
  const doc = Uint8Array.from(Buffer.from(docHex, 'hex'))
  if (doc.length !== 16) fail(`document ID ${docHex}`)
  const parents = [...txn.parents].sort(compareIDs).map((p) => [p.agent, p.seq])
  return encode([FORMAT, doc, txn.agent, txn.seq, txnCount(txn), parents, encodeTxn(txn)])
}
