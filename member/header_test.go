package member

import (
	"bytes"
	"crypto/ed25519"
	"strings"
	"testing"

	"weft/vocab"
)

// chainOf makes n signed, hash-linked headers of agent (each of len 2),
// sealing a payload for each under keys.
func chainOf(t testing.TB, dev *Device, agent string, doc vocab.DocID, n int, signAll bool) []*Header {
	t.Helper()
	hs := make([]*Header, n)
	var prev [32]byte
	for i := range n {
		h := &Header{Doc: doc, Header: vocab.Header{Agent: agent, Seq: uint64(2 * i), Len: 2}, Prev: prev}
		if i > 0 {
			h.Parents = []vocab.ID{{Agent: agent, Seq: uint64(2*i - 1)}}
		}
		h.SetPayload([]byte{byte(i), byte(i >> 8)})
		if signAll || i == n-1 {
			must(t, h.Sign(dev.Sign))
		}
		prev = h.Hash()
		hs[i] = h
	}
	return hs
}

func TestAgents(t *testing.T) {
	dev, other := newDevice(t, 1), newDevice(t, 2)
	a := AgentOf(dev.Public())
	if len(a) != DeviceIDLen || !OwnsAgent(dev.Public(), a) || OwnsAgent(other.Public(), a) {
		t.Fatalf("agent %q", a)
	}
	tab, err := TabAgent(dev.Public(), strings.Repeat("x", MaxAgentSuffix))
	must(t, err)
	if len(tab) != vocab.MaxAgentLen || vocab.CheckAgent(tab) != nil || !OwnsAgent(dev.Public(), tab) {
		t.Fatalf("tab agent %q", tab)
	}
	if k, err := DeviceOf(tab); err != nil || !k.Equal(dev.Public()) {
		t.Fatalf("DeviceOf(%q) = %v", tab, err)
	}
	for _, s := range []string{"", strings.Repeat("x", MaxAgentSuffix+1), "a.b", "a b", "é"} {
		if _, err := TabAgent(dev.Public(), s); err == nil {
			t.Errorf("tab suffix %q accepted", s)
		}
	}
	for _, bad := range []string{"", "local", a + ".", a + ".a.b", a[:42], a + "x", strings.ToUpper(a[:1]) + a[1:] + "?", "12D3KooWabc"} {
		if OwnsAgent(dev.Public(), bad) {
			t.Errorf("agent %q owned", bad)
		}
		if _, err := DeviceOf(bad); err == nil && bad != a {
			t.Errorf("DeviceOf(%q) accepted", bad)
		}
	}
}

func TestHeaderSignParse(t *testing.T) {
	d := newDoc(t, 1)
	dev, other := newDevice(t, 1), newDevice(t, 2)
	hs := chainOf(t, dev, AgentOf(dev.Public()), d.ID, 3, true)
	h := hs[2]
	h.Parents = append(h.Parents, vocab.ID{Agent: AgentOf(other.Public()), Seq: 7})
	must(t, h.Sign(dev.Sign))
	b := h.Marshal()
	got, err := ParseHeader(b, d.ID)
	must(t, err)
	must(t, got.Verify())
	if !bytes.Equal(got.Marshal(), b) || got.Hash() != h.Hash() {
		t.Fatal("header round trip changed it")
	}
	_, err = ParseHeader(b, newDoc(t, 2).ID)
	wantReason(t, err, vocab.ReasonWrongDocument)
	// A signature by another device, under this agent: refused.
	forged := *h
	hash := forged.Hash()
	forged.Sig = ed25519.Sign(other.Sign, signed(domainHeader, hash[:]))
	wantReason(t, forged.Verify(), vocab.ReasonSignature)
	wantReason(t, (&forged).Sign(other.Sign), vocab.ReasonAgentOwner)
	// Every field is covered.
	for name, mutate := range map[string]func(*Header){
		"seq":     func(h *Header) { h.Seq++ },
		"len":     func(h *Header) { h.Len++ },
		"epoch":   func(h *Header) { h.Epoch++ },
		"payload": func(h *Header) { h.PayloadHash[0] ^= 1 },
		"prev":    func(h *Header) { h.Prev[0] ^= 1 },
		"parents": func(h *Header) { h.Parents = h.Parents[:1] },
		"doc":     func(h *Header) { h.Doc[0] ^= 1 },
	} {
		c := *h
		c.Parents = append([]vocab.ID(nil), h.Parents...)
		mutate(&c)
		if c.Verify() == nil {
			t.Errorf("changing %s keeps the signature valid", name)
		}
	}
	// The payload and the associated data it is sealed with.
	sealedPayload := []byte{2, 0}
	must(t, h.CheckPayload(sealedPayload))
	wantReason(t, h.CheckPayload([]byte{2, 1}), vocab.ReasonHeaderMismatch)
	c := *h
	c.Seq += 2
	c.Prev[0] ^= 1
	if bytes.Equal(c.SealedAD(), h.SealedAD()) {
		t.Fatal("the sealed payload's associated data does not name its header")
	}
	// Structure.
	bad := *hs[0]
	bad.Prev[0] = 1 // a prev at seq 0
	wantReason(t, bad.Check(), vocab.ReasonHashChain)
	bad = *hs[1]
	bad.Prev = [32]byte{}
	wantReason(t, bad.Check(), vocab.ReasonHashChain)
	bad = *hs[0]
	bad.Agent = "local"
	wantReason(t, bad.Check(), vocab.ReasonAgentOwner)
	_, err = ParseHeader(append(bytes.Clone(b), 0), d.ID)
	wantReason(t, err, vocab.ReasonMalformed)
	_, err = ParseHeader(make([]byte, MaxHeaderBytes+1), d.ID)
	wantReason(t, err, vocab.ReasonOversized)
}

