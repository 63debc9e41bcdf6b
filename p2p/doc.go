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
//     the connection manager, redialled whenever lost with exponential
//     backoff (0.5 s doubling to 2 s for the first minute of an outage, then
//     to 1 min; ±20% jitter; each dial at most 3 s, so a dial started while
//     the network was cut does not wait out SYN retries after it returns),
//     checked every 30 s and woken by every report of the peer's loss,
//     including one with no report of the connection before it (a
//     connection that closed before the swarm reported it: the keeper's
//     dial succeeded, then the peer went). The swarm's own dial backoff
//     (5 s after a failed dial, growing with each) is cleared before each
//     of these dials: the keeper paces them, and the swarm's would refuse
//     the first dials after a cut for seconds (forgetDialBackoff). In the first minute of an
//     outage, when any peer connects (the network is likely back) a keeper
//     waiting to redial dials at once (at most every 0.5 s), and a dial of
//     it that has run 0.7 s is replaced by a fresh one (a new SYN, not the
//     cut's next retransmission).
//   - Liveness (liveness.go): the bootstrap peers and the peers of joined
//     topics are pinged every second; one silent for 2 s has its
//     connections closed, so a connection stuck in TCP's retransmission
//     backoff after a network cut is replaced by a fresh dial instead of
//     waiting out the backoff (up to minutes). A ping refused at once
//     closes nothing.
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
// messages (GossipSub's behaviour; catch-up repairs). Options.TopicQueue
// sets the receive buffers apart: GossipSub allocates each whole when its
// topic is joined, 8 bytes a message, so a relay joining hundreds of topics
// sets it lower (1024).
//
// Validation of a message from another peer, in order: the sender's score
// (a graylisted peer's RPCs are dropped unread, see Peer scoring),
// signature (GossipSub), size (data over MaxMessageBytes: rejected, reason
// "oversized", without calling the validator), then the caller's
// validate(from, data). An error for which vocab.Ignored holds (a
// duplicate) is GossipSub's Ignore: the message is neither delivered nor
// forwarded, nobody is blamed, and it is counted by reason in
// Node.Ignored. Any other error is a rejection (GossipSub's Reject): not
// delivered, not forwarded, counted by reason (vocab.Reason) in
// Node.Rejected, and charged to the peer that delivered it and to its
// author. What validate returns for an accepted message travels with
// it (GossipSub's ValidatorData) to Topic.Next, so each hop decodes a
// message once. Messages this node authored are never validated (Publish
// sends what the caller made; GossipSub's own check of a local publication
// skips the caller's validator) and never delivered by Next. GossipSub's wire limit is MaxMessageBytes + 64 KiB: data up
// to that size reaches the size check and is counted; a larger RPC is refused
// by GossipSub's reader itself (the stream is reset; not counted).
//
// Subscriptions: once the caller has called SetInterest, GossipSub tracks
// which peers are in which topic only for the topics joined here and those
// the function given to SetInterest wants (a relay wants its hosted
// documents' topics and joins one when a peer announces it: SetInterest's
// wanted callback). Announcements of other topics cost one map lookup and
// one call of want each and are forgotten; unsubscriptions always pass.
// Before SetInterest every topic name of 1..256 bytes is tracked. No count
// drops an RPC whole: a relay's first RPC lists every topic it is in,
// unsplit, so the bound on subscription bytes is the RPC's (MaxMessageBytes
// plus 64 KiB, GossipSub's control-size limit raised to match). A name
// "weft/doc/" and 32 hex digits takes 51 bytes in a hello, so some 83,000
// such topics fit in the default bound; a peer in more (100,000: 5.1 MB) is
// cut off by every receiver, which resets the stream. A peer that announced
// a topic before this node joined or wanted it is learnt when it GRAFTs us
// in that topic (a GRAFT implies the subscription); a peer whose mesh is
// already full does not GRAFT, and is learnt only when it announces again.
//
// # Peer scoring
//
// GossipSub peer scoring is on, with no per-topic parameters (topics are
// per document and come and go). A peer's score is its application score
// plus GossipSub's behaviour penalty. The application score is minus the
// peer's refusal count beyond a grace of 20: the count grows by 1 for each
// gossip message rejected here (charged to the peer that delivered it and,
// when another peer, to its author) and 1 for each Node.Penalize (the
// caller's stream refusals); it halves every 5 minutes and is forgotten
// below 0.1; at most 4,096 peers are counted (when full, the smallest
// count makes room). The grace is there because GossipSub grafts only
// peers whose score is at least 0: without it one refusal would cut an
// honest peer out of every mesh, such as a relay that forwarded a message
// this node's view of the membership does not admit yet. The behaviour
// penalty: each GRAFT while backed off or IWANT left unanswered adds 1,
// the excess over 10 counts squared, decaying 1% a second. Thresholds:
// below -20 no gossip (IHAVE/IWANT) with the peer, below -40 our messages
// are not flood-published to it, below -80 it is graylisted (its RPCs are
// dropped before any work but reading their subscriptions). So a peer that
// sends only invalid messages is graylisted after 101 of them (whether it
// wrote them or forwards them); a graylisted peer is heard again only as
// its count decays, about one RPC per 4 seconds at the graylist threshold,
// is above the gossip threshold after about 7 minutes and back at 0 after
// about 12. Duplicates are
// Ignore and never counted, so an honest peer stays at 0. Peer exchange is
// never followed (AcceptPXThreshold 100: no score is positive; weft does not
// turn PX on). IP colocation is not scored: the resource manager already
// allows at most 8 connections per IPv4 address or IPv6 /56 (loopback
// unlimited), so a penalty would only hit an office behind one NAT or the
// many daemons of a test on 127.0.0.1. Node.PeerScores gives the scores
// (no peer IDs) for the weft_p2p_peer_score histogram, refreshed every 10 s.
//
// Messages GossipSub itself refuses for a forged, missing or unexpected
// signature or author (before any validator) are counted (reason
// "signature") and charged the same way, through a raw tracer; and a peer
// that delivers 20 of them is disconnected and refused every connection,
// both ways, for 10 minutes (a connection gater, ban.go). No honest peer
// delivers one — GossipSub checks signatures before forwarding — while a
// graylisted forger's RPCs would still be read and decoded, as fast as it
// sends them.
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
// Weft's own stream protocols (everything under "/weft/" handled or opened
// through Handle and Open, such as /weft/sync/2.0.0; not the DHT's
// /weft/kad/) have fixed stream limits per protocol: 64 inbound and 64
// outbound at once in all, 8 each way per peer (the replica's catch-up
// opens at most 8 at once, possibly all to one relay). A stream beyond them
// is reset as it is negotiated, before the handler runs; memory stays
// libp2p's per-protocol default.
//
// Circuit relay service (Options.RelayService): at most 1,024 reservations
// (16 per IP address, 64 per ASN), each for an hour; 32 circuits, each for
// 2 minutes and 1 MiB. Reservations and circuits are granted only to peers
// the function given to SetRelayFilter allows (a circuit needs both ends
// allowed); until it is called the relay refuses everyone.
//
// Bounds on input: topic names and protocol IDs at most 256 bytes, gossip
// data and frames at most MaxMessageBytes (itself at most 64 MiB), identity
// file at most 4 KiB, at most 64 distinct rejection reasons and 64 ignore
// reasons counted (more count as "other"), at most 4,096 peers' refusal
// counts. Peers' subscription announcements are kept only for topics
// joined or wanted, never for names over 256 bytes; an RPC, subscriptions
// included, is at most MaxMessageBytes + 64 KiB.
//
// # Logging and shutdown
//
// Everything logs through Options.Logger (GossipSub's own logs under
// component=gossipsub). Close leaves every topic (peers see the
// unsubscribe), stops mDNS, the DHT and the background goroutines, then
// closes the host, releasing its ports; tests check that no goroutine
// outlives it.
package p2p
