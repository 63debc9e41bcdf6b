package member

import (
	"crypto/ed25519"
	"testing"

	"weft/vocab"
)

// forge signs a link with no rule checked, as a hostile issuer would.
func forge(issuer ed25519.PrivateKey, doc vocab.DocID, parent *Link, g Grant) *Link {
	l := &Link{Doc: doc, Role: g.Role, Invite: g.Invite, Subject: g.Subject, Box: g.Box, NotAfter: g.NotAfter, Label: g.Label}
	if parent != nil {
		h := parent.Hash()
		l.Parent = h[:]
	}
	l.Sig = ed25519.Sign(issuer, signed(domainDelegation, l.body()))
	return l
}

func TestChainVerifies(t *testing.T) {
	d := newDoc(t, 1)
	admin, writer := newDevice(t, 1), newDevice(t, 2)
	c := grantTo(t, d.Key, d.ID, nil, admin, RoleAdmin)
	c = grantTo(t, admin.Sign, d.ID, c, writer, RoleWrite)
	m, err := Verify(c, d.Public, 100)
	must(t, err)
	if m.Role != RoleWrite || !m.Subject.Equal(writer.Public()) || string(m.Box) != string(writer.BoxPublic()) || m.Invite {
		t.Fatalf("Verify = %+v", m)
	}
	back, err := ParseChain(c.Marshal())
	must(t, err)
	if _, err := Verify(back, d.Public, 100); err != nil {
		t.Fatal(err)
	}
	if string(back.Marshal()) != string(c.Marshal()) {
		t.Fatal("chain round trip changed its bytes")
	}
}

func TestChainRefuses(t *testing.T) {
	d := newDoc(t, 1)
	other := newDoc(t, 2)
	admin, writer, x := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	root := grantTo(t, d.Key, d.ID, nil, admin, RoleAdmin)
	w := grantTo(t, admin.Sign, d.ID, root, writer, RoleWrite)
	g := func(dev *Device, r Role) Grant {
		return Grant{Role: r, Subject: dev.Public(), Box: dev.BoxPublic()}
	}
	cases := []struct {
		name   string
		chain  Chain
		key    ed25519.PublicKey
		now    int64
		reason string
	}{
		{"empty", nil, d.Public, 0, vocab.ReasonCapability},
		{"another document's key", w, other.Public, 0, vocab.ReasonWrongDocument},
		{"root not signed by the document key", Chain{forge(admin.Sign, d.ID, nil, g(x, RoleAdmin))}, d.Public, 0, vocab.ReasonSignature},
		{"a writer delegates", w.Extend(forge(writer.Sign, d.ID, w.Leaf(), g(x, RoleRead))), d.Public, 0, vocab.ReasonCapability},
		{"signed by someone other than the parent's subject", root.Extend(forge(x.Sign, d.ID, root.Leaf(), g(x, RoleWrite))), d.Public, 0, vocab.ReasonSignature},
		{"wrong parent hash", Chain{root[0], forge(admin.Sign, d.ID, w.Leaf(), g(x, RoleRead))}, d.Public, 0, vocab.ReasonCapability},
		{"first link names a parent", Chain{forge(d.Key, d.ID, root.Leaf(), g(x, RoleAdmin))}, d.Public, 0, vocab.ReasonCapability},
		{"another document's link", Chain{forge(d.Key, other.ID, nil, g(x, RoleAdmin))}, d.Public, 0, vocab.ReasonWrongDocument},
		{"expired", grantTo(t, d.Key, d.ID, nil, admin, RoleAdmin).Extend(forge(admin.Sign, d.ID, root.Leaf(), Grant{Role: RoleRead, Subject: x.Public(), Box: x.BoxPublic(), NotAfter: 50})), d.Public, 51, vocab.ReasonExpired},
		{"reader without a box key", Chain{forge(d.Key, d.ID, nil, Grant{Role: RoleRead, Subject: x.Public()})}, d.Public, 0, vocab.ReasonMalformed},
		{"no role", Chain{forge(d.Key, d.ID, nil, Grant{Role: RoleNone, Subject: x.Public()})}, d.Public, 0, vocab.ReasonMalformed},
		{"label too long", Chain{forge(d.Key, d.ID, nil, Grant{Role: RolePull, Subject: x.Public(), Label: string(make([]byte, MaxLabelBytes+1))})}, d.Public, 0, vocab.ReasonOversized},
		{"label with a control character", Chain{forge(d.Key, d.ID, nil, Grant{Role: RolePull, Subject: x.Public(), Label: "a\nb"})}, d.Public, 0, vocab.ReasonMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Verify(c.chain, c.key, c.now)
			wantReason(t, err, c.reason)
		})
	}
	// Flipping any byte of a signature breaks it.
	bad := append(Chain(nil), w...)
	l := *bad[1]
	l.Sig = append([]byte(nil), l.Sig...)
	l.Sig[10] ^= 1
	bad[1] = &l
	_, err := Verify(bad, d.Public, 0)
	wantReason(t, err, vocab.ReasonSignature)
	// Expiry: at NotAfter still valid; the earliest along the chain counts.
	exp := Chain{forge(d.Key, d.ID, nil, Grant{Role: RoleAdmin, Subject: admin.Public(), Box: admin.BoxPublic(), NotAfter: 50})}
	exp = exp.Extend(forge(admin.Sign, d.ID, exp.Leaf(), Grant{Role: RoleRead, Subject: x.Public(), Box: x.BoxPublic(), NotAfter: 70}))
	m, err := Verify(exp, d.Public, 50)
	must(t, err)
	if m.NotAfter != 50 {
		t.Fatalf("NotAfter = %d, want the root's 50", m.NotAfter)
	}
	_, err = Verify(exp, d.Public, 60)
	wantReason(t, err, vocab.ReasonExpired)
}

