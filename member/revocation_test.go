package member

import (
	"bytes"
	"testing"

	"weft/vocab"
)

func TestRevokeAndRekey(t *testing.T) {
	d := newDoc(t, 1)
	admin, stays, leaves := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	ac := grantTo(t, d.Key, d.ID, nil, admin, RoleAdmin)
	sc := grantTo(t, admin.Sign, d.ID, ac, stays, RoleWrite)
	lc := grantTo(t, admin.Sign, d.ID, ac, leaves, RoleWrite)
	next, err := NewSecret(detRand(42))
	must(t, err)
	rk, err := NewRekey(detRand(43), d.ID, 1, next, 0, &d.Secret, [][]byte{stays.BoxPublic(), admin.BoxPublic(), stays.BoxPublic()})
	must(t, err)
	if len(rk.Boxes) != 2 {
		t.Fatalf("%d boxes for 2 recipients", len(rk.Boxes))
	}
	agent := AgentOf(leaves.Public())
	tab, _ := TabAgent(leaves.Public(), "t")
	r, err := Revoke(admin.Sign, ac, d.ID, leaves.Public(), vocab.Version{agent: 10, tab: 3}, rk)
	must(t, err)
	must(t, VerifyRevocation(r, d.Public, 0))
	got, err := ParseRevocation(r.Marshal())
	must(t, err)
	must(t, VerifyRevocation(got, d.Public, IgnoreExpiry))
	if !bytes.Equal(got.Marshal(), r.Marshal()) || got.Hash() != r.Hash() {
		t.Fatal("revocation round trip changed it")
	}
	// The staying members open the new secret, and through it the old one.
	for _, dev := range []*Device{stays, admin} {
		s, err := got.Rekey.Open(d.ID, dev.Box)
		must(t, err)
		if *s != *next {
			t.Fatal("opened another secret")
		}
		prev, err := got.Rekey.OpenPrev(d.ID, s)
		must(t, err)
		if *prev != d.Secret {
			t.Fatal("the previous secret does not come back")
		}
	}
	// The removed one does not.
	_, err = got.Rekey.Open(d.ID, leaves.Box)
	wantReason(t, err, vocab.ReasonRevoked)
	// Its chain falls; the others' do not.
	if !lc.Contains(leaves.Public()) || sc.Contains(leaves.Public()) {
		t.Fatal("Chain.Contains")
	}
	// A revocation by the document key needs no chain.
	r2, err := Revoke(d.Key, nil, d.ID, leaves.Public(), nil, rk)
	must(t, err)
	must(t, VerifyRevocation(r2, d.Public, 0))
	// Refused: by a writer; by a forger; the wrong document key; a listed
	// agent of another device.
	byWriter, err := Revoke(stays.Sign, sc, d.ID, leaves.Public(), nil, rk)
	must(t, err)
	wantReason(t, VerifyRevocation(byWriter, d.Public, 0), vocab.ReasonRevoked)
	forged, err := Revoke(stays.Sign, ac, d.ID, leaves.Public(), nil, rk)
	must(t, err)
	wantReason(t, VerifyRevocation(forged, d.Public, 0), vocab.ReasonSignature)
	wantReason(t, VerifyRevocation(r, newDoc(t, 2).Public, 0), vocab.ReasonWrongDocument)
	_, err = Revoke(admin.Sign, ac, d.ID, leaves.Public(), vocab.Version{AgentOf(stays.Public()): 1}, rk)
	wantReason(t, err, vocab.ReasonAgentOwner)
	wrongPrev := *rk
	wrongPrev.Prev = got.Rekey.Boxes[0].Sealed // not a sealed secret
	_, err = Revoke(admin.Sign, ac, d.ID, leaves.Public(), nil, &wrongPrev)
	wantReason(t, err, vocab.ReasonMalformed)
	otherEpoch, err := NewRekey(detRand(44), d.ID, 2, next, 0, &d.Secret, nil)
	must(t, err)
	wrongPrev.Prev = otherEpoch.Prev // sealed in epoch 2, in a rekey to 1
	_, err = Revoke(admin.Sign, ac, d.ID, leaves.Public(), nil, &wrongPrev)
	wantReason(t, err, vocab.ReasonMalformed)
	tampered := r.Marshal()
	tampered[len(tampered)-3] ^= 1
	g, err := ParseRevocation(tampered) // a flipped byte of the signature
	must(t, err)
	wantReason(t, VerifyRevocation(g, d.Public, 0), vocab.ReasonSignature)
}

func TestCounted(t *testing.T) {
	d := newDoc(t, 1)
	admin, x := newDevice(t, 1), newDevice(t, 2)
	a := AgentOf(x.Public())
	rk, err := NewRekey(detRand(1), d.ID, 1, &d.Secret, 0, &d.Secret, [][]byte{admin.BoxPublic()})
	must(t, err)
	r1, err := Revoke(d.Key, nil, d.ID, x.Public(), vocab.Version{a: 10}, rk)
	must(t, err)
	r2, err := Revoke(d.Key, nil, d.ID, x.Public(), vocab.Version{a: 6}, rk)
	must(t, err)
	for _, c := range []struct {
		span vocab.Span
		rs   []*Revocation
		want bool
	}{
		{vocab.Span{Agent: a, Seq: 0, Len: 10}, []*Revocation{r1}, true},
		{vocab.Span{Agent: a, Seq: 9, Len: 2}, []*Revocation{r1}, false},
		{vocab.Span{Agent: a, Seq: 5, Len: 1}, []*Revocation{r1, r2}, true},
		{vocab.Span{Agent: a, Seq: 6, Len: 1}, []*Revocation{r2, r1}, false},
		{vocab.Span{Agent: a + ".tab", Seq: 0, Len: 1}, []*Revocation{r1}, false},
		{vocab.Span{Agent: a, Seq: 100, Len: 1}, nil, true},
	} {
		if got := Counted(c.span, c.rs); got != c.want {
			t.Errorf("Counted(%v, %d revocations) = %v", c.span, len(c.rs), got)
		}
	}
}
