// weft's members-only formats, written from docs/members-only.md (the
// records' sections and "On the wire and on disk (the wiring, format 2)")
// and the format comments in member/*.go, not from the Go code, so that the
// interop test checks the formats as written down. The Go side's test
// vectors (member/testdata/vectors/members.json) pin the bytes
// (test/member.test.mjs).
//
//   genesis  = [1, docKey, sig]
//   link     = [1, doc, role, invite, subject, box, parent, notAfter, label, sig]
//   chain    = [1* link]
//   invite   = "weft:invite/" base64url(CBOR [1, docKey, seed, chain, epoch, secret])
//   header   = [1, doc, agent, seq, len, parents, epoch, payloadHash, prev, sig]
//   sealed   = version(1) ‖ purpose(1 byte) ‖ epoch(uvarint) ‖ nonce(24) ‖ ciphertext+tag
//   gossip   = route-sealed [2, header, payload] / [3, chain]
//
// Every record is CBOR in Core Deterministic Encoding and refused unless
// re-encoding gives back its bytes. Every hash and signature covers a label
// "weft/member/v1/<purpose>\0" first. Primitives: Ed25519, X25519,
// HKDF-SHA256, SHA-256, XChaCha20-Poly1305 (the @noble libraries).

import { encode } from 'cborg'
import { ed25519, x25519 } from '@noble/curves/ed25519.js'
import { xchacha20poly1305 } from '@noble/ciphers/chacha.js'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { FormatError, strictDecode, equalBytes, hex, codePoints, compareIDs, MAX_SEQ } from './format.mjs'

export const FORMAT = 1
export const INVITE_PREFIX = 'weft:invite/'
export const MAX_LABEL_BYTES = 64
export const MAX_LINK_BYTES = 512
export const MAX_CHAIN_LINKS = 16
export const MAX_CHAIN_BYTES = MAX_CHAIN_LINKS * MAX_LINK_BYTES + 16
export const MAX_INVITE_BYTES = MAX_CHAIN_BYTES + 256
export const MAX_INVITE_CHARS = INVITE_PREFIX.length + Math.floor((MAX_INVITE_BYTES * 4 + 2) / 3)
export const MAX_HEADER_BYTES = 96 << 10
export const MAX_SEALED_BYTES = 4 << 20
export const MAX_PARENTS = 1024
export const MAX_AGENT_BYTES = 64
export const NONCE_SIZE = 24
export const TAG_SIZE = 16
export const DEVICE_ID_LEN = 43

// Roles: the numbers are the wire form.
export const ROLES = ['', 'pull', 'read', 'write', 'admin']
export const ROLE = { pull: 1, read: 2, write: 3, admin: 4 }
const canRead = (r) => r >= ROLE.read
const canWrite = (r) => r >= ROLE.write
const canDelegate = (r) => r === ROLE.admin

// Sealing purposes: the numbers are the wire form, the names go into the
// key derivation's info.
export const PURPOSE = { payload: 1, title: 2, presence: 3, epoch: 4, route: 5 }
const PURPOSE_NAMES = ['', 'payload', 'title', 'presence', 'epoch', 'route']

// Gossip message kinds (the first element of the route-sealed plaintext).
export const KIND_TXN = 2
export const KIND_MEMBER = 3
export const KIND_PRESENCE = 8 // [8, sealed presence record]
export const KIND_DURABLE = 9 // [9, a relay's durability acknowledgement]
const MAX_PRESENCE_BYTES = 2 << 10
const MAX_DURABLE_BYTES = 256 << 10

const utf8 = new TextEncoder()
const label = (purpose) => utf8.encode(`weft/member/v1/${purpose}\0`)
const DOMAIN = {
  docID: label('doc-id'),
  genesis: label('genesis'),
  delegation: label('delegation'),
  linkHash: label('link-hash'),
  header: label('header'),
  headerHash: label('header-hash'),
  topic: label('topic')
}
// Key derivation infos (HKDF, no trailing NUL: these are infos, not labels).
const INFO_INVITE_BOX = 'weft/member/v1/invite-box'
const INFO_DEVICE_BOX = 'weft/member/v1/device-box'

function fail (what) {
  throw new FormatError(what)
}

