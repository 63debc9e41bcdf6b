// The JS peer's members-only codec (lib/member.mjs) against the Go side's
// vectors (member/testdata/vectors/members.json, made by
// member/vectors_test.go): the same bytes from the same seeds, and what Go
// signed and sealed verifies and opens here. The route seal, topics and
// gossip messages in the vectors are computed from docs/members-only.md by
// that Go test, not by wiring code.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { encode } from 'cborg'
import { sha256 } from '@noble/hashes/sha2.js'
import * as m from '../lib/member.mjs'
import * as format from '../lib/format.mjs'

const V = JSON.parse(readFileSync(new URL('../../../member/testdata/vectors/members.json', import.meta.url), 'utf8'))
const h = m.fromHex
const hex = format.hex
const DOC = h(V.document.id)
const DOC_KEY = h(V.document.key)

test('document ID, genesis and sealing keys', () => {
  assert.equal(hex(m.docIDOf(DOC_KEY)), V.document.id)
  const g = m.parseGenesis(h(V.document.genesis), DOC)
  assert.equal(hex(g.docKey), V.document.key)
  for (const [name, key] of Object.entries(V.document.sealKeys)) {
    assert.equal(hex(m.sealKey(h(V.document.secret), DOC, m.PURPOSE[name], 0)), key, name)
  }
  const bad = h(V.document.genesis)
  bad[bad.length - 1] ^= 1
  assert.throws(() => m.parseGenesis(bad, DOC), /bad signature/)
  assert.throws(() => m.parseGenesis(h(V.document.genesis), new Uint8Array(16)), /expected/)
})

test('a device\'s keys from its seed', () => {
  const w = m.device(h(V.writer.seed))
  assert.equal(hex(w.pub), V.writer.key)
  assert.equal(w.id, V.writer.id)
  assert.equal(w.id.length, 43)
  assert.equal(hex(w.box), V.writer.box)
  assert.equal(hex(m.deviceOf(w.id)), V.writer.key)
  assert.equal(hex(m.deviceOf(w.id + '.tab_1')), V.writer.key)
  for (const bad of [w.id.slice(1), w.id + '.', w.id + '.a.b', w.id + '.' + 'x'.repeat(21), 'js-peer']) {
    assert.throws(() => m.deviceOf(bad), /not a device ID/, bad)
  }
  const chain = m.parseChain(h(V.writer.chain))
  const mem = m.verifyMember(chain, DOC_KEY, 0)
  assert.equal(m.ROLES[mem.role], 'write')
  assert.equal(hex(mem.subject), V.writer.key)
  assert.equal(hex(m.chainBytes(chain)), V.writer.chain)
})

for (const iv of V.invites) {
  test(`invite ${iv.name}: parse, and Join makes Go's link byte for byte`, () => {
    const inv = m.parseInvite(` ${iv.invite}\n`)
    assert.equal(hex(inv.docKey), V.document.key)
    assert.equal(hex(inv.doc), V.document.id)
    assert.equal(m.ROLES[inv.role], iv.role)
    assert.equal(inv.epoch, iv.epoch)
    assert.equal(hex(inv.secret), V.document.secret)
    assert.equal(hex(inv.seed), iv.seed)
    assert.equal(hex(inv.inviteKey), iv.inviteKey)
    assert.equal(hex(inv.inviteBox), iv.inviteBox)
    assert.equal(inv.notAfter, iv.notAfter)
    assert.equal(hex(m.chainBytes(inv.chain)), iv.chain)
    assert.deepEqual(inv.chain.map((l) => hex(m.linkHash(l))), iv.linkHashes)

    const dev = m.device(h(iv.join.device.seed))
    assert.equal(dev.id, iv.join.device.id)
    assert.equal(hex(dev.box), iv.join.device.box)
    const chain = m.join(inv, dev, iv.join.label, iv.join.now)
    assert.equal(chain.length, iv.join.chainLinks)
    assert.equal(hex(m.linkBytes(chain[chain.length - 1])), iv.join.link)
    assert.equal(hex(m.linkHash(chain[chain.length - 1])), iv.join.linkHash)
    assert.equal(hex(m.chainBytes(chain)), iv.join.chain)
    const mem = m.verifyMember(m.parseChain(h(iv.join.chain)), DOC_KEY, iv.join.now)
    assert.equal(m.ROLES[mem.role], iv.role)
    assert.equal(m.deviceID(mem.subject), iv.join.device.id)
    // The invite chain alone is no member.
    assert.throws(() => m.verifyMember(inv.chain, DOC_KEY, iv.join.now), /invite key/)
    if (iv.notAfter !== 0) {
      assert.throws(() => m.join(inv, dev, iv.join.label, iv.notAfter + 1), /expired/)
      assert.throws(() => m.verifyMember(chain, DOC_KEY, iv.notAfter + 1), /expired/)
    }
  })
}

