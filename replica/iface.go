package replica

import (
	"context"
	"crypto/ed25519"
	"time"

	"weft/api"
	"weft/store"
)

// Transport is what a replica needs of the network: gossip topics,
// request/response streams, peer events and discovery. The p2p package
// provides it (adapted in cmd/weft); tests use an in-memory network.
// Everything it carries is opaque bytes.
type Transport interface {
	// ID is this node's peer ID.
	ID() string
	// Addrs are this node's multiaddrs, including /p2p/<id>.
	Addrs() []string
	// Join subscribes to a gossip topic. validate runs on every message
	// from another peer before it is delivered or forwarded: an error
	// rejects it, and the value it returns is delivered with the message
	// (Message.Value), so the bytes are decoded once per hop.
	Join(topic string, validate func(from string, data []byte) (any, error)) (Topic, error)
	// Handle serves a stream protocol.
	Handle(proto string, h func(peer string, s Stream))
	// PeerKey returns the Ed25519 key that peer's ID names (the key its
	// connection was authenticated with).
	PeerKey(peer string) (ed25519.PublicKey, error)
	// Connect dials a peer at a multiaddr ending /p2p/<peer ID>.
	Connect(ctx context.Context, addr string) error
	// Open opens a stream to peer.
	Open(ctx context.Context, peer, proto string) (Stream, error)
	// Peers lists connected peers.
	Peers() []api.PeerInfo
	// Notify calls f (which must not block) when a peer connects or
	// disconnects.
	Notify(f func(peer string, connected bool))
	// Announce advertises that this node has topic; FindPeers looks for
	// others that do and connects to them, returning their IDs.
	Announce(ctx context.Context, topic string) error
	FindPeers(ctx context.Context, topic string, max int) ([]string, error)
	// Want says which topics, besides those joined, the transport tracks
	// peers' subscriptions to (a relay's hosted documents, which it joins
	// only while someone is there): want(topic) must be fast and safe for
	// concurrent calls. wanted(topic) is called (it must not block) when
	// a peer announces a wanted topic this node has not joined.
	// Subscriptions to any other topic are not tracked. Until Want is
	// called, only joined topics are.
	Want(want func(topic string) bool, wanted func(topic string))
	// Penalize lowers peer's score for input refused on a stream (gossip
	// refusals are counted by the transport itself); reason is a
	// vocab.Reason* label.
	Penalize(peer, reason string)
}

// Topic is a joined gossip topic.
type Topic interface {
	Publish(ctx context.Context, data []byte) error
	// Next returns the next message from another peer.
	Next(ctx context.Context) (Message, error)
	// Peers lists the peers known to be in the topic.
	Peers() []string
	// WatchPeers calls f (which must not block) whenever a peer joins or
	// leaves the topic, until the topic is closed.
	WatchPeers(f func()) error
	Close() error
}

// Message is a gossip message from another peer.
type Message struct {
	From  string // the author's peer ID
	Data  []byte
	Value any // what the topic's validator returned for Data
}

// Stream is a bidirectional stream of length-prefixed messages.
type Stream interface {
	ReadMsg() ([]byte, error) // io.EOF at a clean end
	WriteMsg([]byte) error
	CloseWrite() error
	Close() error
	Reset() error
	SetDeadline(time.Time) error
	Peer() string
}

// Store is what a replica needs of durable storage; *store.Store provides it.
type Store interface {
	CreateDoc(ctx context.Context, doc store.DocID, title string) error
	CreateDocWith(ctx context.Context, doc store.DocID, title string, m *store.Members) error
	SetMembers(ctx context.Context, doc store.DocID, m store.Members) error
	GetMembers(ctx context.Context, doc store.DocID) (store.Members, error)
	Txn(ctx context.Context, doc store.DocID, agent string, seq uint64) (store.TxnRecord, error)
	SetTitle(ctx context.Context, doc store.DocID, title string) error
	Meta(ctx context.Context, doc store.DocID) (store.Meta, error)
	Docs(ctx context.Context) ([]store.DocID, error)
	Touch(ctx context.Context, doc store.DocID) error
	Append(ctx context.Context, doc store.DocID, p store.Policy, txns ...store.TxnRecord) (*store.Ack, error)
	Snapshot(ctx context.Context, doc store.DocID) (*store.Snapshot, error)
	Stream(ctx context.Context, doc store.DocID, since store.Version, fn func(chunk []store.TxnRecord) error) error
	Compact(ctx context.Context, doc store.DocID, payload []byte, covers store.Version) (int, error)
	PutSnapshot(ctx context.Context, doc store.DocID, payload []byte, covers store.Version) error
	InstallSnapshot(ctx context.Context, doc store.DocID, payload []byte, covers store.Version) error
	Missing(ctx context.Context, doc store.DocID) ([]store.Span, error)
	ResolveMissing(ctx context.Context, doc store.DocID) ([]store.Span, error)
	Refill(ctx context.Context, doc store.DocID, txns ...store.TxnRecord) (int, error)
	DeleteDoc(ctx context.Context, doc store.DocID) error
}

var _ Store = (*store.Store)(nil)

// flusher is a Store that batches writes (*store.Store does): Flush writes
// what it has queued.
type flusher interface {
	Flush(ctx context.Context) error
}

var _ flusher = (*store.Store)(nil)

// flushStore writes what st has queued, if it queues anything: before what
// is read from it must include every transaction applied (catch-up) or what
// is written must follow them (checkpoint, compaction).
func flushStore(ctx context.Context, st Store) error {
	if f, ok := st.(flusher); ok {
		return f.Flush(ctx)
	}
	return nil
}
