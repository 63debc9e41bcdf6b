// Package p2p owns weft's libp2p host and moves opaque bytes between peers.
// It never interprets document content: what a valid message is, is decided
// by a function the caller (replica) passes to Join, and the bytes on
// streams are the caller's protocol. It must not import weft/crdt,
// weft/store, weft/replica or weft/ui (internal/archtest checks).
//
// # What a Node runs
//
//   - Transports TCP and QUIC (quic-v1); security Noise and TLS (Noise
//     first: js-libp2p speaks it); multiplexer yamux; identify and ping.
//   - A persisted Ed25519 identity (Options.IdentityFile, mode 0600).
//   - GossipSub (go-libp2p-pubsub, default /meshsub protocol IDs so other
//     implementations interoperate) with StrictSign: every message is signed
//     by its author and unsigned or badly signed ones are dropped.
//   - Kademlia DHT (go-libp2p-kad-dht) with protocol prefix "/weft", so it
//     speaks /weft/kad/1.0.0 and stays apart from the public IPFS DHT. One
//     DHT, not the LAN/WAN "dual" pair: the dual LAN DHT drops loopback
//     addresses and the WAN one private ones, so a weft DHT among daemons on
//     one machine or one LAN would find nothing. Mode "auto server" (serve
//     while reachability is unknown) unless Options.DHTServer forces server.
//   - mDNS on the LAN (service tag Options.MDNSTag, default "weft"); found
//     peers are dialled.
//   - Bootstrap peers (Options.Bootstrap): dialled at start, protected from
//     the connection manager, redialled with exponential backoff (0.5 s
//     doubling to 1 min, ±20% jitter) whenever lost, checked every 30 s.
//   - NAT traversal (Options.NATTraversal): UPnP/NAT-PMP port mapping,
//     AutoNAT v2, hole punching, and AutoRelay through the bootstrap peers.
//     Options.RelayService turns a node into a circuit relay v2 and AutoNAT
//     server declared publicly reachable (the weft relay, on a public
//     address).
//
// # Gossip
//
// One topic per name (replica uses "weft/doc/<docid>"). The message ID is the
// raw 32-byte SHA-256 digest of the message data, as a Go string: identical
// data is one message whoever sends it, on any topic, for the seen-cache
// lifetime (GossipSub's default, 2 minutes) — replica's envelopes name the
// document and the (agent, seq) span, so distinct transactions never collide
// and a re-publish of the same bytes is a no-op. A peer in another
// implementation must use the same function (js-libp2p gossipsub: msgIdFn =
// sha256 of msg.data, bytes as they are) and signing policy StrictSign.
//
// Our own messages are flood-published to every peer subscribed to the topic
// (WithFloodPublish), not only to the mesh: documents have few peers, and a
// message published before the first heartbeat (1 s) has built the mesh is
// then not lost. Messages forwarded by an intermediate peer still follow the
// mesh only, so GossipSub remains lossy; the caller's catch-up protocol is
// what guarantees delivery.
//
// Queues: each peer's outbound queue, the validation queue and each topic's
// receive buffer hold Options.GossipQueue messages (default 16384), so a
// burst of 5,000 messages published back to back arrives complete at a
// subscriber that keeps reading (tested). A queue that overflows drops
// messages (GossipSub's behaviour; catch-up repairs).
//
// Validation of a message from another peer, in order: signature (GossipSub),
// size (data over MaxMessageBytes: rejected, reason "oversized", without
// calling the validator), then the caller's validate(from, data). A rejected
// message is neither delivered nor forwarded, and is counted by reason
// (vocab.Reason) in Node.Rejected. What validate returns for an accepted message travels with
// it (GossipSub's ValidatorData) to Topic.Next, so each hop decodes a
// message once. Messages this node authored are never validated (Publish
// sends what the caller made; GossipSub's own check of a local publication
// skips the caller's validator) and never delivered by Next. GossipSub's wire limit is MaxMessageBytes + 64 KiB: data up
// to that size reaches the size check and is counted; a larger RPC is refused
// by GossipSub's reader itself (the stream is reset; not counted).
//
// # Streams
//
// Handle and Open give request/response streams with length-prefixed frames:
// a uvarint length, then that many bytes, at most MaxMessageBytes (default
// 4 MiB). A longer frame is ErrTooLarge and resets the stream; a frame cut
// short or an over-long varint is ErrBadFrame. A frame's buffer starts at
// 64 KiB and doubles as its bytes arrive, so an announced length costs
// nothing until it is sent. Deadlines come from Stream.SetDeadline. The
// replica builds /weft/sync/2.0.0 on these.
//
// # Limits (desktop daemon defaults)
//
// Connection manager: low 32, high 96, grace 1 minute. A desktop editor
// talks to a handful of collaborators and some DHT neighbours; above 96
// connections the least valuable unprotected ones are closed down to 32.
// Bootstrap peers are protected; GossipSub tags its mesh peers so they are
// trimmed last.
//
// Resource manager: libp2p's default scaling table plus its service limits
// (identify, ping, relay, AutoNAT, hole punching), scaled to
// Options.ResourceMemory = 256 MiB and Options.ResourceFDs = 512. System
// scope with those defaults: 160 connections (80 inbound, 160 outbound),
// 2560 streams, 384 MiB of reservable memory, 512 file descriptors; transient,
// per-peer, per-protocol and per-service limits scale from the same table.
// The connection limit stays above ConnHigh (New refuses ConnHigh at or over
// it) so the connection manager trims before the resource manager refuses.
// A relay serving many peers raises ResourceMemory/ResourceFDs and the
// watermarks.
//
// Bounds on input: topic names and protocol IDs at most 256 bytes, gossip
// data and frames at most MaxMessageBytes (itself at most 64 MiB), identity
// file at most 4 KiB, at most 64 distinct rejection reasons counted (more
// count as "other"). Peers' subscription announcements for names over 256
// bytes are ignored, and an RPC announcing more than 1024 is dropped.
//
// # Logging and shutdown
//
// Everything logs through Options.Logger (GossipSub's own logs under
// component=gossipsub). Close leaves every topic (peers see the
// unsubscribe), stops mDNS, the DHT and the background goroutines, then
// closes the host, releasing its ports; tests check that no goroutine
// outlives it.
package p2p
