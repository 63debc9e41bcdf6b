package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"weft/vocab"
)

// New titles follow vocab.CheckTitle; a title an older version stored
// (up to 1024 bytes, any characters) still reads back as it is, and
// renaming away from it works.
func TestTitleRule(t *testing.T) {
	ctx := context.Background()
	s := backends()[0].open(t, testOpts())
	id := mustCreate(t, s)
	for _, bad := range []string{strings.Repeat("é", vocab.MaxTitle+1), "a\nb", "\xff"} {
		if err := s.SetTitle(ctx, id, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetTitle(%q): %v", bad, err)
		}
		if err := s.CreateDoc(ctx, NewDocID(), bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateDoc(%q): %v", bad, err)
		}
	}
	if err := s.SetTitle(ctx, id, strings.Repeat("🎉", vocab.MaxTitle)); err != nil {
		t.Fatalf("a title of MaxTitle code points: %v", err)
	}

	old := strings.Repeat("x", 1000) + "\t(v1)"
	b, err := encodeRecord(recMeta, metaRec{Title: old, Created: 1})
	if err != nil {
		t.Fatal(err)
	}
	corrupt(t, s, metaKey(id), b) // not corrupt: what an older version wrote
	m, err := s.Meta(ctx, id)
	if err != nil || m.Title != old {
		t.Fatalf("an older, longer title: %q %v", m.Title, err)
	}
	if err := s.SetTitle(ctx, id, "Short"); err != nil {
		t.Fatal(err)
	}
	if m, err := s.Meta(ctx, id); err != nil || m.Title != "Short" {
		t.Fatalf("renamed: %q %v", m.Title, err)
	}
}

// The all-zero document ID is refused like any malformed one.
func TestZeroDocID(t *testing.T) {
	s := backends()[0].open(t, testOpts())
	if err := s.CreateDoc(context.Background(), DocID{}, ""); !errors.Is(err, ErrInvalid) {
		t.Fatalf("CreateDoc of the zero ID: %v", err)
	}
	if _, err := ParseDocID(strings.Repeat("0", 32)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("ParseDocID of zeros: %v", err)
	}
	for i := 0; i < 100; i++ {
		if NewDocID().IsZero() {
			t.Fatal("NewDocID returned the zero ID")
		}
	}
}
