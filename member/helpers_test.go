package member

import (
	"crypto/ed25519"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"weft/vocab"
)

// detRand is a deterministic reader for tests: the same seed, the same
// keys.
func detRand(seed uint64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

func newDoc(t testing.TB, seed uint64) *Document {
	t.Helper()
	d, err := NewDocument(detRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newDevice(t testing.TB, seed uint64) *Device {
	t.Helper()
	var s [ed25519.SeedSize]byte
	if _, err := io.ReadFull(detRand(seed+1000), s[:]); err != nil {
		t.Fatal(err)
	}
	d, err := DeviceFrom(ed25519.NewKeyFromSeed(s[:]))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// grantTo issues a link to dev under parent.
func grantTo(t testing.TB, issuer ed25519.PrivateKey, doc vocab.DocID, chain Chain, dev *Device, role Role) Chain {
	t.Helper()
	l, err := Issue(issuer, doc, chain.Leaf(), Grant{Role: role, Subject: dev.Public(), Box: dev.BoxPublic(), Label: role.String()})
	if err != nil {
		t.Fatal(err)
	}
	return chain.Extend(l)
}

// wantReason fails unless err is a rejection for reason.
func wantReason(t testing.TB, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want a %q rejection", reason)
	}
	if !errors.Is(err, vocab.ErrRejected) || vocab.Reason(err) != reason {
		t.Fatalf("error %q has reason %q; want %q", err, vocab.Reason(err), reason)
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func signWith(dev *Device, hash [32]byte) []byte {
	return ed25519.Sign(dev.Sign, signed(domainHeader, hash[:]))
}

// resigned returns a copy of h, changed by change and signed again by dev.
func resigned(t testing.TB, dev *Device, h *Header, change func(*Header)) *Header {
	t.Helper()
	c := *h
	c.Sig = nil
	change(&c)
	must(t, c.Sign(dev.Sign))
	return &c
}
