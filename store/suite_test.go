package store

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"weft/vocab"
)

func TestSuite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		ctx := context.Background()
		t.Run("CreateAndMeta", func(t *testing.T) {
			s := open(t, testOpts())
			id := mustCreate(t, s)
			if err := s.CreateDoc(ctx, id, "again"); !errors.Is(err, ErrExists) {
				t.Fatalf("second create: %v, want ErrExists", err)
			}
			if err := s.SetTitle(ctx, id, "Paper"); err != nil {
				t.Fatal(err)
			}
			if err := s.Touch(ctx, id); err != nil {
				t.Fatal(err)
			}
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			m, err := s.Meta(ctx, id)
			if err != nil || m.Title != "Paper" || m.Created.IsZero() || m.LastOpened.IsZero() {
				t.Fatalf("meta %+v %v", m, err)
			}
			if _, err := s.Meta(ctx, NewDocID()); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown doc: %v", err)
			}
			docs, err := s.Docs(ctx)
			if err != nil || len(docs) != 1 || docs[0] != id {
				t.Fatalf("docs %v %v", docs, err)
			}
			if err := s.SetTitle(ctx, id, strings.Repeat("x", vocab.MaxTitle+1)); !errors.Is(err, ErrInvalid) {
				t.Fatalf("long title: %v", err)
			}
		})
		t.Run("AppendValidation", func(t *testing.T) {
			s := open(t, testOpts())
			id := mustCreate(t, s)
			mustAppend(t, s, id, Immediate, txn("a", 0, "hel"))
			cases := []struct {
				name string
				t    TxnRecord
				want error
			}{
				{"gap", txn("a", 4, "x", ID{Agent: "a", Seq: 2}), ErrGap},
				{"overlap", txn("a", 2, "xy", ID{Agent: "a", Seq: 1}), ErrOverlap},
				{"missing parent", txn("b", 0, "x", ID{Agent: "a", Seq: 3}), ErrMissingParent},
				{"unknown agent parent", txn("b", 0, "x", ID{Agent: "c", Seq: 0}), ErrMissingParent},
				{"empty agent", txn("", 0, "x"), ErrInvalid},
				{"long agent", txn(strings.Repeat("a", 65), 0, "x"), ErrInvalid},
				{"zero length", TxnRecord{Header: vocab.Header{Agent: "b"}, Payload: []byte{1}}, ErrInvalid},
				{"self parent", txn("a", 3, "x", ID{Agent: "a", Seq: 3}), ErrInvalid},
				{"duplicate parent", txn("b", 0, "x", ID{Agent: "a", Seq: 1}, ID{Agent: "a", Seq: 1}), ErrInvalid},
				{"empty payload", TxnRecord{Header: vocab.Header{Agent: "b", Len: 1}}, ErrInvalid},
				{"seq overflow", TxnRecord{Header: vocab.Header{Agent: "b", Seq: vocab.MaxSeq, Len: 2}, Payload: []byte{1}}, ErrInvalid},
			}
			for _, c := range cases {
				if _, err := s.Append(ctx, id, Immediate, c.t); !errors.Is(err, c.want) {
					t.Errorf("%s: got %v, want %v", c.name, err, c.want)
				}
			}
			// A failing call writes nothing, even its valid part.
			if _, err := s.Append(ctx, id, Immediate, txn("b", 0, "ok", ID{Agent: "a", Seq: 2}), txn("b", 5, "gap")); !errors.Is(err, ErrGap) {
				t.Fatalf("mixed call: %v", err)
			}
			v, _ := s.Version(ctx, id)
			if v["b"] != 0 || v["a"] != 3 {
				t.Fatalf("version after failed calls %v", v)
			}
			// Re-storing what is stored is a no-op.
			mustAppend(t, s, id, Batched, txn("a", 0, "hel"))
			if got := streamAll(t, s, id, nil); len(got) != 1 {
				t.Fatalf("duplicate stored twice: %s", spanList(got))
			}
			if _, err := s.Append(ctx, NewDocID(), Immediate, txn("z", 0, "x")); !errors.Is(err, ErrNotFound) {
				t.Fatalf("unknown doc: %v", err)
			}
		})
		t.Run("StreamCausalChunks", func(t *testing.T) {
			o := testOpts()
			o.StreamChunkTxns = 3
			s := open(t, o)
			id := mustCreate(t, s)
			// Two agents interleaved, each txn depending on the other's last.
			want := []TxnRecord{
				txn("b", 0, "x"),
				txn("a/\x00%", 0, "yy", ID{Agent: "b", Seq: 0}),
				txn("b", 1, "z", ID{Agent: "a/\x00%", Seq: 1}),
				txn("a/\x00%", 2, "w", ID{Agent: "b", Seq: 1}),
				txn("..", 0, "q", ID{Agent: "a/\x00%", Seq: 2}, ID{Agent: "b", Seq: 1}),
			}
			for _, tr := range want {
				mustAppend(t, s, id, Batched, tr)
			}
			var chunks int
			var got []TxnRecord
			if err := s.Stream(ctx, id, nil, func(c []TxnRecord) error {
				if len(c) > 3 {
					t.Errorf("chunk of %d > 3", len(c))
				}
				chunks++
				got = append(got, c...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if spanList(got) != spanList(want) || chunks != 2 {
				t.Fatalf("stream %s in %d chunks, want %s in 2", spanList(got), chunks, spanList(want))
			}
			for i := range got {
				if string(got[i].Payload) != string(want[i].Payload) || len(got[i].Parents) != len(want[i].Parents) {
					t.Fatalf("txn %d differs", i)
				}
			}
			since := streamAll(t, s, id, Version{"b": 2, "a/\x00%": 2})
			if spanList(since) != spanList(want[3:]) {
				t.Fatalf("since: %s", spanList(since))
			}
			tr, err := s.Txn(ctx, id, "a/\x00%", 0)
			if err != nil || string(tr.Payload) != string(want[1].Payload) {
				t.Fatalf("Txn: %v", err)
			}
			stop := errors.New("stop")
			if err := s.Stream(ctx, id, nil, func([]TxnRecord) error { return stop }); !errors.Is(err, stop) {
				t.Fatalf("callback error not returned: %v", err)
			}
		})
		t.Run("BatchedAckAndClose", func(t *testing.T) {
			o := testOpts()
			o.MaxDelay = time.Minute // only size, Flush or Close commit
			o.MaxBatchTxns = 1 << 20
			s := open(t, o)
			id := mustCreate(t, s)
			ack, err := s.Append(ctx, id, Batched, linear("a", 0, 10)...)
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-ack.Done():
				t.Fatal("batched write acknowledged before any flush")
			default:
			}
			// An Immediate write flushes everything queued before it.
			mustAppend(t, s, id, Immediate, txn("b", 0, "x"))
			if err := ack.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			ack2, err := s.Append(ctx, id, Batched, linear("a", 10, 5)...)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if err := ack2.Wait(ctx); err != nil {
				t.Fatalf("Close did not flush: %v", err)
			}
			if _, err := s.Append(ctx, id, Immediate, txn("b", 1, "x")); !errors.Is(err, ErrClosed) {
				t.Fatalf("append after close: %v", err)
			}
		})
		t.Run("BatchedUnderStillClock", func(t *testing.T) {
			// An injected clock that stands still must not hold a batch
			// forever: MaxDelay is also measured by the writer's timer.
			o := testOpts()
			o.Now = func() time.Time { return time.Unix(1750000000, 0) }
			s := open(t, o)
			id := mustCreate(t, s)
			ack, err := s.Append(ctx, id, Batched, linear("a", 0, 3)...)
			if err != nil {
				t.Fatal(err)
			}
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := ack.Wait(wctx); err != nil {
				t.Fatalf("batched write under a still clock: %v", err)
			}
		})
		t.Run("ConcurrentWriters", func(t *testing.T) {
			s := open(t, testOpts())
			id := mustCreate(t, s)
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				agent := string(rune('a' + w))
				p := Policy(w % 2)
				wg.Add(1)
				go func() {
					defer wg.Done()
					for _, tr := range linear(agent, 0, 50) {
						if err := appendDurable(ctx, s, id, p, tr); err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			got := streamAll(t, s, id, nil)
			if len(got) != 200 {
				t.Fatalf("%d txns stored, want 200", len(got))
			}
			res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}})
			if err != nil || res.Problems != 0 {
				t.Fatalf("check after concurrent writes: %+v %v", res, err)
			}
		})
		t.Run("Metrics", func(t *testing.T) {
			m := &Counters{}
			o := testOpts()
			o.Metrics = m
			s := open(t, o)
			id := mustCreate(t, s)
			mustAppend(t, s, id, Immediate, linear("a", 0, 5)...)
			mustAppend(t, s, id, Batched, txn("a", 5, "x", ID{Agent: "a", Seq: 4}))
			if text, _, err := loadText(ctx, s, id); err != nil || text != "abcdex" {
				t.Fatalf("load %q %v", text, err)
			}
			if hot := m.Hot(1); len(hot) != 1 || hot[0].Doc != id || hot[0].Writes != 6 || hot[0].Reads != 2 {
				t.Fatalf("hot %+v, want 6 writes and 2 reads (snapshot, stream)", hot)
			}
			if m.Flushes.Load() == 0 || m.MeanBatch() <= 0 {
				t.Fatal("no flush metrics")
			}
		})
		t.Run("CompactionAndLoad", func(t *testing.T) {
			s := open(t, testOpts())
			id := mustCreate(t, s)
			all := append(linear("a", 0, 20), txn("b", 0, "XY", ID{Agent: "a", Seq: 19}))
			mustAppend(t, s, id, Immediate, all...)
			fd := fakeApply(t, all[:15])
			if _, err := s.Compact(ctx, id, fd.Snapshot(), Version{"a": 30}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("covering unstored seqs: %v", err)
			}
			// A stream holds compaction off until it returns.
			inStream := make(chan struct{})
			release := make(chan struct{})
			streamDone := make(chan error, 1)
			go func() {
				first := true
				streamDone <- s.Stream(ctx, id, nil, func([]TxnRecord) error {
					if first {
						first = false
						close(inStream)
						<-release
					}
					return nil
				})
			}()
			<-inStream
			cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			_, err := s.Compact(cctx, id, fd.Snapshot(), fd.Version())
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("compaction during a stream: %v, want it to wait", err)
			}
			close(release)
			if err := <-streamDone; err != nil {
				t.Fatal(err)
			}
			n, err := s.Compact(ctx, id, fd.Snapshot(), fd.Version())
			if err != nil || n != 15 {
				t.Fatalf("compact dropped %d, %v", n, err)
			}
			if rest := streamAll(t, s, id, nil); spanList(rest) != spanList(all[15:]) {
				t.Fatalf("after compaction the log holds %s", spanList(rest))
			}
			if _, err := s.Compact(ctx, id, fd.Snapshot(), Version{"a": 10}); !errors.Is(err, ErrInvalid) {
				t.Fatalf("snapshot covering less than the stored one: %v", err)
			}
			text, _, err := loadText(ctx, s, id)
			full := fakeApply(t, all)
			if err != nil || text != full.Text() {
				t.Fatalf("load after compaction: %q %v, want %q", text, err, full.Text())
			}
			res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}})
			if err != nil || res.Problems != 0 {
				t.Fatalf("check after compaction: %+v %v", res, err)
			}
		})
		t.Run("FetchList", func(t *testing.T) {
			s := open(t, testOpts())
			id := mustCreate(t, s)
			op, _ := fetchOp(id, []Span{{Agent: "a", Seq: 0, Len: 10}, {Agent: "b", Seq: 3, Len: 2}})
			if err := s.submit(ctx, &group{ops: []kvOp{op}}, true); err != nil {
				t.Fatal(err)
			}
			mustAppend(t, s, id, Immediate, linear("a", 0, 4)...)
			left, err := s.ResolveMissing(ctx, id)
			if err != nil || len(left) != 2 || left[0] != (Span{Agent: "a", Seq: 4, Len: 6}) || left[1] != (Span{Agent: "b", Seq: 3, Len: 2}) {
				t.Fatalf("left %v %v", left, err)
			}
			got, _ := s.Missing(ctx, id)
			if len(got) != 2 {
				t.Fatalf("stored list %v", got)
			}
		})
	})
}

func TestReopenKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s := mustOpen(t, dir)
	id := mustCreate(t, s)
	mustAppend(t, s, id, Immediate, linear("a", 0, 30)...)
	if _, err := s.Append(ctx, id, Batched, linear("a", 30, 30)...); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, dir)
	defer s.Close()
	if got := streamAll(t, s, id, nil); len(got) != 60 {
		t.Fatalf("%d txns after reopen", len(got))
	}
	v, _ := s.Version(ctx, id)
	if v["a"] != 60 {
		t.Fatalf("version %v", v)
	}
	mustAppend(t, s, id, Immediate, txn("a", 60, "z", ID{Agent: "a", Seq: 59}))
	// The arrival log continues after the old entries (not over them).
	if got := streamAll(t, s, id, nil); len(got) != 61 || got[60].Seq != 60 {
		t.Fatalf("after reopen and append: %d txns", len(got))
	}
}

func TestLockNamesHolder(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	_, err := Open(dir, testOpts())
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "process ") {
		t.Fatalf("second open: %v", err)
	}
	s.Close()
	s, err = Open(dir, testOpts())
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	s.Close()
}

func TestOptionsValidate(t *testing.T) {
	for _, mut := range []func(*Options){
		func(o *Options) { o.MaxDelay = -1 },
		func(o *Options) { o.MaxBatchTxns = 0 },
		func(o *Options) { o.MaxBatchBytes = 8 << 20 },
		func(o *Options) { o.StreamChunkTxns = 0 },
		func(o *Options) { o.MemTableBytes = 8 << 20 }, // a 1 MiB batch would not fit
	} {
		o := DefaultOptions()
		mut(&o)
		if _, err := Open(t.TempDir(), o); !errors.Is(err, ErrInvalid) {
			t.Errorf("bad options accepted: %v", err)
		}
	}
}