export function concat (...parts) {
  const n = parts.reduce((s, p) => s + p.length, 0)
  const out = new Uint8Array(n)
  let i = 0
  for (const p of parts) {
    out.set(p, i)
    i += p.length
  }
  return out
}

// hashOf is SHA-256 over a domain label and bytes.
const hashOf = (domain, b) => sha256(concat(domain, b))

export function fromHex (s) {
  return Uint8Array.from(Buffer.from(s, 'hex'))
}

// Checks of decoded CBOR values.

function arr (v, what, len) {
  if (!Array.isArray(v)) fail(`${what}: not an array`)
  if (len !== undefined && v.length !== len) fail(`${what}: ${v.length} elements, want ${len}`)
  return v
}

function bstr (v, what, ...sizes) {
  if (!(v instanceof Uint8Array)) fail(`${what}: not a byte string`)
  if (sizes.length > 0 && !sizes.includes(v.length)) fail(`${what}: ${v.length} bytes (want ${sizes.join(' or ')})`)
  return v
}

function uint (v, what, max = Number.MAX_SAFE_INTEGER) {
  if (typeof v === 'bigint') fail(`${what}: ${v} is out of range`)
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > max) fail(`${what}: ${String(v)} is not an unsigned integer up to ${max}`)
  return v
}

function version (v, what) {
  if (v !== FORMAT) fail(`${what} format ${String(v)} (this peer reads ${FORMAT})`)
}

function decodeBounded (bytes, limit, what) {
  if (bytes.length > limit) fail(`${what} of ${bytes.length} bytes (at most ${limit})`)
  return strictDecode(bytes, what)
}

// Documents and devices.

// docIDOf is the document ID of a document key: the first 16 bytes of
// SHA-256("weft/member/v1/doc-id\0" ‖ key).
export function docIDOf (docKey) {
  bstr(docKey, 'document key', 32)
  return hashOf(DOMAIN.docID, docKey).slice(0, 16)
}

// boxKey derives an X25519 private key from an Ed25519 seed (HKDF-SHA256,
// no salt, info naming what the key is for).
function boxKey (seed, info) {
  return hkdf(sha256, seed, undefined, utf8.encode(info), 32)
}

// device returns a device's keys from its Ed25519 seed (the libp2p
// identity key's): its public key, ID (= agent name), X25519 key.
export function device (seed) {
  bstr(seed, 'device seed', 32)
  const pub = ed25519.getPublicKey(seed)
  return { seed, pub, id: deviceID(pub), box: x25519.getPublicKey(boxKey(seed, INFO_DEVICE_BOX)) }
}

// deviceID is the base64url (unpadded) of an Ed25519 public key.
export function deviceID (pub) {
  return Buffer.from(pub).toString('base64url')
}

// b64urlDecode decodes strict unpadded base64url: the alphabet only, and
// the bytes must encode back to the same text (no stray trailing bits).
function b64urlDecode (s, what) {
  if (!/^[A-Za-z0-9_-]*$/.test(s) || s.length % 4 === 1) fail(`${what}: not unpadded base64url`)
  const b = Buffer.from(s, 'base64url')
  if (b.toString('base64url') !== s) fail(`${what}: not canonical base64url`)
  return Uint8Array.from(b)
}

// deviceOf returns the Ed25519 key an agent name belongs to: a device ID,
// or a device ID, '.', and a tab suffix of 1..20 base64url characters.
export function deviceOf (agent) {
  const dot = agent.indexOf('.')
  const id = dot < 0 ? agent : agent.slice(0, dot)
  const suffix = dot < 0 ? null : agent.slice(dot + 1)
  if (id.length !== DEVICE_ID_LEN || (suffix !== null && !/^[A-Za-z0-9_-]{1,20}$/.test(suffix))) {
    fail(`agent ${JSON.stringify(agent)} is not a device ID or a device ID and a tab suffix`)
  }
  const pub = b64urlDecode(id, `agent ${JSON.stringify(agent)}`)
  if (pub.length !== 32) fail(`agent ${JSON.stringify(agent)}: its device ID does not decode`)
  return pub
}

// Genesis.

