package member

import (
	"bytes"
	"testing"

	"weft/vocab"
)

// The whole life of a members-only document, as the wiring will drive
// it: create, invite, join, write sealed and signed, catch up, remove,
// rotate.
func TestStory(t *testing.T) {
	// Alice creates a document; her device gets admin from the document key.
	doc := newDoc(t, 1)
	genesis, err := ParseGenesis(doc.Genesis().Marshal(), doc.ID)
	must(t, err)
	alice, bob, carol := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	aliceChain := grantTo(t, doc.Key, doc.ID, nil, alice, RoleAdmin)

	// She invites Bob to write and Carol to read; they join offline.
	join := func(dev *Device, role Role) (Chain, *Keyring) {
		inv, err := NewInvite(detRand(uint64(role)), alice.Sign, aliceChain, genesis.DocKey, InviteGrant{Role: role, NotAfter: 1000}, 0, &doc.Secret)
		must(t, err)
		got, err := ParseInvite(inv.String())
		must(t, err)
		c, err := Join(got, dev, RoleNone, "", 10)
		must(t, err)
		kr := NewKeyring(got.Doc())
		must(t, kr.Add(got.Epoch, got.Secret))
		return c, kr
	}
	bobChain, bobKeys := join(bob, RoleWrite)
	carolChain, carolKeys := join(carol, RoleRead)

	// Bob writes three transactions: sealed, hash-chained, signed.
	agent := AgentOf(bob.Public())
	var raws, payloads [][]byte
	var prev [32]byte
	for i := range 3 {
		h := &Header{Doc: doc.ID, Header: vocab.Header{Agent: agent, Seq: uint64(i), Len: 1}, Prev: prev}
		sealed, err := SealPayload(bobKeys, detRand(uint64(100+i)), h, []byte("marker"))
		must(t, err)
		must(t, h.Sign(bob.Sign))
		if i < 2 {
			h.Sig = nil // older headers may travel unsigned
		}
		prev = h.Hash()
		raws, payloads = append(raws, h.Marshal()), append(payloads, sealed)
		if bytes.Contains(sealed, []byte("marker")) || bytes.Contains(h.Marshal(), []byte("marker")) {
			t.Fatal("the marker leaves in clear")
		}
	}

	// Carol catches up: checks Bob may write, verifies the run with one
	// signature, opens the payloads.
	m, err := Verify(bobChain, genesis.DocKey, 20)
	must(t, err)
	run, err := ParseRun(raws, doc.ID, [32]byte{})
	must(t, err)
	if !m.Role.CanWrite() || !OwnsAgent(m.Subject, run[0].Agent) {
		t.Fatal("Bob's chain does not cover his agent")
	}
	for i, h := range run {
		pt, err := OpenPayload(carolKeys, h, payloads[i])
		must(t, err)
		if string(pt) != "marker" {
			t.Fatal("Carol reads something else")
		}
	}
	// A reader's writes are refused: her chain does not allow writing.
	if cm, err := Verify(carolChain, genesis.DocKey, 20); err != nil || cm.Role.CanWrite() {
		t.Fatalf("Carol may write: %v", err)
	}
	// A payload moved under another header does not open.
	_, err = OpenPayload(carolKeys, run[1], payloads[0])
	wantReason(t, err, vocab.ReasonHeaderMismatch)

	// Alice removes Bob, having seen two of his transactions; the new
	// epoch is sealed to Alice and Carol.
	next, err := NewSecret(detRand(200))
	must(t, err)
	rk, err := NewRekey(detRand(201), doc.ID, 1, next, 0, &doc.Secret, [][]byte{alice.BoxPublic(), carol.BoxPublic()})
	must(t, err)
	rev, err := Revoke(alice.Sign, aliceChain, doc.ID, bob.Public(), vocab.Version{agent: 2}, rk)
	must(t, err)
	got, err := ParseRevocation(rev.Marshal())
	must(t, err)
	must(t, VerifyRevocation(got, genesis.DocKey, IgnoreExpiry))
	secret, err := got.Rekey.Open(doc.ID, carol.Box)
	must(t, err)
	must(t, carolKeys.Add(got.Rekey.Epoch, secret))
	_, err = got.Rekey.Open(doc.ID, bob.Box)
	wantReason(t, err, vocab.ReasonRevoked)

	// Bob's first two transactions count, the third does not.
	for i, h := range run {
		if Counted(h.Span(), []*Revocation{got}) != (i < 2) {
			t.Fatalf("transaction %d of the removed writer counted wrongly", i)
		}
	}
	// What Carol writes now, Bob cannot open.
	h := &Header{Doc: doc.ID, Header: vocab.Header{Agent: AgentOf(carol.Public()), Seq: 0, Len: 1}}
	sealed, err := SealPayload(carolKeys, detRand(300), h, []byte("after"))
	must(t, err)
	if h.Epoch != 1 {
		t.Fatalf("sealed in epoch %d after the rotation", h.Epoch)
	}
	_, err = OpenPayload(bobKeys, h, sealed)
	wantReason(t, err, vocab.ReasonEpoch)
	if pt, err := OpenPayload(carolKeys, h, sealed); err != nil || string(pt) != "after" {
		t.Fatalf("Carol cannot read her own: %v", err)
	}
}
