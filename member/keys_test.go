package member

import (
	"bytes"
	"testing"

	"weft/vocab"
)

func TestNewDocumentIsSelfCertifying(t *testing.T) {
	d := newDoc(t, 1)
	if again := newDoc(t, 1); again.ID != d.ID || again.Secret != d.Secret {
		t.Fatal("the same random bytes made different documents")
	}
	if other := newDoc(t, 2); other.ID == d.ID || other.Secret == d.Secret {
		t.Fatal("different random bytes made the same document")
	}
	must(t, CheckDocKey(d.ID, d.Public))
	wantReason(t, CheckDocKey(d.ID, newDoc(t, 2).Public), vocab.ReasonWrongDocument)
	wantReason(t, CheckDocKey(d.ID, d.Public[:31]), vocab.ReasonMalformed)
	if d.Secret == (Secret{}) {
		t.Fatal("zero read secret")
	}
}

func TestGenesis(t *testing.T) {
	d := newDoc(t, 1)
	b := d.Genesis().Marshal()
	g, err := ParseGenesis(b, d.ID)
	must(t, err)
	if g.Doc() != d.ID || !g.DocKey.Equal(d.Public) {
		t.Fatal("genesis round trip changed it")
	}
	if _, err := ParseGenesis(b, vocab.DocID{}); err != nil {
		t.Fatal(err)
	}
	_, err = ParseGenesis(b, newDoc(t, 2).ID)
	wantReason(t, err, vocab.ReasonWrongDocument)
	bad := bytes.Clone(b)
	bad[len(bad)-1] ^= 1
	_, err = ParseGenesis(bad, d.ID)
	wantReason(t, err, vocab.ReasonSignature)
	// Another key's genesis, signed by it, names another document.
	other := newDoc(t, 3).Genesis().Marshal()
	_, err = ParseGenesis(other, d.ID)
	wantReason(t, err, vocab.ReasonWrongDocument)
	_, err = ParseGenesis(append(bytes.Clone(b), 0), d.ID)
	wantReason(t, err, vocab.ReasonMalformed)
}

func TestRoles(t *testing.T) {
	type can struct{ pull, read, write, delegate bool }
	for r, want := range map[Role]can{
		RoleNone:  {},
		RolePull:  {pull: true},
		RoleRead:  {pull: true, read: true},
		RoleWrite: {pull: true, read: true, write: true},
		RoleAdmin: {pull: true, read: true, write: true, delegate: true},
		Role(5):   {},
	} {
		if got := (can{r.CanPull(), r.CanRead(), r.CanWrite(), r.CanDelegate()}); got != want {
			t.Errorf("%v: %+v, want %+v", r, got, want)
		}
	}
	for a := RolePull; a <= RoleAdmin; a++ {
		for b := RolePull; b <= RoleAdmin; b++ {
			if a.Covers(b) != (a >= b) {
				t.Errorf("%v covers %v: %v", a, b, a.Covers(b))
			}
			if a.MayGrant(b) != (a == RoleAdmin) {
				t.Errorf("%v may grant %v: %v", a, b, a.MayGrant(b))
			}
		}
		if p, err := ParseRole(a.String()); err != nil || p != a {
			t.Errorf("ParseRole(%q) = %v, %v", a.String(), p, err)
		}
	}
	if _, err := ParseRole("owner"); err == nil {
		t.Error("ParseRole accepted an unknown role")
	}
}
