package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"

	ds "github.com/ipfs/go-datastore"
	"github.com/ipfs/go-datastore/failstore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
)

// twoAgents returns n transactions of "a" and n of "b", alternating, b's
// first depending on a's first: a compaction covering only a leaves b's
// transactions interleaved with dropped ones.
func twoAgents(n uint64) []TxnRecord {
	as, bs := linear("a", 0, n), linear("b", 0, n)
	bs[0] = txn("b", 0, "a", ID{Agent: "a", Seq: 0})
	out := make([]TxnRecord, 0, 2*n)
	for i := range as {
		out = append(out, as[i], bs[i])
	}
	return out
}

func fullText(t testing.TB, txns []TxnRecord) string {
	t.Helper()
	return fakeApply(t, txns).Text()
}

// checkCausal fails unless got is a causal order holding each transaction
// of want that base (a snapshot's version) does not cover exactly once,
// and nothing else but covered ones (a log may still list what its
// snapshot covers, until compaction drops it).
func checkCausal(t testing.TB, got, want []TxnRecord, base Version) {
	t.Helper()
	have := base.Clone()
	if have == nil {
		have = Version{}
	}
	seen := map[ID]bool{}
	uncovered := 0
	for _, tr := range got {
		id := ID{Agent: tr.Agent, Seq: tr.Seq}
		if seen[id] {
			t.Fatalf("stream %s: %s twice", spanList(got), tr.Span())
		}
		seen[id] = true
		if base.ContainsSpan(tr.Span()) {
			continue
		}
		uncovered++
		if tr.Seq != have[tr.Agent] {
			t.Fatalf("stream %s: %s out of its agent's order", spanList(got), tr.Span())
		}
		for _, p := range tr.Parents {
			if p.Seq >= have[p.Agent] {
				t.Fatalf("stream %s: %s before its parent", spanList(got), tr.Span())
			}
		}
		have[tr.Agent] = tr.Seq + tr.Len
	}
	n := 0
	for _, tr := range want {
		if base.ContainsSpan(tr.Span()) {
			continue
		}
		n++
		if !seen[ID{Agent: tr.Agent, Seq: tr.Seq}] {
			t.Fatalf("stream %s lacks %s", spanList(got), tr.Span())
		}
	}
	if n != uncovered {
		t.Fatalf("stream %s: %d uncovered transactions, want %d", spanList(got), uncovered, n)
	}
}

func logState(t testing.TB, s *Store, doc DocID) logEndRec {
	t.Helper()
	raw, err := get(context.Background(), s.kv.d, logEndKey(doc))
	if err != nil {
		t.Fatal(err)
	}
	var le logEndRec
	if err := decodeRecord(recLogEnd, raw, &le); err != nil {
		t.Fatal(err)
	}
	return le
}

