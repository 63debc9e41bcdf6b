package member

import (
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"weft/vocab"
)

// The fuzz targets decode hostile bytes: nothing may panic, and whatever
// decodes must encode back to the same bytes (one byte form per record).
// The targets of the wire and disk decoders (envelope.go, book.go,
// route.go) also require every refusal to be a rejection (vocab.ErrRejected,
// naming its reason): what a peer or the disk sent is counted, not crashed
// on or logged as an internal error.
// Their committed seeds (testdata/fuzz) are valid records of a fixed
// document and a few broken ones; -write-seeds regenerates them. (A
// rekey's boxes are sealed with fresh HPKE randomness whatever reader is
// given, so the seeds that hold a revocation come out different on each
// write: commit only what changed.)

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
	next       *Secret // epoch 1's, made by the revocation's rekey

	envelope *Envelope // a signed header and its sealed payload
	route    *RouteKey
	topic    string
	writer   Chain // a writer the admin granted (the revocation's subject)
	joined   Chain // a device that redeemed the invite
	local    *Local
	peers    [2][]byte // two peer IDs (binary, as libp2p gives them)
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
	f.next = next

	// The records of the wire and the disk (made from fresh readers, so
	// the records above, and their seeds, stay as they were).
	eh := resigned(t, f.dev, f.header, func(h *Header) { h.SetPayload(f.sealed) }) // SealedAD does not cover the payload hash
	f.envelope, err = NewEnvelope(eh, f.sealed)
	must(t, err)
	f.route, err = NewRouteKey(d.ID)
	must(t, err)
	f.topic = "weft/doc/" + TopicHex(d.ID)
	f.writer = grantTo(t, f.dev.Sign, d.ID, f.chain, x, RoleWrite)
	f.joined, err = Join(f.invite, newDevice(t, 3), RoleNone, "", 0)
	must(t, err)
	f.local = &Local{DocKey: d.Key, Chain: f.chain, Secrets: []EpochSecret{{0, d.Secret}, {1, *next}}}
	for i, dev := range []*Device{f.dev, x} {
		// A libp2p peer ID of an Ed25519 key: identity multihash of the
		// key's protobuf.
		f.peers[i] = append([]byte{0x00, 0x24, 0x08, 0x01, 0x12, 0x20}, dev.Public()...)
	}
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
	routed := func(plain []byte) []byte {
		b, err := f.route.Seal(f.topic, plain)
		if err != nil {
			panic(err)
		}
		return b
	}
	// Books are kept small (a few hundred bytes): the fuzzer minimizes
	// every input that finds new code, in time quadratic in its length.
	book := func(cs []Chain, rs []*Revocation, ps []*Proof) []byte {
		w := bookWire{V: Format, DocKey: f.doc.Public, Chains: [][]byte{}, Revocations: [][]byte{}, Proofs: [][]byte{}}
		for _, c := range cs {
			w.Chains = append(w.Chains, c.Marshal())
		}
		for _, r := range rs {
			w.Revocations = append(w.Revocations, r.Marshal())
		}
		for _, p := range ps {
			w.Proofs = append(w.Proofs, p.Marshal())
		}
		return marshal(w)
	}
	localOf := func(l Local) []byte { return l.Marshal() }
	mac := OpenMAC(f.doc.ID, f.peers[0], f.peers[1])
	return map[string][]any{
		"FuzzParseGenesis":    mutations(f.doc.Genesis().Marshal()),
		"FuzzParseChain":      mutations(f.chain.Marshal()),
		"FuzzParseInvite":     {inv, inv[:len(inv)/2], strings.Replace(inv, "A", "B", 1), "weft:invite/"},
		"FuzzOpenSealed":      mutations(f.sealed),
		"FuzzParseHeader":     mutations(f.header.Marshal()),
		"FuzzParseProof":      mutations(f.proof.Marshal()),
		"FuzzParseRevocation": mutations(f.revocation.Marshal()),

		"FuzzKind":               {f.envelope.Raw, Announce(f.chain), AnnounceRevocation(f.revocation), marshal([]uint64{6}), []byte{0x80}, AnnounceProof(f.proof), PresenceMsg([]byte("sealed")), DurableMsg([]byte{0x84, 1, 0x40, 0xa0, 1})},
		"FuzzParseFramed":        append(mutations(PresenceMsg([]byte("sealed presence"))), DurableMsg([]byte{0x84, 1, 0x40, 0xa0, 1}), marshal(announceWire{V: KindPresence, Chain: []byte{}})),
		"FuzzParseEnvelope":      mutations(f.envelope.Raw),
		"FuzzParseAnnounce":      mutations(Announce(f.chain)),
		"FuzzParseRevocationMsg": mutations(AnnounceRevocation(f.revocation)),
		"FuzzParseProofMsg":      mutations(AnnounceProof(f.proof)),
		// The valid books first (TestSeedsDecode): the admin alone, with
		// the invited device, with the writer (chains in either order),
		// with the writer's revocation, with a proof of the admin's fork.
		"FuzzParseBook": append([]any{
			book([]Chain{f.chain}, nil, nil),
			book([]Chain{f.chain, f.joined}, nil, nil),
			book([]Chain{f.chain, f.writer}, nil, nil),
			book([]Chain{f.writer, f.chain}, nil, nil),
			book([]Chain{f.chain}, []*Revocation{f.revocation}, nil),
			book([]Chain{f.chain}, nil, []*Proof{f.proof}),
		}, mutations(book([]Chain{f.chain, f.writer}, nil, nil))[1:]...),
		"FuzzParseLocal": append(mutations(f.local.Marshal()),
			localOf(Local{Chain: f.chain, Secrets: []EpochSecret{{1, *f.next}, {0, f.doc.Secret}}})), // no document key, secrets out of order
		"FuzzRouteOpen": {
			[]any{f.topic, routed(f.envelope.Raw)},
			[]any{f.topic, routed(Announce(f.chain))},
			[]any{f.topic, routed(AnnounceRevocation(f.revocation))},
			[]any{"weft/doc/other", routed(Announce(f.chain))},
			[]any{f.topic, f.sealed}, // a payload's seal, not a route's
			[]any{f.topic, []byte{}},
		},
		"FuzzCheckOpenMAC": {
			[]any{f.peers[0], f.peers[1], mac},
			[]any{f.peers[1], f.peers[0], mac},
			[]any{f.peers[0], f.peers[1], mac[:16]},
			[]any{bytes.Repeat([]byte{1}, maxPeerIDBytes+1), f.peers[1], mac},
		},
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
			args, ok := in.([]any) // a target of several arguments
			if !ok {
				args = []any{in}
			}
			text := "go test fuzz v1\n"
			for _, a := range args {
				switch v := a.(type) {
				case []byte:
					text += fmt.Sprintf("[]byte(%q)\n", v)
				case string:
					text += fmt.Sprintf("string(%q)\n", v)
				default:
					t.Fatalf("%s: seed argument of type %T", target, a)
				}
			}
			must(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-%d", i)), []byte(text), 0o644))
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

	for _, in := range s["FuzzKind"][:3] {
		_, err = Kind(in.([]byte))
		must(t, err)
	}
	_, err = ParseEnvelope(first("FuzzParseEnvelope"), fx.doc.ID)
	must(t, err)
	_, err = ParseAnnounce(first("FuzzParseAnnounce"))
	must(t, err)
	_, err = ParseRevocationMsg(first("FuzzParseRevocationMsg"))
	must(t, err)
	_, err = ParseProofMsg(first("FuzzParseProofMsg"), fx.doc.ID)
	must(t, err)
	_, err = ParsePresenceMsg(first("FuzzParseFramed"))
	must(t, err)
	for i, want := range [][3]int{{1, 0, 0}, {2, 0, 0}, {2, 0, 0}, {2, 0, 0}, {1, 1, 0}, {1, 0, 1}} {
		b, err := ParseBook(s["FuzzParseBook"][i].([]byte), fx.doc.ID)
		must(t, err)
		if got := [3]int{b.Len(), len(b.Revocations()), len(b.Proofs())}; got != want {
			t.Fatalf("seed book %d holds %v members, revocations and proofs; want %v", i, got, want)
		}
	}
	for _, in := range []any{s["FuzzParseLocal"][0], s["FuzzParseLocal"][4]} {
		_, err = ParseLocal(in.([]byte))
		must(t, err)
	}
	for _, in := range s["FuzzRouteOpen"][:3] {
		args := in.([]any)
		_, err = fx.route.Open(args[0].(string), args[1].([]byte))
		must(t, err)
	}
	args := s["FuzzCheckOpenMAC"][0].([]any)
	must(t, CheckOpenMAC(fx.doc.ID, args[0].([]byte), args[1].([]byte), args[2].([]byte)))
}

// refused fails t unless err is a rejection that names its reason.
func refused(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, vocab.ErrRejected) || vocab.Reason(err) == "" {
		t.Fatalf("%s: error %q is not a rejection", what, err)
	}
}

