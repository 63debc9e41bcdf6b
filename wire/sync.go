package wire

import "weft/vocab"

// Catch-up messages. Two replicas (two daemons, or a tab and its daemon)
// exchange version vectors for one document, then each streams the other
// what it lacks, in causal order and bounded chunks, and says when it is
// done:
//
//	A → B  hello {doc, version of A}
//	B → A  hello {doc, version of B}   or  fail {reason}   (B lacks the document)
//	both   txns {envelopes}* done      (each direction)
//
// Messages are CBOR [1, kind, doc, version, envelopes, reason, title]; a
// hello's title is the sender's title of the document (a replica that has
// none takes it). A title that fails vocab.CheckTitle is dropped by
// ParseSync: the message still counts, the title is ignored. The exchange is idempotent: an interrupted one runs
// again from the versions both sides have reached.
const (
	syncFormat = 1

	MsgHello = 1
	MsgTxns  = 2
	MsgDone  = 3
	MsgFail  = 4
	// MsgAck (daemon → tab) says which version the daemon has made
	// durable; MsgPresence carries a cursor. Only on the tab's socket.
	MsgAck      = 5
	MsgPresence = 6
	MsgStatus   = 7

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
	if m.Kind < MsgHello || m.Kind > MsgStatus {
		return m, vocab.Reject(vocab.ReasonMalformed, "sync message of kind %d", m.Kind)
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
