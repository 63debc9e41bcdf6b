package member

import (
	"bytes"
	"fmt"
	"testing"

	"weft/vocab"
)

func TestSealOpen(t *testing.T) {
	d := newDoc(t, 1)
	k, err := NewEpochKeys(d.ID, 0, &d.Secret)
	must(t, err)
	ad := []byte("header")
	msg := []byte("a unique marker")
	s1, err := k.Seal(detRand(1), PurposePayload, msg, ad)
	must(t, err)
	s2, err := k.Seal(detRand(2), PurposePayload, msg, ad)
	must(t, err)
	if bytes.Equal(s1, s2) || bytes.Contains(s1, msg) {
		t.Fatal("sealing is not randomised, or leaks the plaintext")
	}
	if len(s1) > len(msg)+Overhead {
		t.Fatalf("sealed %d bytes into %d (overhead bound %d)", len(msg), len(s1), Overhead)
	}
	got, err := k.Open(PurposePayload, s1, ad)
	must(t, err)
	if !bytes.Equal(got, msg) {
		t.Fatal("round trip changed the plaintext")
	}
	p, err := ParseSealed(s1)
	must(t, err)
	if p.Epoch != 0 || p.Purpose != PurposePayload {
		t.Fatalf("sealed form names %+v", p)
	}
	_, err = k.Open(PurposePayload, s1, []byte("another header"))
	wantReason(t, err, vocab.ReasonDecrypt)
	_, err = k.Open(PurposeTitle, s1, ad)
	wantReason(t, err, vocab.ReasonDecrypt)
	for i := range s1 {
		bad := bytes.Clone(s1)
		bad[i] ^= 0x40
		if _, err := k.Open(PurposePayload, bad, ad); err == nil {
			t.Fatalf("a flipped byte %d still opens", i)
		}
	}
	// Another document's keys, same secret: different keys.
	other, err := NewEpochKeys(newDoc(t, 2).ID, 0, &d.Secret)
	must(t, err)
	_, err = other.Open(PurposePayload, s1, ad)
	wantReason(t, err, vocab.ReasonDecrypt)
	_, err = ParseSealed(make([]byte, MaxSealedBytes+1))
	wantReason(t, err, vocab.ReasonOversized)
	_, err = ParseSealed([]byte{2, 1, 0})
	wantReason(t, err, vocab.ReasonVersion)
}

func TestKeyring(t *testing.T) {
	d := newDoc(t, 1)
	r := NewKeyring(d.ID)
	_, err := r.Seal(detRand(1), PurposeTitle, []byte("t"), nil)
	wantReason(t, err, vocab.ReasonEpoch)
	must(t, r.Add(0, &d.Secret))
	old, err := r.Seal(detRand(1), PurposeTitle, []byte("old"), nil)
	must(t, err)
	s1, _ := NewSecret(detRand(11))
	s2, _ := NewSecret(detRand(12))
	must(t, r.Add(1, s1))
	must(t, r.Add(1, s2)) // a concurrent rekey to the same epoch
	must(t, r.Add(1, s2))
	if r.Current().Epoch != 1 {
		t.Fatal("the highest epoch is not current")
	}
	// Both orders of adding pick the same current secret.
	r2 := NewKeyring(d.ID)
	must(t, r2.Add(1, s2))
	must(t, r2.Add(1, s1))
	if r2.Current().id != r.Current().id {
		t.Fatal("the current secret depends on the order secrets arrived in")
	}
	for _, s := range []*Secret{s1, s2} {
		k, _ := NewEpochKeys(d.ID, 1, s)
		sealed, err := k.Seal(detRand(3), PurposePresence, []byte("p"), nil)
		must(t, err)
		if got, err := r.Open(PurposePresence, sealed, nil); err != nil || string(got) != "p" {
			t.Fatalf("open under one of epoch 1's secrets: %v", err)
		}
	}
	if got, err := r.Open(PurposeTitle, old, nil); err != nil || string(got) != "old" {
		t.Fatalf("old epoch: %v", err)
	}
	k5, _ := NewEpochKeys(d.ID, 5, s1)
	future, _ := k5.Seal(detRand(3), PurposePayload, []byte("x"), nil)
	_, err = r.Open(PurposePayload, future, nil)
	wantReason(t, err, vocab.ReasonEpoch)
	_, err = k5.Open(PurposeTitle, old, nil)
	wantReason(t, err, vocab.ReasonEpoch)
}

// The names are part of the key derivation (Purpose) and of the command
// line (Role): they must not change.
func TestEnumNames(t *testing.T) {
	for v, want := range map[fmt.Stringer]string{
		RolePull: "pull", RoleRead: "read", RoleWrite: "write", RoleAdmin: "admin", RoleNone: "role(0)", Role(5): "role(5)",
		PurposePayload: "payload", PurposeTitle: "title", PurposePresence: "presence", PurposeEpoch: "epoch", Purpose(0): "purpose(0)", Purpose(9): "purpose(9)",
	} {
		if got := v.String(); got != want {
			t.Errorf("%#v names itself %q, want %q", v, got, want)
		}
	}
}