export function parseGenesis (bytes, doc) {
  const w = arr(decodeBounded(bytes, 256, 'genesis'), 'genesis', 3)
  version(w[0], 'genesis')
  const key = bstr(w[1], 'genesis key', 32)
  const sig = bstr(w[2], 'genesis signature', 64)
  const id = docIDOf(key)
  if (doc !== undefined && !equalBytes(id, doc)) fail(`genesis of document ${hex(id)} where ${hex(doc)} was expected`)
  if (!verifySig(sig, concat(DOMAIN.genesis, encode([FORMAT, key])), key)) fail('genesis: bad signature')
  return { docKey: key, doc: id }
}

function verifySig (sig, msg, pub) {
  try {
    return ed25519.verify(sig, msg, pub, { zip215: false })
  } catch {
    return false
  }
}

// Links and chains.

function checkLabel (s, what) {
  if (typeof s !== 'string') fail(`${what}: not a text string`)
  const n = utf8.encode(s).length
  if (n > MAX_LABEL_BYTES) fail(`${what} of ${n} bytes (at most ${MAX_LABEL_BYTES})`)
  if (/\p{Cc}/u.test(s)) fail(`${what} has a control character`)
  return s
}

// linkFromWire checks a decoded link's fields (not its signature).
function linkFromWire (w, what) {
  arr(w, what, 10)
  version(w[0], what)
  const l = {
    doc: bstr(w[1], `${what} doc`, 16),
    role: w[2],
    invite: w[3],
    subject: bstr(w[4], `${what} subject`, 32),
    box: bstr(w[5], `${what} box`, 0, 32),
    parent: bstr(w[6], `${what} parent`, 0, 32),
    notAfter: w[7],
    label: checkLabel(w[8], `${what} label`),
    sig: bstr(w[9], `${what} signature`, 64)
  }
  if (!Number.isInteger(l.role) || l.role < ROLE.pull || l.role > ROLE.admin) fail(`${what}: ${String(l.role)} is not a role`)
  if (typeof l.invite !== 'boolean') fail(`${what}: invite is not a boolean`)
  if (canRead(l.role) && l.box.length !== 32) fail(`${what}: a ${ROLES[l.role]} link needs a 32-byte box key`)
  if (typeof l.notAfter === 'bigint') {
    if (l.notAfter < 0n || l.notAfter > 2n ** 62n) fail(`${what}: expiry out of range`)
  } else {
    uint(l.notAfter, `${what} notAfter`)
  }
  return l
}

function linkBody (l) {
  return [FORMAT, l.doc, l.role, l.invite, l.subject, l.box, l.parent, l.notAfter, l.label]
}

export function linkWire (l) {
  return [...linkBody(l), l.sig]
}

// linkBytes is a link's encoding; linkHash what its children name as parent.
export const linkBytes = (l) => encode(linkWire(l))
export const linkHash = (l) => hashOf(DOMAIN.linkHash, linkBytes(l))

// parseChain decodes a chain (each link's fields; not the signatures).
export function parseChain (bytes) {
  const w = arr(decodeBounded(bytes, MAX_CHAIN_BYTES, 'chain'), 'chain')
  return chainFromWire(w)
}

function chainFromWire (w) {
  if (w.length === 0 || w.length > MAX_CHAIN_LINKS) fail(`chain of ${w.length} links (1 to ${MAX_CHAIN_LINKS})`)
  return w.map((l, i) => linkFromWire(l, `link ${i}`))
}

export const chainBytes = (chain) => encode(chain.map(linkWire))