// kindIs fails t unless Kind reads data as kind.
func kindIs(t *testing.T, data []byte, kind uint64) {
	t.Helper()
	if k, err := Kind(data); err != nil || k != kind {
		t.Fatalf("a message that decodes as kind %d reads as kind %d (%v)", kind, k, err)
	}
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

func FuzzKind(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Kind(data)
		if err != nil {
			refused(t, "kind", err)
		} else if k <= Format {
			t.Fatalf("kind %d accepted: a record could be taken for a gossip message", k)
		}
		if _, err := ParseEnvelope(data, vocab.DocID{}); err == nil {
			kindIs(t, data, KindEnvelope)
		}
		if _, err := ParseAnnounce(data); err == nil {
			kindIs(t, data, KindAnnounce)
		}
		if _, err := ParseRevocationMsg(data); err == nil {
			kindIs(t, data, KindRevoke)
		}
		if _, err := ParseProofMsg(data, vocab.DocID{}); err == nil {
			kindIs(t, data, KindProof)
		}
		if _, err := ParsePresenceMsg(data); err == nil {
			kindIs(t, data, KindPresence)
		}
		if _, err := ParseDurableMsg(data); err == nil {
			kindIs(t, data, KindDurable)
		}
	})
}

// FuzzParseFramed decodes presence and durability messages: bounded,
// refused with a reason, and what decodes frames back to its bytes.
func FuzzParseFramed(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, c := range []struct {
			kind  uint64
			parse func([]byte) ([]byte, error)
			frame func([]byte) []byte
			limit int
		}{{KindPresence, ParsePresenceMsg, PresenceMsg, MaxPresenceBytes}, {KindDurable, ParseDurableMsg, DurableMsg, MaxDurableBytes}} {
			b, err := c.parse(data)
			if err != nil {
				refused(t, "framed message", err)
				continue
			}
			kindIs(t, data, c.kind)
			if len(b) == 0 || len(b) > c.limit {
				t.Fatalf("kind %d carries %d bytes", c.kind, len(b))
			}
			if !bytes.Equal(c.frame(b), data) {
				t.Fatalf("kind %d does not frame back to its bytes", c.kind)
			}
		}
	})
}