test('a broken invite or chain is refused', () => {
  const iv = V.invites[1]
  const s = iv.invite
  const body = s.slice(m.INVITE_PREFIX.length)
  const data = Buffer.from(body, 'base64url')
  const w = format.strictDecode(Uint8Array.from(data), 'invite')
  const reenc = (x) => m.INVITE_PREFIX + Buffer.from(encode(x)).toString('base64url')
  assert.equal(reenc(w), s)
  const cases = {
    prefix: 'weft:inv/' + body,
    padding: s + '=',
    alphabet: s.slice(0, -1) + '+',
    'version 2': reenc([2, ...w.slice(1)]),
    'other seed': reenc([w[0], w[1], new Uint8Array(32), ...w.slice(3)]),
    'no secret': reenc([...w.slice(0, 5), new Uint8Array(0)]),
    'other document key': reenc([w[0], h(V.writer.key), ...w.slice(2)]),
    'link dropped': reenc([w[0], w[1], w[2], w[3].slice(1), w[4], w[5]]),
    'role raised': reenc([w[0], w[1], w[2], [w[3][0], [...w[3][1].slice(0, 2), 3, ...w[3][1].slice(3)]], w[4], w[5]]),
    'too long': m.INVITE_PREFIX + 'A'.repeat(m.MAX_INVITE_CHARS)
  }
  // The last character's unused low bits set: the same bytes, another text.
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  for (const x of [s, s.slice(0, -1), s.slice(0, -2)]) {
    if ((x.length - m.INVITE_PREFIX.length) % 4 === 0) continue
    cases[`trailing bits (${x.length})`] = x.slice(0, -1) + abc[abc.indexOf(x[x.length - 1]) | 1]
  }
  assert.ok(Object.keys(cases).some((k) => k.startsWith('trailing bits')))
  for (const [name, bad] of Object.entries(cases)) {
    assert.throws(() => m.parseInvite(bad), format.FormatError, name)
  }
  // A device link under a member link (not an admin, not an invite).
  const dev = m.device(h(V.invites[0].join.device.seed))
  const chain = m.parseChain(h(V.writer.chain))
  const forged = { ...chain[0], role: m.ROLE.read, subject: dev.pub, box: dev.box, parent: m.linkHash(chain[0]), label: '' }
  assert.throws(() => m.verifyMember([...chain, forged], DOC_KEY, 0), /only admins delegate/)
})

test('signed headers verify, chain by prev, and their payloads open', () => {
  const ring = new m.Keyring(DOC)
  ring.add(0, h(V.document.secret))
  let prev = new Uint8Array(32)
  for (const [i, hv] of V.headers.entries()) {
    const hd = m.parseHeader(h(hv.header), DOC)
    assert.equal(hd.agent, V.writer.id)
    assert.equal(hd.seq, hv.seq)
    assert.equal(hd.len, hv.len)
    assert.deepEqual(hd.parents, hv.parents)
    assert.equal(hex(hd.prev), hex(prev))
    assert.equal(hex(m.headerHash(hd)), hv.hash)
    assert.equal(hex(m.sealedAD(hd)), hv.sealedAD)
    assert.equal(hex(m.headerBytes(hd)), hv.header)
    m.verifyHeader(hd)
    const pt = m.openPayload(ring, hd, h(hv.payload))
    assert.equal(hex(pt), hv.plaintext)
    const txn = format.decodeTxn(pt)
    assert.equal(txn.agent, hd.agent)
    assert.equal(format.txnCount(txn), hd.len)
    // Sealing again with the same nonce gives Go's bytes.
    const sealed = m.seal(ring.payloadKey(0), m.PURPOSE.payload, 0, h(hv.nonce), pt, m.sealedAD(hd))
    assert.equal(hex(sealed), hv.payload)
    // So does building the header from the transaction (Ed25519 is deterministic).
    const again = m.sealTransaction({ ring, doc: DOC, seed: h(V.writer.seed), txn, plain: pt, prev: i === 0 ? null : prev, nonce: h(hv.nonce) })
    assert.equal(hex(again.headerBytes), hv.header)
    // Tampering is caught.
    const bad = { ...hd, seq: hd.seq + 1 }
    assert.throws(() => m.verifyHeader(bad), /bad signature/)
    const p = h(hv.payload)
    p[p.length - 1] ^= 1
    assert.throws(() => m.openPayload(ring, hd, p), /does not match/)
    assert.throws(() => m.openPayload(ring, { ...hd, agent: hd.agent, len: hd.len, prev: hd.prev, payloadHash: sha256(p) }, p), /does not open/)
    prev = h(hv.hash)
  }
  assert.throws(() => m.parseHeader(h(V.headers[0].header), new Uint8Array(16)), /expected/)
  assert.throws(() => new m.Keyring(DOC).payloadKey(0), /does not hold/)
})

