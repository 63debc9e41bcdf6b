package main

import (
	"crypto/sha256"
	"fmt"
	"sort"

	"weft/crdt"
	"weft/store"
	"weft/vocab"
)

// crdtCodec lets the store's consistency check look inside payloads: a
// stored transaction's payload is exactly crdt.EncodeTxn's bytes, and a
// snapshot's is crdt's EncodeSnapshot.
type crdtCodec struct{}

var _ store.Codec = crdtCodec{}

// checkAgent is the agent of the replicas the check rebuilds; it never
// writes.
const checkAgent = "weft-check"

func (crdtCodec) CheckTxn(h vocab.Header, payload []byte) error {
	t, err := crdt.DecodeTxn(payload)
	if err != nil {
		return err
	}
	got := txnHeader(t)
	if got.Agent != h.Agent || got.Seq != h.Seq || got.Len != h.Len {
		return fmt.Errorf("payload is %q seqs %d+%d, header says %q seqs %d+%d", got.Agent, got.Seq, got.Len, h.Agent, h.Seq, h.Len)
	}
	if !sameIDs(got.Parents, h.Parents) {
		return fmt.Errorf("payload parents %v, header parents %v", got.Parents, h.Parents)
	}
	return nil
}

func (crdtCodec) Rebuild(snapshot []byte) (store.Rebuilder, error) {
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
	return &crdtRebuilder{d: d}, nil
}

type crdtRebuilder struct{ d *crdt.Doc }

func (r *crdtRebuilder) Apply(payload []byte) error {
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

func (r *crdtRebuilder) Version() store.Version {
	v := store.Version{}
	for a, n := range r.d.Version() {
		v[a] = n
	}
	return v
}

func (r *crdtRebuilder) TextHash() []byte {
	h := sha256.Sum256([]byte(r.d.Text()))
	return h[:]
}

// txnHeader is the store header of a crdt transaction.
func txnHeader(t *crdt.Txn) vocab.Header {
	h := vocab.Header{Agent: t.Agent, Seq: t.Seq, Len: uint64(t.Count())}
	for _, p := range t.Parents {
		h.Parents = append(h.Parents, store.ID{Agent: p.Agent, Seq: p.Seq})
	}
	return h
}

// txnRecord encodes a crdt transaction for the store.
func txnRecord(t *crdt.Txn) (store.TxnRecord, error) {
	b, err := crdt.EncodeTxn(t)
	if err != nil {
		return store.TxnRecord{}, err
	}
	return store.TxnRecord{Header: txnHeader(t), Payload: b}, nil
}

func sameIDs(a, b []store.ID) bool {
	if len(a) != len(b) {
		return false
	}
	sa, sb := append([]store.ID(nil), a...), append([]store.ID(nil), b...)
	less := func(s []store.ID) func(i, j int) bool {
		return func(i, j int) bool {
			if s[i].Agent != s[j].Agent {
				return s[i].Agent < s[j].Agent
			}
			return s[i].Seq < s[j].Seq
		}
	}
	sort.Slice(sa, less(sa))
	sort.Slice(sb, less(sb))
	for i := range sa {
		if sa[i] != sb[i] {
			return false
		}
	}
	return true
}