// An envelope is decoded without re-encoding (its header's hash is taken
// from its bytes), so one in a non-canonical encoding may parse: a
// non-canonical header then has a hash its signature does not cover.
// Encoding it again gives the canonical envelope, which parses back to the
// header's own hash.
func FuzzParseEnvelope(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data, vocab.DocID{})
		if err != nil {
			refused(t, "envelope", err)
			return
		}
		kindIs(t, data, KindEnvelope)
		h := e.Header
		if len(h.Sig) != ed25519.SignatureSize || h.CheckPayload(e.Payload) != nil || !bytes.Equal(e.Raw, data) {
			t.Fatal("an envelope without a signature, or with another payload, accepted")
		}
		if _, err := ParseEnvelope(data, fx.doc.ID); err != nil {
			refused(t, "envelope for a document", err)
			if h.Doc == fx.doc.ID {
				t.Fatalf("an envelope of the document refused for it: %v", err)
			}
		} else if h.Doc != fx.doc.ID {
			t.Fatalf("an envelope of %s accepted for %s", h.Doc, fx.doc.ID)
		}
		again, err := NewEnvelope(h, e.Payload)
		if err != nil {
			t.Fatalf("a parsed envelope does not encode: %v", err)
		}
		back, err := ParseEnvelope(again.Raw, h.Doc)
		if err != nil {
			t.Fatalf("a re-encoded envelope does not parse: %v", err)
		}
		if again.Hash != h.Hash() || back.Hash != again.Hash || !bytes.Equal(back.Header.Marshal(), h.Marshal()) || !bytes.Equal(back.Payload, e.Payload) {
			t.Fatal("a re-encoded envelope parses back to another header")
		}
		if bytes.Equal(again.Raw, data) && e.Hash != again.Hash {
			t.Fatal("a canonical envelope's hash is not its header's")
		}
		if e.Hash != again.Hash && h.verifySig(&e.Hash) == nil {
			t.Fatal("a non-canonical header verifies under the hash of its bytes")
		}
	})
}

func FuzzParseAnnounce(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseAnnounce(data)
		if err != nil {
			refused(t, "announcement", err)
			return
		}
		kindIs(t, data, KindAnnounce)
		if !bytes.Equal(Announce(c), data) {
			t.Fatal("announcement does not encode back to its bytes")
		}
		if m, err := Verify(c, fx.doc.Public, IgnoreExpiry); err != nil {
			refused(t, "announced chain", err)
		} else if !m.Role.Valid() {
			t.Fatal("an announced chain verifies and grants no role")
		}
	})
}