// verifyChain checks a chain for the document of docKey at time now (unix
// seconds; null skips the expiry check): every link is for the document,
// names its parent's hash (none for the first), is signed by its issuer
// (the document key first, the previous link's subject after), never
// rises above its parent's role, and only an admin issues — except that an
// invite key issues exactly one kind of link: a non-invite link of at most
// its role. The chain expires at its earliest notAfter. It returns the
// leaf: {role, subject, box, label, invite, notAfter}.
export function verifyChain (chain, docKey, now) {
  const doc = docIDOf(docKey)
  if (chain.length === 0) fail('empty chain')
  if (chain.length > MAX_CHAIN_LINKS) fail(`chain of ${chain.length} links`)
  let issuer = docKey
  let notAfter = 0
  chain.forEach((l, i) => {
    if (!equalBytes(l.doc, doc)) fail(`link ${i} is for document ${hex(l.doc)}, not ${hex(doc)}`)
    if (i === 0) {
      if (l.parent.length !== 0) fail('the first link names a parent')
    } else {
      const p = chain[i - 1]
      if (!equalBytes(l.parent, linkHash(p))) fail(`link ${i} does not name link ${i - 1} as its parent`)
      if (p.invite) {
        if (l.invite) fail('an invite key cannot issue another invite')
        if (l.role > p.role) fail(`a ${ROLES[l.role]} link under a ${ROLES[p.role]} invite`)
      } else if (!canDelegate(p.role) || l.role > p.role) {
        fail(`a ${ROLES[l.role]} link issued by a ${ROLES[p.role]}: only admins delegate`)
      }
    }
    if (!verifySig(l.sig, concat(DOMAIN.delegation, encode(linkBody(l))), issuer)) fail(`link ${i} (${ROLES[l.role]}, ${JSON.stringify(l.label)}): bad signature`)
    const na = Number(l.notAfter)
    if (na !== 0 && (notAfter === 0 || na < notAfter)) notAfter = na
    issuer = l.subject
  })
  if (now !== null && notAfter !== 0 && now > notAfter) fail(`the chain expired at ${notAfter} (now ${now})`)
  const leaf = chain[chain.length - 1]
  return { role: leaf.role, subject: leaf.subject, box: leaf.box, label: leaf.label, invite: leaf.invite, notAfter }
}

// verifyMember is verifyChain for a member: the leaf must not be an invite key.
export function verifyMember (chain, docKey, now) {
  const m = verifyChain(chain, docKey, now)
  if (m.invite) fail('the chain ends at an invite key, not a device')
  return m
}

// Invites.

// parseInvite reads an invite string and checks everything but expiry:
// length, prefix, strict base64url, canonical CBOR, the chain's
// signatures and rules, that the seed is the invite link's key (and box),
// and that a read secret is there exactly for reading roles.
export function parseInvite (s) {
  s = s.trim()
  if (s.length > MAX_INVITE_CHARS) fail(`invite of ${s.length} characters (at most ${MAX_INVITE_CHARS})`)
  if (!s.startsWith(INVITE_PREFIX)) fail(`an invite starts with ${JSON.stringify(INVITE_PREFIX)}`)
  const data = b64urlDecode(s.slice(INVITE_PREFIX.length), 'invite')
  const w = arr(decodeBounded(data, MAX_INVITE_BYTES, 'invite'), 'invite', 6)
  version(w[0], 'invite')
  const inv = {
    docKey: bstr(w[1], 'invite document key', 32),
    seed: bstr(w[2], 'invite seed', 32),
    chain: chainFromWire(arr(w[3], 'invite chain')),
    epoch: uint(w[4], 'invite epoch'),
    secret: bstr(w[5], 'invite secret', 0, 32)
  }
  if (inv.secret.length === 0) inv.secret = null
  const m = verifyChain(inv.chain, inv.docKey, null)
  if (!m.invite) fail('invite: the chain does not end at an invite key')
  const key = ed25519.getPublicKey(inv.seed)
  const box = x25519.getPublicKey(boxKey(inv.seed, INFO_INVITE_BOX))
  if (!equalBytes(m.subject, key) || (m.box.length !== 0 && !equalBytes(m.box, box))) fail('invite: the seed is not the invite link\'s key')
  if (canRead(m.role) !== (inv.secret !== null)) fail(`invite: a ${ROLES[m.role]} invite with${inv.secret === null ? 'out' : ''} a read secret`)
  inv.doc = docIDOf(inv.docKey)
  inv.role = m.role
  inv.notAfter = m.notAfter
  inv.inviteKey = key
  inv.inviteBox = box
  return inv
}

// join redeems an invite for the device dev (device(seed)) at time now:
// the invite key issues the device a link of the invite's role, no expiry
// of its own, with label; the result is the chain root → … → invite →
// device.
export function join (inv, dev, lbl, now) {
  const m = verifyChain(inv.chain, inv.docKey, now)
  if (!m.invite) fail('the chain does not end at an invite key')
  const l = {
    doc: inv.doc,
    role: m.role,
    invite: false,
    subject: dev.pub,
    box: dev.box,
    parent: linkHash(inv.chain[inv.chain.length - 1]),
    notAfter: 0,
    label: checkLabel(lbl, 'label'),
    sig: null
  }
  l.sig = ed25519.sign(concat(DOMAIN.delegation, encode(linkBody(l))), inv.seed)
  const chain = [...inv.chain, l]
  verifyMember(chain, inv.docKey, now)
  return chain
}

