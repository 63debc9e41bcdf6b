package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"weft/crdt"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

func runWeft(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// makeStore writes a document typed by two real crdt replicas (with a
// concurrent edit and a snapshot) and returns the data directory.
func makeStore(t *testing.T) (string, store.DocID) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id := store.NewDocID()
	if err := s.CreateDoc(ctx, id, "cli"); err != nil {
		t.Fatal(err)
	}
	alice, _ := crdt.New("alice")
	bob, _ := crdt.New("bob")
	var txns []*crdt.Txn
	edit := func(d *crdt.Doc, tx *crdt.Txn, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		txns = append(txns, tx)
		for _, o := range []*crdt.Doc{alice, bob} {
			if o != d {
				if _, err := o.Apply(tx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	tx, err := alice.Insert(0, "hello world")
	edit(alice, tx, err)
	// Concurrent: both type before the other's edit arrives.
	ta, err := alice.Insert(5, ",")
	if err != nil {
		t.Fatal(err)
	}
	tb, err := bob.Insert(11, "!")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		d  *crdt.Doc
		tx *crdt.Txn
	}{{bob, ta}, {alice, tb}} {
		if _, err := p.d.Apply(p.tx); err != nil {
			t.Fatal(err)
		}
	}
	txns = append(txns, ta, tb)
	tx, err = bob.Delete(0, 1)
	edit(bob, tx, err)
	if alice.Text() != bob.Text() || alice.Text() != "ello, world!" {
		t.Fatalf("replicas: %q %q", alice.Text(), bob.Text())
	}
	for _, tx := range txns {
		rec, err := txnRecord(tx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Append(ctx, id, store.Immediate, rec); err != nil {
			t.Fatal(err)
		}
	}
	// A snapshot covering the first transaction: compaction drops it, and
	// Check rebuilds the rest on top of the snapshot.
	first, _ := crdt.New("carol")
	if _, err := first.Apply(txns[0]); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Compact(ctx, id, first.EncodeSnapshot(), storeVersion(first.Version())); err != nil || n != 1 {
		t.Fatalf("compact: %d %v", n, err)
	}
	return dir, id
}

// txnRecord is a crdt transaction as the replica stores it: its envelope's
// header and payload.
func txnRecord(t *crdt.Txn) (store.TxnRecord, error) {
	env, _, err := wire.Seal(vocab.DocID{}, t)
	if err != nil {
		return store.TxnRecord{}, err
	}
	h := vocab.Header{Agent: env.Header.Agent, Seq: env.Header.Seq, Len: env.Header.Len}
	for _, p := range env.Header.Parents {
		h.Parents = append(h.Parents, store.ID{Agent: p.Agent, Seq: p.Seq})
	}
	return store.TxnRecord{Header: h, Payload: env.Payload}, nil
}

func storeVersion(v crdt.Version) store.Version {
	out := store.Version{}
	for a, n := range v {
		out[a] = n
	}
	return out
}

func TestCheckCommand(t *testing.T) {
	dir, _ := makeStore(t)
	code, out, errs := runWeft(t, "check", "--data", dir)
	if code != 0 || !strings.Contains(out, "healthy") || errs != "" {
		t.Fatalf("healthy store: code %d out %q err %q", code, out, errs)
	}
	// Usage errors and unopenable stores exit 2 with one line.
	code, _, errs = runWeft(t, "check", "--data", filepath.Join(dir, "nope"))
	if code != 2 || strings.Count(errs, "\n") != 1 || !strings.HasPrefix(errs, "weft: ") {
		t.Fatalf("missing store: %d %q", code, errs)
	}
	code, _, errs = runWeft(t, "check", "--bogus")
	if code != 2 || !strings.Contains(errs, "unknown flag") {
		t.Fatalf("bad flag: %d %q", code, errs)
	}
	// The store is held by another opener: exit 2 naming directory and holder.
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	code, _, errs = runWeft(t, "check", "--data", dir)
	s.Close()
	if code != 2 || !strings.Contains(errs, dir) || !strings.Contains(errs, "process ") {
		t.Fatalf("held store: %d %q", code, errs)
	}
}

func TestCheckCommandFindsAndRepairsDamage(t *testing.T) {
	dir, id := makeStore(t)
	// A disk fault inside bob's first transaction.
	corruptValue(t, dir, "/docs/"+id.String()+"/txn/bob/00000000000000000000")
	code, out, _ := runWeft(t, "check", "--data", dir)
	if code != 1 || !strings.Contains(out, "problem: document "+id.String()+": /docs/"+id.String()+"/txn/bob/00000000000000000000: ") {
		t.Fatalf("damage not reported: %d %q", code, out)
	}
	code, out, _ = runWeft(t, "check", "--data", dir, "--repair")
	if code != 1 || !strings.Contains(out, "quarantined") || !strings.Contains(out, `to fetch from peers: "bob" seqs 0..1`) {
		t.Fatalf("repair: %d %q", code, out)
	}
	// Consistent afterwards, but still waiting for peers.
	code, out, _ = runWeft(t, "check", "--data", dir)
	if code != 0 || !strings.Contains(out, "healthy") || !strings.Contains(out, "in quarantine") {
		t.Fatalf("after repair: %d %q", code, out)
	}
	s, err := store.Open(dir, store.DefaultOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if m, err := s.Missing(context.Background(), id); err != nil || len(m) != 1 || m[0].Agent != "bob" {
		t.Fatalf("fetch list %v %v", m, err)
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/x/data")
	if d, _ := defaultDataDir(); d != "/x/data/weft" {
		t.Fatal(d)
	}
	t.Setenv("XDG_DATA_HOME", "relative")
	t.Setenv("HOME", "/home/u")
	if d, _ := defaultDataDir(); d != "/home/u/.local/share/weft" {
		t.Fatal(d)
	}
}
