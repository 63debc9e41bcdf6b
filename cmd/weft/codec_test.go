package main

import (
	"context"
	"errors"
	"sync"
	"testing"

	"weft/crdt"
	"weft/internal/trace"
	"weft/store"
)

var paper struct {
	once sync.Once
	txns []*crdt.Txn
	doc  *crdt.Doc
	err  error
}

// paperTxns types the automerge-paper trace with the real crdt, one
// transaction per patch (about 260,000 single-keystroke transactions).
func paperTxns(b *testing.B) ([]*crdt.Txn, *crdt.Doc) {
	paper.once.Do(func() {
		tr, err := trace.Load("../../testdata/traces/sequential/automerge-paper.json.gz")
		if err != nil {
			paper.err = err
			return
		}
		d, _ := crdt.New("author")
		for i := range tr.Txns {
			for p := range tr.PatchesOf(i) {
				t, err := d.Replace(p.Pos, p.Del, p.Ins)
				if err != nil {
					paper.err = err
					return
				}
				paper.txns = append(paper.txns, t)
			}
		}
		if d.Text() != tr.End {
			paper.err = errNotEnd
		}
		paper.doc = d
	})
	if paper.err != nil {
		b.Fatal(paper.err)
	}
	return paper.txns, paper.doc
}

var errNotEnd = errorString("replayed text differs from the trace's end")

type errorString string

func (e errorString) Error() string { return string(e) }

// loadDoc opens doc as a replica does: the snapshot (if any) plus the
// transactions after it. withCRDT false only reads what the store hands
// out (the store's share of an open).
func loadDoc(ctx context.Context, s *store.Store, doc store.DocID, withCRDT bool) (*crdt.Doc, error) {
	var since store.Version
	d, err := crdt.New("reader")
	if err != nil {
		return nil, err
	}
	snap, err := s.Snapshot(ctx, doc)
	switch {
	case err == nil && withCRDT:
		if d, err = crdt.LoadSnapshot("reader", snap.Payload); err != nil {
			return nil, err
		}
		since = snap.Covers
	case err == nil:
		since = snap.Covers
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	return d, s.Stream(ctx, doc, since, func(chunk []store.TxnRecord) error {
		for _, r := range chunk {
			if !withCRDT {
				continue
			}
			t, err := crdt.DecodeTxn(r.Payload)
			if err != nil {
				return err
			}
			if _, err := d.Apply(t); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkOpenPaper opens the automerge-paper document from a badger store,
// without and with a snapshot.
func BenchmarkOpenPaper(b *testing.B) {
	txns, final := paperTxns(b)
	ctx := context.Background()
	s, err := store.Open(b.TempDir(), store.DefaultOptions())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	id := store.NewDocID()
	if err := s.CreateDoc(ctx, id, "paper"); err != nil {
		b.Fatal(err)
	}
	var last *store.Ack
	for _, t := range txns {
		rec, err := txnRecord(t)
		if err != nil {
			b.Fatal(err)
		}
		if last, err = s.Append(ctx, id, store.Batched, rec); err != nil {
			b.Fatal(err)
		}
	}
	if err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	open := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d, err := loadDoc(ctx, s, id, true)
			if err != nil {
				b.Fatal(err)
			}
			if d.Text() != final.Text() {
				b.Fatal("opened text differs")
			}
		}
	}
	b.Run("no-snapshot", open)
	if _, err := s.Compact(ctx, id, final.EncodeSnapshot(), storeVersion(final.Version())); err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot", open)
	// The two parts of the snapshot open: the store's read alone, and the
	// crdt's decode alone.
	b.Run("snapshot-store-read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := loadDoc(ctx, s, id, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	snapBytes := final.EncodeSnapshot()
	b.Run("snapshot-crdt-decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := crdt.LoadSnapshot("reader", snapBytes); err != nil {
				b.Fatal(err)
			}
		}
	})
}