func TestIssueRefusesWhatVerifyWould(t *testing.T) {
	d := newDoc(t, 1)
	admin, writer, x := newDevice(t, 1), newDevice(t, 2), newDevice(t, 3)
	w := grantTo(t, admin.Sign, d.ID, grantTo(t, d.Key, d.ID, nil, admin, RoleAdmin), writer, RoleWrite)
	_, err := Issue(writer.Sign, d.ID, w.Leaf(), Grant{Role: RoleRead, Subject: x.Public(), Box: x.BoxPublic()})
	wantReason(t, err, vocab.ReasonCapability)
	_, err = Issue(x.Sign, d.ID, w[0], Grant{Role: RoleRead, Subject: x.Public(), Box: x.BoxPublic()})
	wantReason(t, err, vocab.ReasonCapability)
	_, err = Issue(admin.Sign, d.ID, nil, Grant{Role: RoleRead, Subject: x.Public(), Box: x.BoxPublic()})
	wantReason(t, err, vocab.ReasonCapability)
}

func TestChainBounds(t *testing.T) {
	d := newDoc(t, 1)
	var c Chain
	issuer := d.Key
	for i := range MaxChainLinks + 1 {
		dev := newDevice(t, uint64(10+i))
		c = grantTo(t, issuer, d.ID, c, dev, RoleAdmin)
		issuer = dev.Sign
	}
	if _, err := Verify(c[:MaxChainLinks], d.Public, 0); err != nil {
		t.Fatalf("a chain of %d links: %v", MaxChainLinks, err)
	}
	_, err := Verify(c, d.Public, 0)
	wantReason(t, err, vocab.ReasonOversized)
	_, err = ParseChain(c.Marshal())
	wantReason(t, err, vocab.ReasonMalformed)
	if _, err := ParseChain(c[:MaxChainLinks].Marshal()); err != nil {
		t.Fatal(err)
	}
	if n := len(c[:MaxChainLinks].Marshal()); n > MaxChainBytes {
		t.Fatalf("a full chain is %d bytes, over MaxChainBytes %d", n, MaxChainBytes)
	}
	_, err = ParseChain(make([]byte, MaxChainBytes+1))
	wantReason(t, err, vocab.ReasonOversized)
	// A pull link without a box is fine; a box of the wrong size is not.
	x := newDevice(t, 99)
	pull, err := Issue(d.Key, d.ID, nil, Grant{Role: RolePull, Subject: x.Public()})
	must(t, err)
	if m, err := Verify(Chain{pull}, d.Public, 0); err != nil || m.Role != RolePull {
		t.Fatalf("pull chain: %v %v", m, err)
	}
	_, err = Issue(d.Key, d.ID, nil, Grant{Role: RolePull, Subject: x.Public(), Box: []byte{1}})
	wantReason(t, err, vocab.ReasonMalformed)
}
