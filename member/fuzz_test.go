package member

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"weft/vocab"
)

// The fuzz targets decode hostile bytes: nothing may panic, and whatever
// decodes must encode back to the same bytes (one byte form per record).
// Their committed seeds (testdata/fuzz) are valid records of a fixed
// document and a few broken ones; -write-seeds regenerates them.

var writeSeeds = flag.Bool("write-seeds", false, "rewrite testdata/fuzz from the records the tests make")

// fixture is one document with a record of every kind.
type fixture struct {
	doc        *Document
	dev        *Device
	chain      Chain
	invite     *Invite
	header     *Header
	sealed     []byte
	proof      *Proof
	revocation *Revocation
	keyring    *Keyring
}

func newFixture(t testing.TB) *fixture {
	f := &fixture{doc: newDoc(t, 1), dev: newDevice(t, 1)}
	d := f.doc
	f.chain = grantTo(t, d.Key, d.ID, nil, f.dev, RoleAdmin)
	var err error
	f.invite, err = NewInvite(detRand(5), f.dev.Sign, f.chain, d.Public, InviteGrant{Role: RoleWrite, Label: "bob", NotAfter: 1 << 40}, 0, &d.Secret)
	must(t, err)
	hs := chainOf(t, f.dev, AgentOf(f.dev.Public()), d.ID, 2, true)
	f.header = hs[1]
	f.keyring = NewKeyring(d.ID)
	must(t, f.keyring.Add(0, &d.Secret))
	f.sealed, err = f.keyring.Seal(detRand(6), PurposePayload, []byte("marker"), f.header.SealedAD())
	must(t, err)
	fork := resigned(t, f.dev, hs[1], func(h *Header) { h.PayloadHash[0] ^= 1 })
	f.proof, err = NewProof(hs[1], fork)
	must(t, err)
	x := newDevice(t, 2)
	next, _ := NewSecret(detRand(7))
	rk, err := NewRekey(detRand(8), d.ID, 1, next, 0, &d.Secret, [][]byte{f.dev.BoxPublic()})
	must(t, err)
	f.revocation, err = Revoke(f.dev.Sign, f.chain, d.ID, x.Public(), vocab.Version{AgentOf(x.Public()): 4}, rk)
	must(t, err)
	return f
}

// seeds returns each fuzz target's seed inputs.
func (f *fixture) seeds() map[string][]any {
	mutations := func(b []byte) []any {
		cut := bytes.Clone(b[:len(b)/2])
		flipped := bytes.Clone(b)
		flipped[len(flipped)/3] ^= 0x20
		return []any{b, cut, flipped, []byte{}}
	}
	inv := f.invite.String()
	return map[string][]any{
		"FuzzParseGenesis":    mutations(f.doc.Genesis().Marshal()),
		"FuzzParseChain":      mutations(f.chain.Marshal()),
		"FuzzParseInvite":     {inv, inv[:len(inv)/2], strings.Replace(inv, "A", "B", 1), "weft:invite/"},
		"FuzzOpenSealed":      mutations(f.sealed),
		"FuzzParseHeader":     mutations(f.header.Marshal()),
		"FuzzParseProof":      mutations(f.proof.Marshal()),
		"FuzzParseRevocation": mutations(f.revocation.Marshal()),
	}
}

func TestWriteSeeds(t *testing.T) {
	if !*writeSeeds {
		t.Skip("run with -write-seeds to regenerate testdata/fuzz")
	}
	for target, inputs := range newFixture(t).seeds() {
		dir := filepath.Join("testdata", "fuzz", target)
		must(t, os.RemoveAll(dir))
		must(t, os.MkdirAll(dir, 0o755))
		for i, in := range inputs {
			var line string
			switch v := in.(type) {
			case []byte:
				line = fmt.Sprintf("[]byte(%q)", v)
			case string:
				line = fmt.Sprintf("string(%q)", v)
			}
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte("go test fuzz v1\n"+line+"\n"), 0o644))
		}
	}
}

