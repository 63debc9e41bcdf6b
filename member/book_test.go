package member

import (
	"crypto/rand"
	"testing"
)

func TestBookDocKey(t *testing.T) {
	d, err := NewDocument(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBook(d.Public)
	if err != nil {
		t.Fatal(err)
	}
	raw := b.Marshal()
	got, err := BookDocKey(raw, d.ID)
	if err != nil || !got.Equal(d.Public) {
		t.Fatalf("BookDocKey = %x, %v; want %x", got, err, d.Public)
	}
	other, _ := NewDocument(rand.Reader)
	if _, err := BookDocKey(raw, other.ID); err == nil {
		t.Fatal("a book read for another document's ID was accepted")
	}
	if _, err := BookDocKey(raw[:len(raw)/2], d.ID); err == nil {
		t.Fatal("a truncated book was accepted")
	}
}
