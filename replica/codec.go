package replica

import (
	"crypto/sha256"
	"fmt"

	"slices"

	"weft/crdt"
	"weft/member"
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
	if k, err := member.Kind(payload); err == nil && k == member.KindEnvelope {
		// A members-only document's: the signed envelope as its author
		// wrote it, filed under its own header.
		e, err := member.ParseEnvelope(payload, vocab.DocID{})
		if err != nil {
			return err
		}
		if g := &e.Header.Header; g.Agent != h.Agent || g.Seq != h.Seq || g.Len != h.Len || !slices.Equal(g.Parents, h.Parents) {
			return vocab.Reject(vocab.ReasonHeaderMismatch, "filed as %s, signed as %s", h.Span(), g.Span())
		}
		return e.Header.Verify()
	}
	e := wire.Envelope{Header: h, Payload: payload}
	_, err := e.Open()
	return err
}

// Rebuild starts a replica from a snapshot payload (nil: empty).
func (StoreCodec) Rebuild(snapshot []byte) (store.Rebuilder, error) {
	var d *crdt.Doc
	var err error
	if snapshot != nil && member.IsCheckpoint(snapshot) {
		// A members-only document's checkpoint: its sealed state cannot be
		// opened here; the check follows the headers from its heads.
		c, _, err := member.ParseCheckpoint(snapshot, vocab.DocID{})
		if err != nil {
			return nil, err
		}
		hl := newHlog()
		for _, h := range c.Heads {
			hl.version[h.Agent] = h.Span().End()
			hl.heads[h.Agent] = h.Hash()
			hl.last[h.Agent] = h
		}
		if d, err = crdt.New(checkAgent); err != nil {
			return nil, err
		}
		return &rebuilder{d: d, hl: hl, signed: true}, nil
	}
	if snapshot == nil {
		d, err = crdt.New(checkAgent)
	} else {
		d, err = crdt.LoadSnapshot(checkAgent, snapshot)
	}
	if err != nil {
		return nil, err
	}
	return &rebuilder{d: d, hl: newHlog()}, nil
}

// rebuilder replays a document for the store's checks. A members-only
// document's envelopes cannot be opened without its keys: they are
// checked as a history of headers instead (hash chains, causal order).
type rebuilder struct {
	d      *crdt.Doc
	hl     *hlog
	signed bool
}

func (r *rebuilder) Apply(payload []byte) error {
	if k, err := member.Kind(payload); err == nil && k == member.KindEnvelope {
		e, err := member.ParseEnvelope(payload, vocab.DocID{})
		if err != nil {
			return err
		}
		v, err := r.hl.check(e)
		if err != nil {
			return err
		}
		if v != vReady {
			return fmt.Errorf("transaction %s is not next in the history", e.Header.Span())
		}
		r.hl.commit(e)
		r.signed = true
		return nil
	}
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

func (r *rebuilder) Version() store.Version {
	if r.signed {
		return store.Version(r.hl.version.Clone())
	}
	return r.d.Version()
}

func (r *rebuilder) TextHash() []byte {
	h := sha256.Sum256([]byte(r.d.Text()))
	return h[:]
}
