package wire

import (
	"weft/vocab"
)

// Catch-up messages. Two replicas (two daemons, or a tab and its daemon)
// exchange version vectors for one document, then each streams the other
// what it lacks, in causal order and bounded chunks, and says when it is
// done:
//
//	A → B  hello {doc, version of A}
//	B → A  hello {doc, version of B}   or  fail {reason}   (B lacks the document)
//	both   txns {envelopes}* done      (each direction)
//
// Messages are CBOR [1, kind, doc, version, envelopes, reason, title,
// topic, mac, chain, roster, revocations, proofs, heads, grant, docKey,
// sealedTitle, covers, checkpoint] (the fields after title are members-only catch-up's, empty
// on a tab's socket); a
// hello's title is the sender's title of the document (a replica that has
// none takes it). A title that fails vocab.CheckTitle is dropped by
// ParseSync: the message still counts, the title is ignored. The exchange is idempotent: an interrupted one runs
// again from the versions both sides have reached.
//
// The editor tab's socket carries these and three kinds of its own: ack
// (a SyncMsg), presence (presence.go) and status (Status). Every message
// on it is a CBOR array that starts [1, kind, …], so Kind tells which
// parse function reads it without decoding anything else.
const (
	syncFormat = 1

	MsgHello = 1
	MsgTxns  = 2
	MsgDone  = 3
	MsgFail  = 4
	// MsgAck (daemon → tab) says which version the daemon has made
	// durable: a SyncMsg with that version. Only on the tab's socket.
	MsgAck = 5
	// MsgPresence (both ways) carries a cursor (ParsePresenceMsg) and
	// MsgStatus (daemon → tab) the peer count and the relay's version
	// (ParseStatus). Not SyncMsgs; only on the tab's socket.
	MsgPresence = 6
	MsgStatus   = 7
	// MsgOpen and MsgProve begin catch-up between replicas of a
	// members-only document, before any hello (docs/members-only.md): the
	// opener names the document by its topic ID and shows it knows the
	// ID (MAC); each side then proves its capability (Chain, whose leaf
	// must be the key its connection is authenticated with) and shares
	// the chains it knows (Roster). An open may carry a pull capability
	// for the responder (Grant, with the document's key in DocKey): how a
	// member hands a relay a document to keep.
	MsgOpen  = 8
	MsgProve = 9
	// MsgCheckpoint carries a members-only document's signed checkpoint
	// (Checkpoint): to a member that cannot read, so it can drop the
	// envelopes it covers; from one, to a member starting from nothing.
	MsgCheckpoint = 10

	// MaxRoster bounds the chains one prove message carries.
	MaxRoster = 1000

	// ChunkEnvelopes and ChunkBytes bound one txns message (see Pack).
	ChunkEnvelopes = 256
	ChunkBytes     = 1 << 20
)

// SyncMsg is one catch-up message.
type SyncMsg struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Kind    uint64
	Doc     []byte
	Version vocab.Version
	Envs    [][]byte
	Reason  string
	Title   string
	// Members-only catch-up (MsgOpen, MsgProve, and the hello's sealed
	// title). Absent (empty) elsewhere; a message that ends before them
	// decodes with them empty.
	Topic       []byte
	MAC         []byte
	Chain       []byte
	Roster      [][]byte
	Revocations [][]byte
	Proofs      [][]byte
	// Heads is, in a members-only hello, the hash of the last header of
	// each agent in Version: equal versions with different heads are a
	// fork that version vectors alone would never show.
	Heads       map[string][]byte
	Grant       []byte
	DocKey      []byte
	SealedTitle []byte
	// Covers is, in a members-only hello, the version the sender's
	// checkpoint covers (none: empty).
	Covers     vocab.Version
	Checkpoint []byte
}

// MarshalSync encodes a message (setting its format version).
func MarshalSync(m SyncMsg) ([]byte, error) {
	m.V = syncFormat
	return encMode.Marshal(m)
}