func countKeys(t testing.TB, s *Store, prefix string) int {
	t.Helper()
	n := 0
	if err := each(context.Background(), s.kv.d, dsq.Query{Prefix: prefix, KeysOnly: true}, func(dsq.Entry) error {
		n++
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestCompactEpochs(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		s := open(t, testOpts())
		id := mustCreate(t, s)
		all := twoAgents(20)
		mustAppend(t, s, id, Immediate, all...)
		// Cover a:0..9 only: b's transactions survive between dropped ones.
		var covered []TxnRecord
		for _, tr := range all {
			if tr.Agent == "a" && tr.Seq < 10 {
				covered = append(covered, tr)
			}
		}
		snap, v := fakeSnapshot(t, covered)
		n, err := s.Compact(ctx, id, snap, v)
		if err != nil || n != 10 {
			t.Fatalf("compact dropped %d: %v", n, err)
		}
		if le := logState(t, s, id); le.Epoch != 1 || le.Dirty || le.Next != 40 {
			t.Fatalf("log state after compaction %+v", le)
		}
		checkLayout(t, s)
		if got := countKeys(t, s, epochPrefix(id, 1)); got != 30 {
			t.Fatalf("epoch 1 holds %d entries, want 30", got)
		}
		if got := countKeys(t, s, txnPrefix(id)); got != 30 {
			t.Fatalf("%d transaction records left, want 30", got)
		}
		got := streamAll(t, s, id, nil)
		checkCausal(t, got, all, v)
		// Same order as stored: the survivors kept their counters.
		var want []TxnRecord
		for _, tr := range all {
			if !v.ContainsSpan(tr.Span()) {
				want = append(want, tr)
			}
		}
		if spanList(got) != spanList(want) {
			t.Fatalf("stream %s, want %s", spanList(got), spanList(want))
		}
		// Appends continue in the new epoch.
		more := txn("a", 20, "z", ID{Agent: "a", Seq: 19}, ID{Agent: "b", Seq: 19})
		mustAppend(t, s, id, Batched, more)
		all = append(all, more)
		if text, _, err := loadText(ctx, s, id); err != nil || text != fullText(t, all) {
			t.Fatalf("opened %q %v, want %q", text, err, fullText(t, all))
		}
		// A second compaction, covering everything, moves to epoch 2.
		if n := compactTo(t, s, id, all); n != 31 {
			t.Fatalf("second compact dropped %d", n)
		}
		if le := logState(t, s, id); le.Epoch != 2 || le.Dirty || le.Next != 41 {
			t.Fatalf("log state after second compaction %+v", le)
		}
		checkLayout(t, s)
		if got := streamAll(t, s, id, nil); len(got) != 0 {
			t.Fatalf("stream after full compaction: %s", spanList(got))
		}
		if res, ps := check(t, s, false); res.Problems != 0 || res.Leftovers != 0 {
			t.Fatalf("check: %+v %v", res, ps)
		}
	})
}

// TestCompactWhileAppending compacts repeatedly while two writers append
// (one Immediate, one Batched, each sometimes depending on the other):
// nothing appended is lost, streams stay causal, Check stays clean.
func TestCompactWhileAppending(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		s := open(t, testOpts())
		id := mustCreate(t, s)
		var mu sync.Mutex
		var all []TxnRecord
		stop := make(chan struct{})
		var wg sync.WaitGroup
		writer := func(agent, other string, p Policy) {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				v, err := s.Version(ctx, id)
				if err != nil {
					t.Error(err)
					return
				}
				var ps []ID
				if seq := v[agent]; seq > 0 {
					ps = append(ps, ID{Agent: agent, Seq: seq - 1})
				}
				if v[other] > 0 && i%3 == 0 {
					ps = append(ps, ID{Agent: other, Seq: v[other] - 1})
				}
				tr := txn(agent, v[agent], string(rune('a'+i%26)), ps...)
				if err := appendDurable(ctx, s, id, p, tr); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, tr)
				mu.Unlock()
			}
		}
		wg.Add(2)
		go writer("imm", "bat", Immediate)
		go writer("bat", "imm", Batched)
		var stopOnce sync.Once
		stopWriters := func() {
			stopOnce.Do(func() { close(stop) })
			wg.Wait()
		}
		defer stopWriters() // also when the test fails early
		compactions := 0
		for compactions < 6 {
			_, v, err := loadText(ctx, s, id)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			cover := coveredBy(all, v)
			mu.Unlock()
			got := Version{}
			for _, tr := range cover {
				got[tr.Agent] = max(got[tr.Agent], tr.Seq+tr.Len)
			}
			if !got.Equal(v) {
				continue // the loaded state holds writes not yet recorded here
			}
			snap, _ := fakeSnapshot(t, cover)
			if _, err := s.Compact(ctx, id, snap, v); err != nil {
				t.Fatal(err)
			}
			compactions++
		}
		stopWriters()
		if t.Failed() {
			return
		}
		snap, err := s.Snapshot(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		checkCausal(t, streamAll(t, s, id, nil), all, snap.Covers)
		if text, _, err := loadText(ctx, s, id); err != nil || text != fullText(t, all) {
			t.Fatalf("opened %q %v, want %q", text, err, fullText(t, all))
		}
		if le := logState(t, s, id); le.Epoch != 6 || le.Dirty {
			t.Fatalf("log state %+v after 6 compactions", le)
		}
		checkLayout(t, s)
		if res, ps := check(t, s, false); res.Problems != 0 || res.Leftovers != 0 {
			t.Fatalf("check: %+v %v", res, ps)
		}
	})
}

// coveredBy returns the transactions of all that v contains.
func coveredBy(all []TxnRecord, v Version) []TxnRecord {
	var out []TxnRecord
	for _, tr := range all {
		if v.ContainsSpan(tr.Span()) {
			out = append(out, tr)
		}
	}
	return out
}

// crashAt makes a datastore "die" at its k-th batch commit: that commit and
// every later one fail, as if the process had been killed just before it.
type crashAt struct {
	commits atomic.Int64
	k       atomic.Int64 // 0: never
}

func (c *crashAt) errfunc(op string) error {
	if op != "batch-commit" {
		return nil
	}
	n := c.commits.Add(1)
	if k := c.k.Load(); k > 0 && n >= k {
		return fmt.Errorf("crashed at commit %d: %w", n, syscall.EIO)
	}
	return nil
}