// Sealing.

function uvarint (n) {
  const out = []
  let v = BigInt(n)
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return Uint8Array.from(out)
}

// sealKey derives an epoch's key for a purpose: HKDF-SHA256(secret, salt =
// document ID, info = "weft/member/v1/seal-keys/<purpose>/<epoch>"), 32 bytes.
export function sealKey (secret, doc, purpose, epoch) {
  const name = PURPOSE_NAMES[purpose]
  if (!name) fail(`purpose ${purpose}`)
  return hkdf(sha256, secret, doc, utf8.encode(`weft/member/v1/seal-keys/${name}/${epoch}`), 32)
}

function sealedPrefix (purpose, epoch) {
  return concat(Uint8Array.of(1, purpose), uvarint(epoch))
}

// seal makes the sealed form: prefix ‖ nonce ‖ XChaCha20-Poly1305(key,
// nonce, plaintext, associated data = prefix ‖ ad).
export function seal (key, purpose, epoch, nonce, plaintext, ad) {
  bstr(nonce, 'nonce', NONCE_SIZE)
  const prefix = sealedPrefix(purpose, epoch)
  const ct = xchacha20poly1305(key, nonce, concat(prefix, ad)).encrypt(plaintext)
  return concat(prefix, nonce, ct)
}

// parseSealed reads a sealed form's fields without opening it.
export function parseSealed (b) {
  bstr(b, 'sealed form')
  if (b.length > MAX_SEALED_BYTES) fail(`sealed ${b.length} bytes (at most ${MAX_SEALED_BYTES})`)
  if (b.length < 2) fail(`sealed form of ${b.length} bytes`)
  if (b[0] !== 1) fail(`sealed form version ${b[0]} (this peer reads 1)`)
  if (!PURPOSE_NAMES[b[1]]) fail(`sealed form of unknown purpose ${b[1]}`)
  let epoch = 0n
  let i = 2
  for (let shift = 0n; ; shift += 7n) {
    if (i >= b.length || shift > 63n) fail('sealed form: bad epoch')
    const c = b[i++]
    epoch |= BigInt(c & 0x7f) << shift
    if (c < 0x80) break
  }
  if (!equalBytes(uvarint(epoch), b.slice(2, i))) fail('sealed form: bad epoch')
  const rest = b.slice(i)
  if (rest.length < NONCE_SIZE + TAG_SIZE) fail(`sealed form: ${rest.length} bytes after the epoch`)
  if (epoch > BigInt(Number.MAX_SAFE_INTEGER)) fail('sealed form: epoch out of range')
  return { purpose: b[1], epoch: Number(epoch), prefix: b.slice(0, i), nonce: rest.slice(0, NONCE_SIZE), ciphertext: rest.slice(NONCE_SIZE) }
}

// open opens a sealed form for purpose with key (of the epoch it names).
export function open (key, purpose, sealed, ad) {
  const s = typeof sealed.prefix === 'undefined' ? parseSealed(sealed) : sealed
  if (s.purpose !== purpose) fail(`sealed ${PURPOSE_NAMES[s.purpose]} where ${PURPOSE_NAMES[purpose]} was expected`)
  try {
    return xchacha20poly1305(key, s.nonce, concat(s.prefix, ad)).decrypt(s.ciphertext)
  } catch {
    fail(`${PURPOSE_NAMES[purpose]} of epoch ${s.epoch} does not open`)
  }
}

// A keyring: epoch → keys by purpose, derived from the read secrets held.
export class Keyring {
  constructor (doc) {
    this.doc = doc
    this.epochs = new Map()
    this.current = null
  }

  add (epoch, secret) {
    this.epochs.set(epoch, { payload: sealKey(secret, this.doc, PURPOSE.payload, epoch) })
    if (this.current === null || epoch > this.current) this.current = epoch
  }

  payloadKey (epoch) {
    const k = this.epochs.get(epoch)
    if (k === undefined) fail(`sealed under epoch ${epoch}, which this peer does not hold`)
    return k.payload
  }
}

// Topics and the route seal ("On the wire and on disk").