// ParseSync decodes and checks a message. A message may name no document
// (Doc nil); one that names one names a valid one. A title that fails
// vocab.CheckTitle is dropped (Title becomes empty).
func ParseSync(b []byte) (SyncMsg, error) {
	var m SyncMsg
	if err := decMode.Unmarshal(b, &m); err != nil {
		return m, vocab.Reject(vocab.ReasonMalformed, "sync message: %v", err)
	}
	if m.V != syncFormat {
		return m, vocab.Reject(vocab.ReasonVersion, "sync format version %d (this build reads %d)", m.V, syncFormat)
	}
	if (m.Kind < MsgHello || m.Kind > MsgAck) && m.Kind != MsgOpen && m.Kind != MsgProve && m.Kind != MsgCheckpoint {
		return m, vocab.Reject(vocab.ReasonMalformed, "sync message of kind %d", m.Kind)
	}
	if len(m.Roster) > MaxRoster || len(m.Revocations) > MaxRoster || len(m.Proofs) > MaxRoster {
		return m, vocab.Reject(vocab.ReasonOversized, "sync message with %d chains (at most %d)", len(m.Roster), MaxRoster)
	}
	if m.Doc != nil {
		if _, err := vocab.DocIDFromBytes(m.Doc); err != nil {
			return m, vocab.Reject(vocab.ReasonMalformed, "sync message: %v", err)
		}
	}
	if vocab.CheckTitle(m.Title) != nil {
		m.Title = ""
	}
	return m, nil
}

// Kind reads the format version and the kind that begin every message on
// the tab's socket, [1, kind, …]. Of the rest it only checks that it is
// well-formed CBOR (the other elements are skipped, not decoded, nor
// copied); the parse function of that kind (ParseSync, ParsePresenceMsg,
// ParseStatus) checks the whole message. An unknown version is refused
// with the reason "version", anything that does not start that way or
// names no known kind with "malformed".
func Kind(b []byte) (uint64, error) {
	// A Go array takes the first elements and skips the rest undecoded.
	var head [2]uint64
	if err := decMode.Unmarshal(b, &head); err != nil {
		return 0, vocab.Reject(vocab.ReasonMalformed, "message does not start [version, kind]: %v", err)
	}
	v, k := head[0], head[1]
	if v != syncFormat {
		return 0, vocab.Reject(vocab.ReasonVersion, "sync format version %d (this build reads %d)", v, syncFormat)
	}
	if k < MsgHello || k > MsgStatus {
		return 0, vocab.Reject(vocab.ReasonMalformed, "message of kind %d", k)
	}
	return k, nil
}

// Status (daemon → tab) is what the tab's status line shows: how many
// peers the document has, and the version a relay has acknowledged as
// durable, nil (CBOR null) while no relay has.
//
//	status = [1, 7, peers, relay]
type Status struct {
	_     struct{} `cbor:",toarray"`
	V     uint64
	Kind  uint64
	Peers uint64
	Relay map[string]uint64
}

// MaxStatusBytes bounds an encoded status message: a count and a
// version vector.
const MaxStatusBytes = 1 << 20

// MarshalStatus encodes a status message (setting its version and kind).
func MarshalStatus(s Status) ([]byte, error) {
	s.V, s.Kind = syncFormat, MsgStatus
	return encMode.Marshal(s)
}

// ParseStatus decodes and checks a status message.
func ParseStatus(b []byte) (Status, error) {
	var s Status
	if len(b) > MaxStatusBytes {
		return s, vocab.Reject(vocab.ReasonOversized, "status of %d bytes", len(b))
	}
	if err := decMode.Unmarshal(b, &s); err != nil {
		return s, vocab.Reject(vocab.ReasonMalformed, "status: %v", err)
	}
	if s.V != syncFormat {
		return s, vocab.Reject(vocab.ReasonVersion, "sync format version %d (this build reads %d)", s.V, syncFormat)
	}
	if s.Kind != MsgStatus {
		return s, vocab.Reject(vocab.ReasonMalformed, "status message of kind %d", s.Kind)
	}
	return s, nil
}

// Pack groups envelopes, in order, into the envelope lists of txns
// messages: each group holds at most ChunkEnvelopes envelopes and at most
// ChunkBytes bytes of them, except that an envelope longer than ChunkBytes
// travels alone. Groups share envs' backing array (appending to one does
// not reach the next). No envelopes, no groups.
func Pack(envs [][]byte) [][][]byte {
	var out [][][]byte
	for start := 0; start < len(envs); {
		end, size := start, 0
		for end < len(envs) && end-start < ChunkEnvelopes && (end == start || size+len(envs[end]) <= ChunkBytes) {
			size += len(envs[end])
			end++
		}
		out = append(out, envs[start:end:end])
		start = end
	}
	return out
}
