package replica

import (
	"context"
	"errors"
	"sync"
	"testing"

	"weft/crdt"
	"weft/internal/trace"
	"weft/store"
	"weft/wire"
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
		tr, err := trace.Load("../testdata/traces/sequential/automerge-paper.json.gz")
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

var errNotEnd = errors.New("replayed text differs from the trace's end")

// readDoc reads what a replica opens a document from: the snapshot (nil
// when there is none) and the transactions after it.
func readDoc(ctx context.Context, s *store.Store, id store.DocID, txn func(store.TxnRecord) error) (*store.Snapshot, error) {
	snap, err := s.Snapshot(ctx, id)
	var since store.Version
	switch {
	case err == nil:
		since = snap.Covers
	case errors.Is(err, store.ErrNotFound):
		snap = nil
	default:
		return nil, err
	}
	return snap, s.Stream(ctx, id, since, func(chunk []store.TxnRecord) error {
		for _, r := range chunk {
			if err := txn(r); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkOpenPaper opens the automerge-paper document from a badger store
// without and with a snapshot, the way the replica loads it (load: Snapshot,
// then Stream of the transactions after it).
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
		env, _, err := wire.Seal(id, t)
		if err != nil {
			b.Fatal(err)
		}
		if last, err = s.Append(ctx, id, store.Batched, record(&env)); err != nil {
			b.Fatal(err)
		}
	}
	if err := last.Wait(ctx); err != nil {
		b.Fatal(err)
	}
	want := final.Text()
	open := func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			d, _, _, err := load(ctx, s, "reader", id)
			if err != nil {
				b.Fatal(err)
			}
			if d.Text() != want {
				b.Fatal("opened text differs")
			}
		}
	}
	b.Run("no-snapshot", open)
	covers := store.Version{}
	for a, n := range final.Version() {
		covers[a] = n
	}
	if _, err := s.Compact(ctx, id, final.EncodeSnapshot(), covers); err != nil {
		b.Fatal(err)
	}
	b.Run("snapshot", open)
	// The two parts of the snapshot open: the store's read alone, and the
	// crdt's decode alone.
	b.Run("snapshot-store-read", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			snap, err := readDoc(ctx, s, id, func(store.TxnRecord) error { return nil })
			if err != nil || snap == nil {
				b.Fatal(snap, err)
			}
		}
	})
	snapBytes := final.EncodeSnapshot()
	// The open reads the head (text, version, title) alone; the history
	// is read when first needed (crdt.OpenSnapshot). The decode reads it
	// all (crdt.LoadSnapshot): what the first edit or catch-up adds.
	b.Run("snapshot-crdt-open", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := crdt.OpenSnapshot("reader", snapBytes); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("snapshot-crdt-decode", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := crdt.LoadSnapshot("reader", snapBytes); err != nil {
				b.Fatal(err)
			}
		}
	})
}