// topicHash is the hex of the first 16 bytes of
// SHA-256("weft/member/v1/topic\0" ‖ document ID).
export function topicHash (doc) {
  return hex(hashOf(DOMAIN.topic, bstr(doc, 'document ID', 16)).slice(0, 16))
}

// topics names a document's one topic: every gossip kind travels on it.
export function topics (doc) {
  return { doc: `weft/doc/${topicHash(doc)}` }
}

// routeKey: HKDF-SHA256(secret = ID bytes, salt = ID bytes,
// info = "weft/member/v1/seal-keys/route/0").
export function routeKey (doc) {
  return sealKey(doc, doc, PURPOSE.route, 0)
}

export function routeSeal (doc, topic, nonce, plain) {
  return seal(routeKey(doc), PURPOSE.route, 0, nonce, plain, utf8.encode(topic))
}

export function routeOpen (doc, topic, data) {
  const s = parseSealed(data)
  if (s.epoch !== 0) fail(`route seal of epoch ${s.epoch}`)
  return open(routeKey(doc), PURPOSE.route, s, utf8.encode(topic))
}

// decodeGossip decodes a route-opened gossip message: {kind: 2, header,
// payload}, {kind: 3, chain}, {kind: 8, sealed} or {kind: 9, ack} (raw
// bytes; presence and acknowledgements are framed only).
export function decodeGossip (plain) {
  const w = arr(decodeBounded(plain, MAX_SEALED_BYTES, 'gossip message'), 'gossip message')
  if (w[0] === KIND_TXN) {
    arr(w, 'transaction envelope', 3)
    return { kind: KIND_TXN, header: bstr(w[1], 'envelope header'), payload: bstr(w[2], 'envelope payload') }
  }
  if (w[0] === KIND_MEMBER) {
    arr(w, 'member announcement', 2)
    return { kind: KIND_MEMBER, chain: bstr(w[1], 'announced chain') }
  }
  if (w[0] === KIND_PRESENCE || w[0] === KIND_DURABLE) {
    const what = w[0] === KIND_PRESENCE ? 'presence message' : 'durability message'
    const max = w[0] === KIND_PRESENCE ? MAX_PRESENCE_BYTES : MAX_DURABLE_BYTES
    arr(w, what, 2)
    const b = bstr(w[1], what)
    if (b.length === 0 || b.length > max) fail(`${what} carrying ${b.length} bytes (1 to ${max})`)
    return w[0] === KIND_PRESENCE ? { kind: KIND_PRESENCE, sealed: b } : { kind: KIND_DURABLE, ack: b }
  }
  fail(`gossip message of unknown kind ${String(w[0])}`)
}

export const encodeTxnMessage = (header, payload) => encode([KIND_TXN, header, payload])
export const encodeMemberMessage = (chain) => encode([KIND_MEMBER, chain])

// Signed headers.

function agentName (v, what) {
  if (typeof v !== 'string') fail(`${what}: not a text string`)
  const n = utf8.encode(v).length
  if (n === 0 || n > MAX_AGENT_BYTES) fail(`${what}: agent name of ${n} bytes`)
  return v
}

// parseHeader decodes a header for doc and checks it alone: bounds, an
// agent that names a device, prev zero exactly at seq 0. Not the signature.
export function parseHeader (bytes, doc) {
  const w = arr(decodeBounded(bytes, MAX_HEADER_BYTES, 'header'), 'header', 10)
  version(w[0], 'header')
  const h = {
    doc: bstr(w[1], 'header doc', 16),
    agent: agentName(w[2], 'header agent'),
    seq: uint(w[3], 'header seq', MAX_SEQ),
    len: uint(w[4], 'header len', MAX_SEQ),
    parents: arr(w[5], 'header parents').map((p, i) => {
      arr(p, `header parent ${i}`, 2)
      return { agent: agentName(p[0], `header parent ${i}`), seq: uint(p[1], `header parent ${i} seq`, MAX_SEQ - 1) }
    }),
    epoch: uint(w[6], 'header epoch'),
    payloadHash: bstr(w[7], 'header payload hash', 32),
    prev: bstr(w[8], 'header prev', 32),
    sig: bstr(w[9], 'header signature', 0, 64)
  }
  if (doc !== undefined && !equalBytes(h.doc, doc)) fail(`header for document ${hex(h.doc)} where ${hex(doc)} was expected`)
  if (h.len === 0 || h.seq + h.len > MAX_SEQ) fail('header: seq span out of range')
  if (h.parents.length > MAX_PARENTS) fail(`header: ${h.parents.length} parents`)
  const seen = new Set()
  for (const p of h.parents) {
    if (p.agent === h.agent && p.seq >= h.seq) fail(`header: parent (${p.agent}, ${p.seq}) is not in its past`)
    const k = `${p.agent}\0${p.seq}`
    if (seen.has(k)) fail(`header: parent (${p.agent}, ${p.seq}) listed twice`)
    seen.add(k)
  }
  deviceOf(h.agent)
  if ((h.seq === 0) !== h.prev.every((b) => b === 0)) fail('header: a previous-header hash must be given exactly after seq 0')
  return h
}

