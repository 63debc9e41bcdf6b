// A js-libp2p peer for weft's interop test (e2e/interop_test.go). It speaks
// JSON lines: commands on stdin, events on stdout (one object a line, each
// with an "event" field); diagnostics go to stderr. README.md lists the
// commands and events.
//
// It runs in one of two modes, chosen by its join command:
//   member   {cmd:"join", addr, invite}: a members-only document. It redeems
//            the invite for its own libp2p Ed25519 key (Join), derives the
//            document ID, topic and read keys, announces its chain ([3,
//            chain]) and then reads and writes route-sealed [2, header,
//            payload] envelopes (lib/member.mjs).
//   observer {cmd:"join", addr, topic}: knows a topic name and nothing
//            else; reports what it receives, which is ciphertext.
// (Legacy documents stay local, so envelope format 1 is no longer on the
// network; lib/format.mjs keeps its codec for the transactions inside.)
//
// GossipSub runs as weft's p2p package requires: StrictSign, and the message
// ID is the raw SHA-256 digest of the message data.

// js-libp2p 3 uses Promise.withResolvers, which Node.js has from version 22
// on; on Node 20 it needs this polyfill, installed before libp2p is loaded
// (hence the dynamic imports below).
if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new this((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}

const { createHash, randomBytes } = await import('node:crypto')
const { readFileSync } = await import('node:fs')
const { createInterface } = await import('node:readline')
const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@libp2p/yamux')
const { identify } = await import('@libp2p/identify')
const { gossipsub } = await import('@libp2p/gossipsub')
const { generateKeyPairFromSeed } = await import('@libp2p/crypto/keys')
const { multiaddr } = await import('@multiformats/multiaddr')
const format = await import('./lib/format.mjs')
const member = await import('./lib/member.mjs')

const JOIN_LABEL = 'js-peer'
const JOIN_TIMEOUT_MS = 20_000

function emit (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

function log (...args) {
  process.stderr.write(`[js-peer] ${args.join(' ')}\n`)
}

function versionOf (pkg) {
  const url = new URL(`./node_modules/${pkg}/package.json`, import.meta.url)
  return JSON.parse(readFileSync(url, 'utf8')).version
}

function sha256 (data) {
  return createHash('sha256').update(data).digest()
}

const b64 = (b) => Buffer.from(b).toString('base64')
const unixNow = () => Math.floor(Date.now() / 1000)

// The device: the libp2p identity key is the device key (a fresh Ed25519
// seed each run), so the chain's leaf is this peer's libp2p key.
const dev = member.device(Uint8Array.from(randomBytes(32)))

const node = await createLibp2p({
  privateKey: await generateKeyPairFromSeed('Ed25519', dev.seed),
  addresses: { listen: [] }, // it dials the daemon; nothing dials it
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    pubsub: gossipsub({
      globalSignaturePolicy: 'StrictSign',
      msgIdFn: (msg) => sha256(msg.data),
      msgIdToStrFn: (id) => format.hex(id),
      emitSelf: false,
      allowPublishToZeroTopicPeers: false
    })
  }
})
if (!format.equalBytes(node.peerId.publicKey.raw, dev.pub)) throw new Error('the libp2p key is not the device key')
const pubsub = node.services.pubsub

let mode = null // 'member' or 'observer'
let topic = null
let doc = null // the document ID's bytes
let remote = null
let last = null // the last transaction decoded from the daemon
let nextSeq = 0 // this peer's next seq

// Member mode.
let inv = null // the parsed invite
let ring = null // read keys
let chain = null // this device's chain (root → invite → device)
let prevHash = null // Hash of this device's last header
const members = new Map() // device ID → {role, label}, from verified announcements
const heads = new Map() // agent → {end, hash}: each agent's latest verified header

// openMember reads a route-sealed gossip message of the member's topic.
function openMember (data, out) {
  const g = member.decodeGossip(member.routeOpen(doc, topic, data))
  out.kind = g.kind
  if (g.kind === member.KIND_MEMBER) {
    const c = member.parseChain(g.chain)
    const m = member.verifyMember(c, inv.docKey, unixNow())
    const id = member.deviceID(m.subject)
    out.member = { device: id, role: member.ROLES[m.role], label: m.label, links: c.length }
    members.set(id, out.member)
    return
  }
  if (g.kind === member.KIND_PRESENCE || g.kind === member.KIND_DURABLE) {
    // A cursor (sealed for the readers) or a relay's acknowledgement: the
    // same topic carries them; this peer reads their frame only.
    out.bytes = (g.kind === member.KIND_PRESENCE ? g.sealed : g.ack).length
    return
  }
  const h = member.parseHeader(g.header, doc)
  out.header = member.headerJSON(h)
  member.verifyHeader(h)
  // The hash chain: where this agent's header ending at seq was seen, prev
  // must name it.
  const head = heads.get(h.agent)
  out.prevChecked = head !== undefined && head.end === h.seq
  if (out.prevChecked && !format.equalBytes(head.hash, h.prev)) throw new format.FormatError(`header ${h.agent}/${h.seq}: prev does not name the agent's previous header`)
  const plain = member.openPayload(ring, h, g.payload)
  const txn = format.decodeTxn(plain)
  const parents = [...h.parents].sort(format.compareIDs)
  const same = txn.agent === h.agent && txn.seq === h.seq && format.txnCount(txn) === h.len &&
    txn.parents.length === parents.length && txn.parents.every((p, i) => p.agent === parents[i].agent && p.seq === parents[i].seq)
  if (!same) throw new format.FormatError('header disagrees with its transaction')
  const w = members.get(member.deviceID(member.deviceOf(h.agent)))
  out.writer = w === undefined ? null : w.role
  out.verified = true
  out.txn = txn
  heads.set(h.agent, { end: h.seq + h.len, hash: member.headerHash(h) })
  if (h.agent !== dev.id) last = txn
}

pubsub.addEventListener('gossipsub:message', (evt) => {
  const { msg, msgId } = evt.detail
  if (msg.topic !== topic) return
  const out = {
    event: 'message',
    mode,
    from: msg.type === 'signed' ? msg.from.toString() : null,
    signed: msg.type === 'signed',
    msgId,
    data: b64(msg.data),
    error: null
  }
  try {
    if (mode === 'member') {
      Object.assign(out, { kind: null, header: null, member: null, writer: null, verified: false, txn: null })
      openMember(msg.data, out)
    } else {
      // All it can do is read the sealed form's clear prefix.
      out.sealed = null
      const s = member.parseSealed(msg.data)
      out.sealed = { purpose: s.purpose, epoch: s.epoch, bytes: msg.data.length }
      throw new Error('no route key: this peer knows the topic name only')
    }
  } catch (err) {
    out.error = err.message
  }
  emit(out)
})

// appendTxn builds this peer's next transaction: text inserted just after
// the last item the daemon's last transaction inserted, on the version that
// transaction ends (its last op is the frontier).
function appendTxn (agent, text) {
  if (last === null) throw new Error('no transaction from the daemon decoded yet')
  const left = format.lastInserted(last)
  if (left === null) throw new Error('the daemon\'s last transaction inserted nothing')
  const top = { agent: last.agent, seq: last.seq + format.txnCount(last) - 1 }
  return { agent, seq: nextSeq, parents: [top], ops: [{ kind: 'insert', text, left, right: null }] }
}

async function publish (data) {
  const res = await pubsub.publish(topic, data)
  return {
    msgId: format.hex(sha256(data)),
    data: b64(data),
    recipients: res.recipients.map((p) => p.toString())
  }
}

// routeSealed seals a gossip message for the member topic.
const routeSealed = (plain) => member.routeSeal(doc, topic, Uint8Array.from(randomBytes(member.NONCE_SIZE)), plain)

async function join (cmd) {
  if (mode !== null) throw new Error(`already joined (${mode})`)
  let announce = null
  if (cmd.invite !== undefined) {
    inv = member.parseInvite(cmd.invite)
    if (inv.secret === null) throw new Error(`a ${member.ROLES[inv.role]} invite carries no read secret; this peer reads`)
    doc = inv.doc
    topic = member.topics(doc).doc
    ring = new member.Keyring(doc)
    ring.add(inv.epoch, inv.secret)
    chain = member.join(inv, dev, JOIN_LABEL, unixNow())
    announce = member.chainBytes(chain)
    mode = 'member'
  } else {
    if (typeof cmd.topic !== 'string') throw new Error('join needs an invite or a topic')
    topic = cmd.topic
    mode = 'observer'
  }
  const ma = multiaddr(cmd.addr)
  remote = ma.getComponents().find((c) => c.name === 'p2p')?.value
  if (remote === undefined) throw new Error(`address ${cmd.addr} names no peer`)
  pubsub.subscribe(topic)
  await node.dial(ma)
  // Publishing needs the daemon's subscription to have arrived, and this
  // peer's own GossipSub stream to the daemon to be open: js gossipsub
  // counts the daemon as a recipient as soon as its subscription arrives
  // (on the daemon's stream) but silently drops what it sends before its
  // own outbound stream is there, which would lose the announcement.
  // streamsOutbound is js gossipsub's map of those streams (not part of its
  // typed interface, so its absence is an error, not a skip).
  if (!(pubsub.streamsOutbound instanceof Map)) throw new Error('this @libp2p/gossipsub has no streamsOutbound map: check how it tells an open outbound stream')
  const deadline = Date.now() + JOIN_TIMEOUT_MS
  while (!pubsub.getSubscribers(topic).some((p) => p.toString() === remote) || !pubsub.streamsOutbound.has(remote)) {
    if (Date.now() > deadline) throw new Error(`the daemon's subscription to ${topic} or this peer's stream to it did not come in ${JOIN_TIMEOUT_MS} ms`)
    await new Promise((resolve) => {
      const timer = setTimeout(done, 50)
      function done () {
        clearTimeout(timer)
        pubsub.removeEventListener('subscription-change', done)
        resolve()
      }
      pubsub.addEventListener('subscription-change', done)
    })
  }
  const protocols = node.getConnections().flatMap((c) => c.streams.map((s) => s.protocol)).filter(Boolean)
  const out = { event: 'joined', mode, remote, topic, protocols: [...new Set(protocols)].sort() }
  if (mode === 'member') {
    // Its chain announcement, once, so the daemon can verify its writes.
    const res = await publish(routeSealed(member.encodeMemberMessage(announce)))
    Object.assign(out, { doc: format.hex(doc), device: dev.id, role: member.ROLES[inv.role], epoch: inv.epoch, chain: b64(announce), announced: res })
  }
  return out
}

// appendMember publishes a signed, sealed, route-sealed transaction.
async function appendMember (text) {
  if (inv.role < member.ROLE.write) throw new Error(`a ${member.ROLES[inv.role]} cannot write`)
  const txn = appendTxn(dev.id, text)
  const plain = format.encodeTxn(txn)
  const sealed = member.sealTransaction({ ring, doc, seed: dev.seed, txn, plain, prev: prevHash, nonce: Uint8Array.from(randomBytes(member.NONCE_SIZE)) })
  const res = await publish(routeSealed(member.encodeTxnMessage(sealed.headerBytes, sealed.payload)))
  prevHash = member.headerHash(sealed.header)
  nextSeq += sealed.header.len
  return { event: 'published', ...res, header: member.headerJSON(sealed.header), headerBytes: b64(sealed.headerBytes), payload: b64(sealed.payload), txn }
}

const commands = {
  join,
  async append ({ text }) {
    if (mode !== 'member') throw new Error(`cannot write in ${mode} mode`)
    return await appendMember(text)
  },
  // malformed publishes a correctly signed, correctly route-sealed
  // [2, header, payload] whose header is cut in half: only a reader of the
  // route seal can refuse it.
  async malformed () {
    if (mode !== 'member') throw new Error(`cannot write in ${mode} mode`)
    const txn = appendTxn(dev.id, 'never integrated')
    const s = member.sealTransaction({ ring, doc, seed: dev.seed, txn, plain: format.encodeTxn(txn), prev: prevHash, nonce: Uint8Array.from(randomBytes(member.NONCE_SIZE)) })
    const cut = s.headerBytes.slice(0, Math.floor(s.headerBytes.length / 2))
    return { event: 'published', ...(await publish(routeSealed(member.encodeTxnMessage(cut, s.payload)))) }
  },
  async quit () {
    await node.stop()
    process.exit(0)
  }
}

emit({
  event: 'ready',
  peer: node.peerId.toString(),
  device: dev.id,
  versions: {
    node: process.versions.node,
    libp2p: versionOf('libp2p'),
    gossipsub: versionOf('@libp2p/gossipsub'),
    noise: versionOf('@chainsafe/libp2p-noise'),
    yamux: versionOf('@libp2p/yamux'),
    tcp: versionOf('@libp2p/tcp'),
    cborg: versionOf('cborg'),
    'noble-curves': versionOf('@noble/curves'),
    'noble-ciphers': versionOf('@noble/ciphers'),
    'noble-hashes': versionOf('@noble/hashes')
  }
})

// Commands run one at a time, in order.
const lines = createInterface({ input: process.stdin })
for await (const line of lines) {
  if (line.trim() === '') continue
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    emit({ event: 'error', cmd: null, error: `not JSON: ${err.message}` })
    continue
  }
  const run = commands[cmd.cmd]
  if (run === undefined) {
    emit({ event: 'error', cmd: cmd.cmd, error: 'unknown command' })
    continue
  }
  try {
    emit(await run(cmd))
  } catch (err) {
    log(err.stack)
    emit({ event: 'error', cmd: cmd.cmd, error: err.message })
  }
}
// stdin closed: the test is over.
await node.stop()
process.exit(0)
