package crdt_test

import (
	"testing"

	"weft/crdt"
)

func TestAnchorsFollowConcurrentEdits(t *testing.T) {
	a, _ := crdt.New("a")
	b, _ := crdt.New("b")
	t1, _ := a.Insert(0, "hello world")
	if _, err := b.Apply(t1); err != nil {
		t.Fatal(err)
	}
	// b's cursor sits after "hello" (position 5).
	anchor, ok := b.AnchorAt(5)
	if !ok || anchor != (crdt.ID{Agent: "a", Seq: 4}) {
		t.Fatalf("anchor %v %v", anchor, ok)
	}
	// a inserts before it and deletes around it.
	t2, _ := a.Insert(0, "¡")
	t3, _ := a.Delete(3, 3) // "¡he|llo" → deletes "llo"
	for _, tx := range []*crdt.Txn{t2, t3} {
		if _, err := b.Apply(tx); err != nil {
			t.Fatal(err)
		}
	}
	// The anchor item ("o") was deleted: the cursor stays where it was,
	// after "¡he".
	if pos, ok := b.PosOf(anchor); !ok || pos != 3 || b.Text()[:4] != "¡he" {
		t.Fatalf("pos %d %v in %q", pos, ok, b.Text())
	}
	start, _ := b.AnchorAt(0)
	if pos, ok := b.PosOf(start); !ok || pos != 0 {
		t.Fatalf("start: %d %v", pos, ok)
	}
	if end, ok := b.AnchorAt(b.Len()); !ok {
		t.Fatal("end anchor")
	} else if pos, _ := b.PosOf(end); pos != b.Len() {
		t.Fatalf("end: %d of %d", pos, b.Len())
	}
	if _, ok := b.PosOf(crdt.ID{Agent: "nobody", Seq: 3}); ok {
		t.Fatal("an unknown ID has a position")
	}
	if _, ok := b.AnchorAt(b.Len() + 1); ok {
		t.Fatal("an anchor past the end")
	}
}