func TestVerifyRun(t *testing.T) {
	d := newDoc(t, 1)
	dev := newDevice(t, 1)
	agent := AgentOf(dev.Public())
	hs := chainOf(t, dev, agent, d.ID, 50, false)
	must(t, VerifyRun(hs, [32]byte{}))
	must(t, VerifyRun(hs[10:], hs[9].Hash()))
	// Through the wire without the older signatures.
	parsed := make([]*Header, len(hs))
	for i, h := range hs {
		var err error
		parsed[i], err = ParseHeader(h.Marshal(), d.ID)
		must(t, err)
	}
	must(t, VerifyRun(parsed, [32]byte{}))
	// A run whose newest header is unsigned, or signed by someone else.
	wantReason(t, VerifyRun(hs[:10], [32]byte{}), vocab.ReasonSignature)
	// Anchored at the wrong previous header.
	wantReason(t, VerifyRun(hs[10:], hs[8].Hash()), vocab.ReasonHashChain)
	// A header changed in the middle breaks the chain of hashes.
	for _, mutate := range []func(*Header){
		func(h *Header) { h.PayloadHash[3] ^= 1 },
		func(h *Header) { h.Epoch = 9 },
		func(h *Header) { h.Parents = nil },
	} {
		changed := append([]*Header(nil), hs...)
		c := *hs[20]
		mutate(&c)
		changed[20] = &c
		wantReason(t, VerifyRun(changed, [32]byte{}), vocab.ReasonHashChain)
	}
	// A gap, and another agent in the run.
	gap := append(append([]*Header(nil), hs[:20]...), hs[21:]...)
	wantReason(t, VerifyRun(gap, [32]byte{}), vocab.ReasonHashChain)
	tab, _ := TabAgent(dev.Public(), "t1")
	mixed := append(append([]*Header(nil), hs[:49]...), chainOf(t, dev, tab, d.ID, 1, true)...)
	wantReason(t, VerifyRun(mixed, [32]byte{}), vocab.ReasonHashChain)
	must(t, VerifyRun(nil, [32]byte{}))
}

func TestParseRun(t *testing.T) {
	d := newDoc(t, 1)
	dev := newDevice(t, 1)
	hs := chainOf(t, dev, AgentOf(dev.Public()), d.ID, 30, false)
	must(t, hs[7].Sign(dev.Sign)) // an older header may carry its signature
	raws := make([][]byte, len(hs))
	for i, h := range hs {
		raws[i] = h.Marshal()
		// The hash taken from the bytes is the hash.
		if _, hh, err := parseHeader(raws[i], d.ID); err != nil || hh != h.Hash() {
			t.Fatalf("header %d: hash from its bytes differs (%v)", i, err)
		}
	}
	run, err := ParseRun(raws, d.ID, [32]byte{})
	must(t, err)
	if len(run) != len(hs) || run[29].Hash() != hs[29].Hash() {
		t.Fatal("ParseRun returned other headers")
	}
	_, err = ParseRun(raws[1:], d.ID, [32]byte{})
	wantReason(t, err, vocab.ReasonHashChain)
	_, err = ParseRun(raws[:29], d.ID, [32]byte{})
	wantReason(t, err, vocab.ReasonSignature)
	_, err = ParseRun(raws, newDoc(t, 2).ID, [32]byte{})
	wantReason(t, err, vocab.ReasonWrongDocument)
	swapped := append([][]byte(nil), raws...)
	swapped[3], swapped[4] = swapped[4], swapped[3]
	_, err = ParseRun(swapped, d.ID, [32]byte{})
	wantReason(t, err, vocab.ReasonHashChain)
	// A non-canonical encoding of a header (its array head in a longer
	// form) decodes to the same fields, but its hash is not the one the
	// next header names: refused.
	long := append([]byte{0x9a, 0, 0, 0, 10}, raws[10][1:]...)
	_, err = ParseHeader(long, d.ID)
	wantReason(t, err, vocab.ReasonMalformed)
	noncanon := append([][]byte(nil), raws...)
	noncanon[10] = long
	_, err = ParseRun(noncanon, d.ID, [32]byte{})
	if err == nil {
		t.Fatal("a run with a non-canonical header verifies")
	}
	if run, err := ParseRun(nil, d.ID, [32]byte{}); err != nil || len(run) != 0 {
		t.Fatal("an empty run")
	}
}
