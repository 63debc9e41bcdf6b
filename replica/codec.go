package replica

import (
	"crypto/sha256"
	"fmt"

	"weft/crdt"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// StoreCodec is the crdt as the store's consistency checks (store.Check,
// store.SpotCheck) see it: a stored transaction's payload is an envelope's
// payload (crdt.EncodeTxn), and a snapshot's is crdt's EncodeSnapshot.
type StoreCodec struct{}

var _ store.Codec = StoreCodec{}

// checkAgent is the agent of the replicas a check rebuilds; it never
// writes.
const checkAgent = "weft-check"

// CheckTxn is the check every received envelope passes (wire's
// Envelope.Open), applied to a stored header and payload.
func (StoreCodec) CheckTxn(h vocab.Header, payload []byte) error {
	e := wire.Envelope{Header: h, Payload: payload}
	_, err := e.Open()
	return err
}

// Rebuild starts a replica from a snapshot payload (nil: empty).
func (StoreCodec) Rebuild(snapshot []byte) (store.Rebuilder, error) {
	var d *crdt.Doc
	var err error
	if snapshot == nil {
		d, err = crdt.New(checkAgent)
	} else {
		d, err = crdt.LoadSnapshot(checkAgent, snapshot)
	}
	if err != nil {
		return nil, err
	}
	return &rebuilder{d: d}, nil
}

type rebuilder struct{ d *crdt.Doc }

func (r *rebuilder) Apply(payload []byte) error {
	t, err := crdt.DecodeTxn(payload)
	if err != nil {
		return err
	}
	if _, err := r.d.Apply(t); err != nil {
		return err
	}
	if n := r.d.Pending(); n > 0 {
		return fmt.Errorf("%d transactions wait for parents that were not applied before them", n)
	}
	return nil
}

func (r *rebuilder) Version() store.Version { return r.d.Version() }

func (r *rebuilder) TextHash() []byte {
	h := sha256.Sum256([]byte(r.d.Text()))
	return h[:]
}
