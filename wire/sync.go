package wire

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
// none takes it). The exchange is idempotent: an interrupted one runs
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

	// MaxTitle bounds a document title in bytes.
	MaxTitle = 1024

	// ChunkEnvelopes and ChunkBytes bound one txns message.
	ChunkEnvelopes = 256
	ChunkBytes     = 1 << 20
)

// SyncMsg is one catch-up message.
type SyncMsg struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Kind    uint64
	Doc     []byte
	Version map[string]uint64
	Envs    [][]byte
	Reason  string
	Title   string
}

// MarshalSync encodes a message (setting its format version).
func MarshalSync(m SyncMsg) ([]byte, error) {
	m.V = syncFormat
	return encMode.Marshal(m)
}

// ParseSync decodes and checks a message.
func ParseSync(b []byte) (SyncMsg, error) {
	var m SyncMsg
	if err := decMode.Unmarshal(b, &m); err != nil {
		return m, Reject("malformed", "sync message: %v", err)
	}
	if m.V != syncFormat {
		return m, Reject("version", "sync format version %d (this build reads %d)", m.V, syncFormat)
	}
	if m.Kind < MsgHello || m.Kind > MsgStatus {
		return m, Reject("malformed", "sync message of kind %d", m.Kind)
	}
	if m.Doc != nil && len(m.Doc) != len(DocID{}) {
		return m, Reject("malformed", "document ID of %d bytes", len(m.Doc))
	}
	if len(m.Title) > MaxTitle {
		return m, Reject("malformed", "title of %d bytes", len(m.Title))
	}
	return m, nil
}