// A revocation message's third element is not read (AnnounceRevocation
// writes it empty): only messages with it empty must encode back to their
// bytes; every one re-encodes to the same revocation.
func FuzzParseRevocationMsg(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRevocationMsg(data)
		if err != nil {
			refused(t, "revocation message", err)
			return
		}
		kindIs(t, data, KindRevoke)
		msg := AnnounceRevocation(r)
		back, err := ParseRevocationMsg(msg)
		if err != nil || back.Hash() != r.Hash() {
			t.Fatalf("a re-encoded revocation message parses to another revocation (%v)", err)
		}
		var w pairWire
		if err := decMode.Unmarshal(data, &w); err != nil {
			t.Fatalf("a parsed revocation message does not decode: %v", err)
		}
		if len(w.B) == 0 && !bytes.Equal(msg, data) {
			t.Fatal("revocation message does not encode back to its bytes")
		}
		if err := VerifyRevocation(r, fx.doc.Public, IgnoreExpiry); err != nil {
			refused(t, "gossiped revocation", err)
		}
	})
}

// Like a revocation message, a proof message's third element is not read.
// A proof parses only verified (both signatures, the headers in conflict).
func FuzzParseProofMsg(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseProofMsg(data, vocab.DocID{})
		if err != nil {
			refused(t, "proof message", err)
			return
		}
		kindIs(t, data, KindProof)
		if err := p.Verify(); err != nil {
			t.Fatalf("a proof message parses to a proof that does not verify: %v", err)
		}
		if _, err := ParseProofMsg(data, fx.doc.ID); err != nil {
			refused(t, "proof message for a document", err)
			if p.A.Doc == fx.doc.ID {
				t.Fatalf("a proof of the document refused for it: %v", err)
			}
		} else if p.A.Doc != fx.doc.ID {
			t.Fatalf("a proof of %s accepted for %s", p.A.Doc, fx.doc.ID)
		}
		msg := AnnounceProof(p)
		back, err := ParseProofMsg(msg, p.A.Doc)
		if err != nil || !bytes.Equal(back.Marshal(), p.Marshal()) {
			t.Fatalf("a re-encoded proof message parses to another proof (%v)", err)
		}
		var w pairWire
		if err := decMode.Unmarshal(data, &w); err != nil {
			t.Fatalf("a parsed proof message does not decode: %v", err)
		}
		if len(w.B) == 0 && !bytes.Equal(msg, data) {
			t.Fatal("proof message does not encode back to its bytes")
		}
	})
}

// A book may arrive with its chains in any order, a device twice, a
// revocation twice, proofs of one agent twice: parsed, it encodes in one
// form, which parses back to the same roster, revocations, proofs and
// roles.
func FuzzParseBook(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBook(data, fx.doc.ID)
		if err != nil {
			refused(t, "book", err)
			return
		}
		enc := b.Marshal()
		back, err := ParseBook(enc, fx.doc.ID)
		if err != nil {
			t.Fatalf("a re-encoded book does not parse: %v", err)
		}
		if !bytes.Equal(back.Marshal(), enc) {
			t.Fatal("a re-encoded book encodes differently when parsed again")
		}
		if !back.DocKey.Equal(b.DocKey) || !slices.EqualFunc(back.Roster(), b.Roster(), bytes.Equal) {
			t.Fatal("a re-encoded book parses back to another roster")
		}
		if !slices.EqualFunc(back.Revocations(), b.Revocations(), func(x, y *Revocation) bool { return x.Hash() == y.Hash() }) {
			t.Fatal("a re-encoded book parses back to other revocations")
		}
		if !slices.EqualFunc(back.Proofs(), b.Proofs(), func(x, y *Proof) bool { return bytes.Equal(x.Marshal(), y.Marshal()) }) {
			t.Fatal("a re-encoded book parses back to other proofs")
		}
		for _, p := range b.Proofs() {
			if p.A.Doc != fx.doc.ID || p.Verify() != nil {
				t.Fatal("a book holds a proof that does not verify for its document")
			}
		}
		for _, c := range b.Chains() {
			m, pub := b.Member(c.Leaf().Subject), c.Leaf().Subject
			if got := back.Member(pub); got == nil || got.Role != m.Role || back.Revoked(pub) != b.Revoked(pub) {
				t.Fatalf("a re-encoded book grants %x otherwise", pub)
			}
			if _, err := Verify(c, fx.doc.Public, IgnoreExpiry); err != nil {
				t.Fatalf("a book holds a chain that does not verify: %v", err)
			}
		}
	})
}

