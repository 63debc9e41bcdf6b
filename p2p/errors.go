package p2p

import (
	"errors"

	"weft/vocab"
)

// Sentinel errors. Every error the package returns wraps one of these (or a
// context error) with %w, adding what exactly was wrong.
var (
	// ErrInvalidOptions: an Options field is missing or out of range.
	ErrInvalidOptions = errors.New("p2p: invalid options")
	// ErrIdentity: the identity file cannot be read, parsed or written.
	ErrIdentity = errors.New("p2p: identity file")
	// ErrClosed: the Node has been closed.
	ErrClosed = errors.New("p2p: node closed")
	// ErrTopicClosed: the Topic has been closed (or its node has).
	ErrTopicClosed = errors.New("p2p: topic closed")
	// ErrAlreadyJoined: Join was called twice for one topic name.
	ErrAlreadyJoined = errors.New("p2p: topic already joined")
	// ErrBadTopic: a topic name is empty or too long.
	ErrBadTopic = errors.New("p2p: bad topic name")
	// ErrTooLarge: a message or frame exceeds Options.MaxMessageBytes.
	// It is a rejection (vocab.ErrRejected) for vocab.ReasonOversized.
	ErrTooLarge = vocab.Rejection(vocab.ReasonOversized, errors.New("p2p: message too large"))
	// ErrBadFrame: a stream frame header is malformed or the frame is cut
	// short. It is a rejection for vocab.ReasonTruncated.
	ErrBadFrame = vocab.Rejection(vocab.ReasonTruncated, errors.New("p2p: malformed frame"))
	// ErrBadPeer: a peer ID or peer multiaddr does not parse.
	ErrBadPeer = errors.New("p2p: bad peer")
	// ErrBadProtocol: a protocol ID is empty or too long.
	ErrBadProtocol = errors.New("p2p: bad protocol id")
	// ErrDHTDisabled: Announce or FindPeers on a node started without DHT.
	ErrDHTDisabled = errors.New("p2p: DHT disabled")
)
