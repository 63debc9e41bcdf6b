package store

import (
	"context"
	"strings"
	"testing"
)

func TestSpotCheckPasses(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		s := open(t, testOpts())
		c := NewSpotCheck(s, fakeCodec{}, 1)
		det, err := c.Run(ctx)
		if err != nil || det.(SpotResult).Docs != 0 {
			t.Fatalf("empty store: %+v %v", det, err)
		}
		plain := mustCreate(t, s)
		mustAppend(t, s, plain, Immediate, linear("a", 0, 5)...)
		compacted := mustCreate(t, s)
		all := twoAgents(4)
		mustAppend(t, s, compacted, Immediate, all...)
		snap, v := fakeSnapshot(t, all[:6])
		if _, err := s.Compact(ctx, compacted, snap, v); err != nil {
			t.Fatal(err)
		}
		seen := map[string]SpotResult{}
		for range 40 {
			det, err := c.Run(ctx)
			if err != nil {
				t.Fatalf("consistent store: %v", err)
			}
			d := det.(SpotResult)
			seen[d.Doc] = d
		}
		if d, ok := seen[plain.String()]; !ok || d.Snapshot || d.Txns != 5 || d.Docs != 2 || d.Partial {
			t.Errorf("plain document: %+v (seen %v)", d, ok)
		}
		if d, ok := seen[compacted.String()]; !ok || !d.Snapshot || d.Txns != 2 || d.Partial {
			t.Errorf("compacted document: %+v (seen %v)", d, ok)
		}
		// A bound shorter than the tail checks a prefix and says so.
		c.maxTxns = 3
		for range 40 {
			det, err := c.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if d := det.(SpotResult); d.Doc == plain.String() {
				if !d.Partial || d.Txns != 3 {
					t.Fatalf("bounded check: %+v", d)
				}
				return
			}
		}
		t.Fatal("the plain document was never picked")
	})
}

// A transaction whose payload is not what its header says is found (the
// store keeps payloads opaque, so it accepted it).
func TestSpotCheckFindsMismatch(t *testing.T) {
	ctx := context.Background()
	forEachBackend(t, func(t *testing.T, open func(testing.TB, Options) *Store) {
		s := open(t, testOpts())
		mismatch := mustCreate(t, s)
		bad := txn("a", 0, "ab")
		bad.Payload = txn("a", 2, "c").Payload // header: a 0+2; payload: a 2+1
		mustAppend(t, s, mismatch, Immediate, bad)
		_, err := NewSpotCheck(s, fakeCodec{}, 1).Run(ctx)
		if err == nil || !strings.Contains(err.Error(), "does not match its header") || !strings.Contains(err.Error(), mismatch.String()) {
			t.Fatalf("mismatched payload: %v", err)
		}

	})
}