// Local keys may arrive with their secrets in any order: parsed, they
// encode in epoch order, which parses back to the same keys; keys already
// in order encode back to their bytes.
func FuzzParseLocal(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLocal(data)
		if err != nil {
			refused(t, "local keys", err)
			return
		}
		enc := l.Marshal()
		back, err := ParseLocal(enc)
		if err != nil {
			t.Fatalf("re-encoded local keys do not parse: %v", err)
		}
		if !back.DocKey.Equal(l.DocKey) || !bytes.Equal(back.Chain.Marshal(), l.Chain.Marshal()) || !slices.Equal(back.Secrets, l.Secrets) || !bytes.Equal(back.Marshal(), enc) {
			t.Fatal("re-encoded local keys parse back to other keys")
		}
		var w localWire
		if err := decMode.Unmarshal(data, &w); err != nil {
			t.Fatalf("parsed local keys do not decode: %v", err)
		}
		inOrder := slices.IsSortedFunc(w.Secrets, func(x, y secretWire) int { return cmp.Compare(x.Epoch, y.Epoch) })
		if inOrder && !bytes.Equal(enc, data) {
			t.Fatal("local keys in epoch order do not encode back to their bytes")
		}
		if _, err := l.Keyring(fx.doc.ID); err != nil {
			refused(t, "local keys' keyring", err)
		}
	})
}

// The route seal's nonce is synthetic and every byte of the sealed form
// is authenticated: whatever opens is exactly the seal of what it opens
// to, and under no other topic.
func FuzzRouteOpen(f *testing.F) {
	fx := newFixture(f)
	f.Fuzz(func(t *testing.T, topic string, data []byte) {
		pt, err := fx.route.Open(topic, data)
		if err != nil {
			refused(t, "gossip message", err)
			return
		}
		again, err := fx.route.Seal(topic, pt)
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("a gossip message opens that is not its plaintext's seal (%v)", err)
		}
		if _, err := fx.route.Open(topic+"x", data); err == nil {
			t.Fatal("a gossip message opens under another topic")
		}
	})
}

// An open MAC checks exactly when it is the MAC of this document and this
// pair of peers in this order: not reversed, not with the bytes split
// between the peers otherwise, not for another document.
func FuzzCheckOpenMAC(f *testing.F) {
	fx := newFixture(f)
	other := newDoc(f, 2).ID
	f.Fuzz(func(t *testing.T, from, to, mac []byte) {
		err := CheckOpenMAC(fx.doc.ID, from, to, mac)
		want := len(from) <= maxPeerIDBytes && len(to) <= maxPeerIDBytes && hmac.Equal(mac, OpenMAC(fx.doc.ID, from, to))
		if (err == nil) != want {
			t.Fatalf("open MAC check: %v, want it to pass: %v", err, want)
		}
		if err != nil {
			refused(t, "open MAC", err)
			return
		}
		if !bytes.Equal(from, to) && CheckOpenMAC(fx.doc.ID, to, from, mac) == nil {
			t.Fatal("an open MAC checks for the reversed pair")
		}
		if len(to) > 0 && len(from) < maxPeerIDBytes && CheckOpenMAC(fx.doc.ID, append(bytes.Clone(from), to[0]), to[1:], mac) == nil {
			t.Fatal("an open MAC checks for the peer IDs split otherwise")
		}
		if CheckOpenMAC(other, from, to, mac) == nil {
			t.Fatal("an open MAC checks for another document")
		}
	})
}

// A checkpoint read back from disk: never a panic, refusals are
// rejections, and its state opens only under its own heads.
func FuzzParseCheckpoint(f *testing.F) {
	fx := newFixture(f)
	good, err := NewCheckpoint(fx.keyring, rand.Reader, fx.doc.ID, []*Header{fx.header}, []byte("state"), fx.dev.Sign)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, raw, err := ParseCheckpoint(data, fx.doc.ID)
		if err != nil {
			refused(t, "checkpoint", err)
			return
		}
		if _, err := OpenCheckpoint(fx.keyring, fx.doc.ID, c, raw); err == nil && len(raw) > 0 && !bytes.Equal(data, good) {
			// Opening proves the state was sealed for these heads; a
			// mutated heads list must not open.
			c2, raw2, _ := ParseCheckpoint(good, fx.doc.ID)
			if !bytes.Equal(marshal(raw), marshal(raw2)) && bytes.Equal(c.State, c2.State) {
				t.Fatal("a checkpoint's state opened under other heads")
			}
		}
	})
}