const headerFront = (h) => [FORMAT, h.doc, h.agent, h.seq, h.len, h.parents.map((p) => [p.agent, p.seq]), h.epoch]

// headerHash is SHA-256 over "weft/member/v1/header-hash\0" and the
// header's first nine fields as a CBOR array (no signature).
export const headerHash = (h) => hashOf(DOMAIN.headerHash, encode([...headerFront(h), h.payloadHash, h.prev]))

// sealedAD is the header's encoding without payload hash and signature:
// the associated data its payload is sealed with.
export const sealedAD = (h) => encode([...headerFront(h), h.prev])

export const headerBytes = (h) => encode([...headerFront(h), h.payloadHash, h.prev, h.sig])

// verifyHeader checks the header's signature: the device its agent names
// signed "weft/member/v1/header\0" ‖ Hash.
export function verifyHeader (h) {
  if (h.sig.length !== 64) fail(`header ${h.agent}/${h.seq} carries no signature`)
  if (!verifySig(h.sig, concat(DOMAIN.header, headerHash(h)), deviceOf(h.agent))) fail(`header ${h.agent}/${h.seq}: bad signature`)
}

// signHeader signs h with the device whose seed is given (it must own the agent).
export function signHeader (h, seed) {
  if (!equalBytes(deviceOf(h.agent), ed25519.getPublicKey(seed))) fail(`agent ${h.agent} does not belong to the signing device`)
  h.sig = ed25519.sign(concat(DOMAIN.header, headerHash(h)), seed)
  return h
}

// openPayload opens a header's sealed payload: its SHA-256 must be the
// header's payloadHash, its epoch the header's, its associated data the
// header's sealedAD.
export function openPayload (ring, h, payload) {
  if (!equalBytes(sha256(payload), h.payloadHash)) fail(`payload of ${h.agent}/${h.seq} does not match its header's hash`)
  const s = parseSealed(payload)
  if (s.epoch !== h.epoch) fail(`payload sealed in epoch ${s.epoch} under a header of epoch ${h.epoch}`)
  return open(ring.payloadKey(s.epoch), PURPOSE.payload, s, sealedAD(h))
}

// sealTransaction builds, seals and signs the header of a transaction
// {agent, seq, parents, ops} whose crdt encoding is plain: epoch the
// keyring's current one, prev the agent's previous header's hash (null at
// seq 0). It returns {header (decoded), headerBytes, payload}.
export function sealTransaction ({ ring, doc, seed, txn, plain, prev, nonce }) {
  const parents = [...txn.parents].sort(compareIDs).map((p) => ({ agent: p.agent, seq: p.seq }))
  const len = txn.ops.reduce((n, o) => n + (o.kind === 'insert' ? codePoints(o.text) : o.len), 0)
  const h = { doc, agent: txn.agent, seq: txn.seq, len, parents, epoch: ring.current, payloadHash: null, prev: prev ?? new Uint8Array(32), sig: new Uint8Array(0) }
  const payload = seal(ring.payloadKey(h.epoch), PURPOSE.payload, h.epoch, nonce, plain, sealedAD(h))
  h.payloadHash = sha256(payload)
  signHeader(h, seed)
  return { header: h, headerBytes: headerBytes(h), payload }
}

// headerJSON is a header for reports.
export function headerJSON (h) {
  return { doc: hex(h.doc), agent: h.agent, seq: h.seq, len: h.len, parents: h.parents, epoch: h.epoch, payloadHash: hex(h.payloadHash), prev: hex(h.prev), signed: h.sig.length === 64 }
}
