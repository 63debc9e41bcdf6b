package member

import (
	"testing"

	"weft/vocab"
)

// A drop request round-trips and verifies for its document, within its
// time window, signed by its chain's subject; anything else is refused
// with its reason.
func TestDrop(t *testing.T) {
	doc, other := newDoc(t, 1), newDoc(t, 2)
	admin, writer, stranger := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	adminChain := grantTo(t, doc.Key, doc.ID, nil, admin, RoleAdmin)
	writerChain := grantTo(t, admin.Sign, doc.ID, adminChain, writer, RoleWrite)
	const now = 1_800_000_000

	d, err := NewDrop(writer.Sign, writerChain, doc.ID, now)
	must(t, err)
	back, err := ParseDrop(d.Marshal())
	must(t, err)
	m, err := VerifyDrop(back, doc.Public, now+60)
	must(t, err)
	if m.Role != RoleWrite || !m.Subject.Equal(writer.Public()) {
		t.Fatalf("verified as %v %x", m.Role, m.Subject)
	}

	_, err = VerifyDrop(back, doc.Public, now+DropWindow+1)
	wantReason(t, err, vocab.ReasonExpired)
	_, err = VerifyDrop(back, other.Public, now)
	if err == nil {
		t.Fatal("a drop verified for another document's key")
	}
	forged, err := NewDrop(stranger.Sign, writerChain, doc.ID, now) // someone else's chain
	must(t, err)
	_, err = VerifyDrop(forged, doc.Public, now)
	wantReason(t, err, vocab.ReasonSignature)
	moved := *back
	moved.Time = now + 1 // the signature covers the time
	_, err = VerifyDrop(&moved, doc.Public, now)
	wantReason(t, err, vocab.ReasonSignature)
	if _, err := NewDrop(admin.Sign, nil, doc.ID, now); err == nil {
		t.Fatal("a drop without a chain")
	}
	raw := d.Marshal()
	if _, err := ParseDrop(raw[:len(raw)-3]); err == nil {
		t.Fatal("a truncated drop parsed")
	}
}