test('topics, the route key and route-sealed gossip (vectors from the spec)', () => {
  assert.deepEqual(m.topics(DOC), V.route.topics)
  assert.equal(hex(m.routeKey(DOC)), V.route.routeKey)
  for (const msg of V.route.messages) {
    const sealed = m.routeSeal(DOC, msg.topic, h(msg.nonce), h(msg.plain))
    assert.equal(hex(sealed), msg.sealed)
    const plain = m.routeOpen(DOC, msg.topic, h(msg.sealed))
    assert.equal(hex(plain), msg.plain)
    const g = m.decodeGossip(plain)
    assert.equal(g.kind, msg.kind)
    if (g.kind === m.KIND_MEMBER) {
      assert.equal(hex(g.chain), V.writer.chain)
      assert.equal(hex(m.encodeMemberMessage(g.chain)), msg.plain)
    } else if (g.kind === m.KIND_PRESENCE) {
      assert.equal(hex(encode([m.KIND_PRESENCE, g.sealed])), msg.plain)
    } else if (g.kind === m.KIND_DURABLE) {
      assert.equal(hex(encode([m.KIND_DURABLE, g.ack])), msg.plain)
    } else {
      assert.ok(V.headers.some((hv) => hv.header === hex(g.header) && hv.payload === hex(g.payload)))
      assert.equal(hex(m.encodeTxnMessage(g.header, g.payload)), msg.plain)
    }
    // Another topic, another document: it does not open.
    assert.throws(() => m.routeOpen(DOC, msg.topic.replace('weft/doc/', 'weft/presence/'), h(msg.sealed)), /does not open/)
    assert.throws(() => m.routeOpen(new Uint8Array(16).fill(1), msg.topic, h(msg.sealed)), /does not open/)
  }
  assert.throws(() => m.decodeGossip(encode([4, new Uint8Array(1)])), /unknown kind/)
  assert.throws(() => m.decodeGossip(encode([6, new Uint8Array(1)])), /unknown kind/)
  assert.throws(() => m.decodeGossip(encode([8, new Uint8Array(0)])), /0 bytes/)
  assert.throws(() => m.decodeGossip(encode([9, new Uint8Array((256 << 10) + 1)])), /carrying/)
  assert.throws(() => m.decodeGossip(encode([2, new Uint8Array(1)])), /3/)
})

test('the sealed form: epochs as minimal uvarints, bad prefixes refused', () => {
  const key = new Uint8Array(32)
  const nonce = new Uint8Array(24)
  for (const epoch of [0, 127, 128, 300, 2 ** 40]) {
    const s = m.seal(key, m.PURPOSE.payload, epoch, nonce, Uint8Array.of(1, 2, 3), new Uint8Array(0))
    const p = m.parseSealed(s)
    assert.equal(p.epoch, epoch)
    assert.deepEqual([...m.open(key, m.PURPOSE.payload, s, new Uint8Array(0))], [1, 2, 3])
    assert.throws(() => m.open(key, m.PURPOSE.title, s, new Uint8Array(0)), /payload where title/)
  }
  const ok = m.seal(key, 1, 0, nonce, new Uint8Array(0), new Uint8Array(0))
  assert.throws(() => m.parseSealed(Uint8Array.from([2, ...ok.slice(1)])), /version 2/)
  assert.throws(() => m.parseSealed(Uint8Array.from([1, 9, ...ok.slice(2)])), /unknown purpose/)
  assert.throws(() => m.parseSealed(Uint8Array.from([1, 1, 0x80, 0x00, ...ok.slice(3)])), /bad epoch/)
  assert.throws(() => m.parseSealed(ok.slice(0, ok.length - 1)), /bytes after the epoch/)
})