// TestCompactCrashPoints interrupts a compaction at every commit it makes
// and checks what a restart finds: Check sees no problem, the document
// opens to its whole text, streams hold everything the stored snapshot
// does not cover, in causal order; and a later compaction finishes the job,
// leaving nothing behind. On the memory backend the later compaction is
// itself interrupted at every point too.
func TestCompactCrashPoints(t *testing.T) {
	ctx := context.Background()
	all := twoAgents(12)
	// The first compaction covers all of a and b's first 4; the second
	// b's first 8 too.
	var firstCover, secondCover []TxnRecord
	for _, tr := range all {
		if tr.Agent == "a" || tr.Seq < 4 {
			firstCover = append(firstCover, tr)
		}
		if tr.Agent == "a" || tr.Seq < 8 {
			secondCover = append(secondCover, tr)
		}
	}
	type backendDS struct {
		name   string
		open   func(t *testing.T) ds.Batching
		second bool
	}
	for _, b := range []backendDS{
		{"memory", func(t *testing.T) ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) }, true},
		{"badger", func(t *testing.T) ds.Batching {
			d, err := openBadger(filepath.Join(t.TempDir(), DBDirName), testOpts())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Close() })
			return d
		}, false},
	} {
		t.Run(b.name, func(t *testing.T) {
			// compactAt runs a compaction of inner's document covering
			// cover, crashing at commit k (0: no crash). It reports whether
			// the compaction completed.
			compactAt := func(t *testing.T, inner ds.Batching, id DocID, cover []TxnRecord, k int64) bool {
				c := &crashAt{}
				o := testOpts()
				o.MaxBatchBytes = 1 << 10 // several groups per step
				s, err := OpenDatastore(failstore.NewFailstore(inner, c.errfunc), o)
				if err != nil {
					t.Fatal(err)
				}
				snap, v := fakeSnapshot(t, cover)
				c.commits.Store(0)
				c.k.Store(k)
				_, err = s.Compact(ctx, id, snap, v)
				s.Close()
				if err != nil && !errors.Is(err, syscall.EIO) {
					t.Fatalf("compaction failed otherwise: %v", err)
				}
				return err == nil
			}
			// verify reopens inner as after a restart.
			verify := func(t *testing.T, inner ds.Batching, id DocID, clean bool) {
				t.Helper()
				s, err := OpenDatastore(inner, testOpts())
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				res, ps := check(t, s, false)
				if res.Problems != 0 {
					t.Fatalf("check after the crash: %+v %v", res, ps)
				}
				if clean && (res.Leftovers != 0 || logState(t, s, id).Dirty) {
					t.Fatalf("completed compaction left %d entries (state %+v)", res.Leftovers, logState(t, s, id))
				}
				if text, _, err := loadText(ctx, s, id); err != nil || text != fullText(t, all) {
					t.Fatalf("opened %q %v, want %q", text, err, fullText(t, all))
				}
				var base Version
				if sn, err := s.Snapshot(ctx, id); err == nil {
					base = sn.Covers
				}
				checkCausal(t, streamAll(t, s, id, nil), all, base)
				if clean {
					checkLayout(t, s)
					if got, want := countKeys(t, s, txnPrefix(id)), len(all)-len(coveredBy(all, base)); got != want {
						t.Fatalf("%d transaction records, want %d", got, want)
					}
				}
			}
			for k := int64(1); ; k++ {
				inner := b.open(t)
				s, err := OpenDatastore(inner, testOpts())
				if err != nil {
					t.Fatal(err)
				}
				id := mustCreate(t, s)
				mustAppend(t, s, id, Immediate, all...)
				s.Close()
				done := compactAt(t, inner, id, firstCover, k)
				t.Run(fmt.Sprintf("crash-at-%d", k), func(t *testing.T) {
					verify(t, inner, id, done)
					if done {
						return
					}
					if b.second {
						// The next compaction, covering more, is interrupted too.
						for k2 := int64(1); ; k2++ {
							inner2 := dssync.MutexWrap(ds.NewMapDatastore())
							copyDatastore(t, inner, inner2)
							done2 := compactAt(t, inner2, id, secondCover, k2)
							verify(t, inner2, id, done2)
							if done2 {
								break
							}
						}
					}
					if !compactAt(t, inner, id, all, 0) {
						t.Fatal("compaction after the crash did not complete")
					}
					verify(t, inner, id, true)
				})
				if done {
					if k < 10 {
						t.Fatalf("compaction completed in %d commits: the test crashes too few points", k)
					}
					break
				}
			}
		})
	}
}

func copyDatastore(t *testing.T, from, to ds.Batching) {
	t.Helper()
	ctx := context.Background()
	if err := each(ctx, from, dsq.Query{}, func(e dsq.Entry) error {
		return to.Put(ctx, ds.RawKey(e.Key), e.Value)
	}); err != nil {
		t.Fatal(err)
	}
}
