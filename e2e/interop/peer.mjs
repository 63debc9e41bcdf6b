// A js-libp2p peer for weft's interop test (e2e/interop_test.go). It speaks
// JSON lines: commands on stdin, events on stdout (one object a line, each
// with an "event" field); diagnostics go to stderr.
//
// Events:
//   {event:"ready", peer, versions}             at start
//   {event:"joined", remote, protocols}         after {cmd:"join", addr, topic, doc}
//   {event:"message", from, signed, msgId, data, envelope, txn, error}
//                                               for every message on the topic
//   {event:"published", msgId, data, recipients, envelope, txn}
//                                               after {cmd:"append", text} or
//                                               {cmd:"malformed"}
//   {event:"error", cmd, error}                 when a command failed
// {cmd:"quit"} stops the node and exits 0.
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

const { createHash } = await import('node:crypto')
const { readFileSync } = await import('node:fs')
const { createInterface } = await import('node:readline')
const { createLibp2p } = await import('libp2p')
const { tcp } = await import('@libp2p/tcp')
const { noise } = await import('@chainsafe/libp2p-noise')
const { yamux } = await import('@libp2p/yamux')
const { identify } = await import('@libp2p/identify')
const { gossipsub } = await import('@libp2p/gossipsub')
const { multiaddr } = await import('@multiformats/multiaddr')
const format = await import('./lib/format.mjs')

const AGENT = 'js-peer'
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

// Envelopes and transactions as JSON: IDs as {agent, seq} (null for zero).
function envelopeJSON (env) {
  return { doc: env.doc, agent: env.agent, seq: env.seq, len: env.len, parents: env.parents, payloadBytes: env.payload.length }
}

const node = await createLibp2p({
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
const pubsub = node.services.pubsub

let topic = null
let doc = null
let remote = null
let last = null // the last transaction decoded from the daemon
let nextSeq = 0 // js-peer's next seq

pubsub.addEventListener('gossipsub:message', (evt) => {
  const { msg, msgId } = evt.detail
  if (msg.topic !== topic) return
  const out = {
    event: 'message',
    from: msg.type === 'signed' ? msg.from.toString() : null,
    signed: msg.type === 'signed',
    msgId,
    data: Buffer.from(msg.data).toString('base64'),
    envelope: null,
    txn: null,
    error: null
  }
  try {
    const env = format.decodeEnvelope(msg.data)
    out.envelope = envelopeJSON(env)
    if (env.doc !== doc) throw new format.FormatError(`envelope for document ${env.doc}, not ${doc}`)
    const txn = format.openEnvelope(env)
    out.txn = txn
    last = txn
  } catch (err) {
    out.error = err.message
  }
  emit(out)
})

// appendTxn builds js-peer's next transaction: text inserted just after the
// last item the daemon's last transaction inserted, on the version that
// transaction ends (its last op is the frontier).
function appendTxn (text) {
  if (last === null) throw new Error('no transaction from the daemon decoded yet')
  const left = format.lastInserted(last)
  if (left === null) throw new Error('the daemon\'s last transaction inserted nothing')
  const top = { agent: last.agent, seq: last.seq + format.txnCount(last) - 1 }
  const txn = { agent: AGENT, seq: nextSeq, parents: [top], ops: [{ kind: 'insert', text, left, right: null }] }
  return txn
}

async function publish (data) {
  const res = await pubsub.publish(topic, data)
  return {
    msgId: format.hex(sha256(data)),
    data: Buffer.from(data).toString('base64'),
    recipients: res.recipients.map((p) => p.toString())
  }
}

async function join ({ addr, topic: t, doc: d }) {
  topic = t
  doc = d
  const ma = multiaddr(addr)
  remote = ma.getComponents().find((c) => c.name === 'p2p')?.value
  if (remote === undefined) throw new Error(`address ${addr} names no peer`)
  pubsub.subscribe(topic)
  await node.dial(ma)
  // Publishing needs the daemon's subscription to have arrived.
  const deadline = Date.now() + JOIN_TIMEOUT_MS
  while (!pubsub.getSubscribers(topic).some((p) => p.toString() === remote)) {
    if (Date.now() > deadline) throw new Error(`the daemon's subscription to ${topic} did not arrive in ${JOIN_TIMEOUT_MS} ms`)
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
  return { event: 'joined', remote, protocols: [...new Set(protocols)].sort() }
}

const commands = {
  join,
  async append ({ text }) {
    const txn = appendTxn(text)
    const data = format.encodeEnvelope(doc, txn)
    const res = await publish(data)
    nextSeq += format.txnCount(txn)
    return { event: 'published', ...res, envelope: envelopeJSON(format.decodeEnvelope(data)), txn }
  },
  // malformed publishes the first half of a well-formed envelope: a
  // correctly signed message whose data is cut-off CBOR.
  async malformed () {
    const whole = format.encodeEnvelope(doc, appendTxn('never integrated'))
    const data = whole.slice(0, Math.floor(whole.length / 2))
    return { event: 'published', ...(await publish(data)), envelope: null }
  },
  async quit () {
    await node.stop()
    process.exit(0)
  }
}

emit({
  event: 'ready',
  peer: node.peerId.toString(),
  versions: {
    node: process.versions.node,
    libp2p: versionOf('libp2p'),
    gossipsub: versionOf('@libp2p/gossipsub'),
    noise: versionOf('@chainsafe/libp2p-noise'),
    yamux: versionOf('@libp2p/yamux'),
    tcp: versionOf('@libp2p/tcp'),
    cborg: versionOf('cborg')
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
