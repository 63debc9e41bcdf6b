package main

import (
	"flag"
	"os"
	"testing"

	"weft/crdt"
)

var update = flag.Bool("update", false, "rewrite warm.snap")

// warmDoc builds warm.snap's document: two agents typing, deleting and
// merging.
func warmDoc(t *testing.T) *crdt.Doc {
	a, _ := crdt.New("warm-a")
	b, _ := crdt.New("warm-b")
	steps := []struct {
		d        *crdt.Doc
		pos, del int
		ins      string
	}{
		{a, 0, 0, "the quick fox jumps over the dog"},
		{b, 0, 0, "; 🦊 and 🐶 are friends"},
		{a, 10, 0, "brown "},
		{b, 0, 0, "XX"},
		{b, 0, 2, ""},
		{a, 35, 0, "lazy "},
	}
	for _, s := range steps {
		if err := s.d.Edit(s.pos, s.del, s.ins); err != nil {
			t.Fatal(err)
		}
	}
	for _, txn := range b.Missing(a.Version()) {
		if _, err := a.Apply(txn); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func TestWarmSnapshot(t *testing.T) {
	if *update {
		d := warmDoc(t)
		if err := os.WriteFile("warm.snap", d.EncodeSnapshot(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	d, err := crdt.LoadSnapshot("warm", warmSnapshot)
	if err != nil {
		t.Fatal(err)
	}
	if d.Text() != warmText || warmDoc(t).Text() != warmText {
		t.Fatalf("warm.snap has %q, warmDoc %q; want %q (go test -run TestWarmSnapshot -update)", d.Text(), warmDoc(t).Text(), warmText)
	}
}