// The first seed of each target is valid: the fuzzers start from records
// that get past the decoder.
func TestSeedsDecode(t *testing.T) {
	fx := newFixture(t)
	s := fx.seeds()
	first := func(name string) []byte { return s[name][0].([]byte) }
	_, err := ParseGenesis(first("FuzzParseGenesis"), fx.doc.ID)
	must(t, err)
	_, err = ParseChain(first("FuzzParseChain"))
	must(t, err)
	_, err = ParseInvite(s["FuzzParseInvite"][0].(string))
	must(t, err)
	_, err = fx.keyring.Open(PurposePayload, first("FuzzOpenSealed"), fx.header.SealedAD())
	must(t, err)
	_, err = ParseHeader(first("FuzzParseHeader"), fx.doc.ID)
	must(t, err)
	_, err = ParseProof(first("FuzzParseProof"), fx.doc.ID)
	must(t, err)
	r, err := ParseRevocation(first("FuzzParseRevocation"))
	must(t, err)
	must(t, VerifyRevocation(r, fx.doc.Public, 0))
}

// decodesBack parses data and fails t unless what parses encodes back to
// data. It returns the record, or the zero R (nil) when data does not
// parse.
func decodesBack[R interface{ Marshal() []byte }](t *testing.T, what string, data []byte, parse func([]byte) (R, error)) R {
	t.Helper()
	r, err := parse(data)
	if err != nil {
		var zero R
		return zero
	}
	if !bytes.Equal(r.Marshal(), data) {
		t.Fatalf("%s does not encode back to its bytes", what)
	}
	return r
}

func FuzzParseGenesis(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		g := decodesBack(t, "genesis", data, func(b []byte) (*Genesis, error) { return ParseGenesis(b, vocab.DocID{}) })
		if g == nil {
			return
		}
		if _, err := ParseGenesis(data, fx.doc.ID); err == nil && g.Doc() != fx.doc.ID {
			t.Fatal("genesis of another document accepted")
		}
	})
}

func FuzzParseChain(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c := decodesBack(t, "chain", data, ParseChain)
		if c == nil {
			return
		}
		if m, err := Verify(c, fx.doc.Public, 0); err == nil && !m.Role.Valid() {
			t.Fatal("a verified chain grants no role")
		}
	})
}

func FuzzParseInvite(f *testing.F) {
	joiner := newDevice(f, 9)
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvite(s)
		if err != nil {
			return
		}
		if inv.String() != strings.TrimSpace(s) {
			t.Fatal("invite does not encode back to its string")
		}
		c, err := Join(inv, joiner, RoleNone, "", 0)
		if err != nil {
			return
		}
		if m, err := Verify(c, inv.DocKey, 0); err != nil || m.Role != inv.Role() {
			t.Fatalf("a joined chain does not verify: %v", err)
		}
	})
}

func FuzzOpenSealed(f *testing.F) {
	fx := newFixture(f)
	ad := fx.header.SealedAD()
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSealed(data)
		if err != nil {
			return
		}
		pt, err := fx.keyring.Open(s.Purpose, data, ad)
		if err == nil && !bytes.Equal(data, fx.sealed) {
			t.Fatalf("forged sealed bytes open: %q", pt)
		}
	})
}

func FuzzParseHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		loose, hash, looseErr := parseHeader(data, vocab.DocID{}) // ParseRun's path
		h := decodesBack(t, "header", data, func(b []byte) (*Header, error) { return ParseHeader(b, vocab.DocID{}) })
		if h == nil {
			if looseErr == nil {
				_, _ = ParseRun([][]byte{data}, loose.Doc, loose.Prev)
			}
			return
		}
		if looseErr != nil || hash != h.Hash() {
			t.Fatalf("a canonical header parses differently for runs (%v)", looseErr)
		}
		_ = h.Verify()
		_ = VerifyRun([]*Header{h}, h.Prev)
	})
}

func FuzzParseProof(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		decodesBack(t, "proof", data, func(b []byte) (*Proof, error) { return ParseProof(b, vocab.DocID{}) })
	})
}

func FuzzParseRevocation(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r := decodesBack(t, "revocation", data, ParseRevocation)
		if r != nil && VerifyRevocation(r, fx.doc.Public, IgnoreExpiry) == nil {
			if _, err := r.Rekey.Open(fx.doc.ID, fx.dev.Box); err != nil && vocab.Reason(err) != vocab.ReasonRevoked && vocab.Reason(err) != vocab.ReasonDecrypt {
				t.Fatalf("rekey: %v", err)
			}
		}
	})
}
