package main

import (
	"context"
	"iter"
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

// loadDoc is how a replica opens a document: the snapshot (if any) plus the
// transactions after it.
func loadDoc(snap *store.Snapshot, txns iter.Seq2[store.TxnRecord, error]) (any, int64, error) {
	var d *crdt.Doc
	var err error
	if snap != nil {
		d, err = crdt.LoadSnapshot("reader", snap.Payload)
	} else {
		d, err = crdt.New("reader")
	}
	if err != nil {
		return nil, 0, err
	}
	for r, err := range txns {
		if err != nil {
			return nil, 0, err
		}
		t, err := crdt.DecodeTxn(r.Payload)
		if err != nil {
			return nil, 0, err
		}
		if _, err := d.Apply(t); err != nil {
			return nil, 0, err
		}
	}
	return d, int64(d.Len()), nil
}

// BenchmarkOpenPaper opens the automerge-paper document from a badger store
// (cache disabled), without and with a snapshot.
func BenchmarkOpenPaper(b *testing.B) {
	txns, final := paperTxns(b)
	ctx := context.Background()
	o := store.DefaultOptions()
	o.CacheBytes = 0
	s, err := store.Open(b.TempDir(), o)
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
			v, err := s.Load(ctx, id, loadDoc)
			if err != nil {
				b.Fatal(err)
			}
			if v.(*crdt.Doc).Text() != final.Text() {
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
			if _, err := s.Load(ctx, id, func(snap *store.Snapshot, txns iter.Seq2[store.TxnRecord, error]) (any, int64, error) {
				for _, err := range txns {
					if err != nil {
						return nil, 0, err
					}
				}
				return len(snap.Payload), 1, nil
			}); err != nil {
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
