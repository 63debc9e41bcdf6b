package member

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"

	"weft/vocab"
)

// Test vectors for implementations of the members-only formats written
// elsewhere: the js-libp2p interop peer (e2e/interop, `npm test`) checks
// its own codec against testdata/vectors/members.json, and TestVectors
// checks that this package still produces exactly those bytes. Everything
// is made from fixed seeds with a counter-mode SHA-256 reader (not a Go
// generator, so the bytes never depend on the Go version); Ed25519
// signatures are deterministic. Rewrite the file with
//
//	go test ./member/ -run '^TestVectors$' -update
//
// only when a format changes on purpose (and say so in the commit).
//
// The route seal, the topic names and the gossip messages (kinds 2 and 3)
// have no code in this package yet ("On the wire and on disk" in
// docs/members-only.md): routeVectors computes them from that text with
// the standard library, so they are the spec's, not the wiring's, until
// the wiring's code is checked against them.
var updateVectors = flag.Bool("update", false, "rewrite testdata/vectors/members.json")

const vectorsFile = "testdata/vectors/members.json"

// vecRand is a deterministic reader: SHA-256(label ‖ counter) blocks.
type vecRand struct {
	label string
	n     uint64
	buf   []byte
}

func newVecRand(label string) *vecRand { return &vecRand{label: label} }

func (r *vecRand) Read(p []byte) (int, error) {
	for len(r.buf) < len(p) {
		h := sha256.New()
		h.Write([]byte(r.label))
		h.Write(binary.BigEndian.AppendUint64(nil, r.n))
		r.n++
		r.buf = h.Sum(r.buf)
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

func (r *vecRand) bytes(n int) []byte {
	b := make([]byte, n)
	_, _ = r.Read(b)
	return b
}

// hexBytes is a byte string written as lowercase hex in the JSON.
type hexBytes []byte

func (b hexBytes) MarshalJSON() ([]byte, error) { return json.Marshal(hex.EncodeToString(b)) }

func (b *hexBytes) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	d, err := hex.DecodeString(s)
	*b = d
	return err
}

type vecID struct {
	Agent string `json:"agent"`
	Seq   uint64 `json:"seq"`
}

type vecDocument struct {
	Seed    hexBytes `json:"seed"`    // the document key's Ed25519 seed
	Key     hexBytes `json:"key"`     // its public key
	ID      string   `json:"id"`      // the document ID (32 hex digits)
	Secret  hexBytes `json:"secret"`  // the read secret of epoch 0
	Genesis hexBytes `json:"genesis"` // [1, docKey, sig]
	// SealKeys are epoch 0's sealing keys by purpose name.
	SealKeys map[string]hexBytes `json:"sealKeys"`
}

type vecDevice struct {
	Seed  hexBytes `json:"seed"`  // Ed25519 seed (the libp2p identity key's)
	Key   hexBytes `json:"key"`   // Ed25519 public key
	ID    string   `json:"id"`    // device ID = agent name (base64url, 43 characters)
	Box   hexBytes `json:"box"`   // X25519 public key, HKDF from the seed ("device-box")
	Chain hexBytes `json:"chain"` // its chain, when the vector gives one
}

type vecJoin struct {
	Device     vecDevice `json:"device"`
	Label      string    `json:"label"`
	Now        int64     `json:"now"`
	Link       hexBytes  `json:"link"`     // the device's link, issued by the invite key
	LinkHash   hexBytes  `json:"linkHash"` // its hash
	Chain      hexBytes  `json:"chain"`    // root → … → invite → device
	Role       string    `json:"role"`
	ChainLinks int       `json:"chainLinks"`
}

type vecInvite struct {
	Name       string     `json:"name"`
	Invite     string     `json:"invite"` // the string form
	Role       string     `json:"role"`
	Label      string     `json:"label"`
	NotAfter   int64      `json:"notAfter"`
	Epoch      uint64     `json:"epoch"`
	Seed       hexBytes   `json:"seed"`      // the invite key's seed
	InviteKey  hexBytes   `json:"inviteKey"` // its Ed25519 public key
	InviteBox  hexBytes   `json:"inviteBox"` // its X25519 public key ("invite-box")
	Chain      hexBytes   `json:"chain"`     // root → … → the invite link
	LinkHashes []hexBytes `json:"linkHashes"`
	Join       vecJoin    `json:"join"`
}

type vecHeader struct {
	Agent       string   `json:"agent"`
	Seq         uint64   `json:"seq"`
	Len         uint64   `json:"len"`
	Parents     []vecID  `json:"parents"`
	Epoch       uint64   `json:"epoch"`
	Prev        hexBytes `json:"prev"`
	Plaintext   hexBytes `json:"plaintext"` // the crdt transaction encoding
	Nonce       hexBytes `json:"nonce"`
	SealedAD    hexBytes `json:"sealedAD"` // Header.SealedAD
	Payload     hexBytes `json:"payload"`  // the sealed payload
	PayloadHash hexBytes `json:"payloadHash"`
	Hash        hexBytes `json:"hash"`   // Header.Hash
	Header      hexBytes `json:"header"` // the signed header's encoding
}

type vecMessage struct {
	Kind   int      `json:"kind"` // 2 = transaction envelope, 3 = member announcement
	Topic  string   `json:"topic"`
	Plain  hexBytes `json:"plain"` // the CBOR gossip message
	Nonce  hexBytes `json:"nonce"`
	Sealed hexBytes `json:"sealed"` // the route-sealed message (pubsub data)
}

type vecRoute struct {
	Topics   map[string]string `json:"topics"` // doc, presence, durable
	RouteKey hexBytes          `json:"routeKey"`
	Messages []vecMessage      `json:"messages"`
}

type vectors struct {
	Comment  string      `json:"comment"`
	Document vecDocument `json:"document"`
	Writer   vecDevice   `json:"writer"` // a writer device (the daemon's role in the vectors)
	Invites  []vecInvite `json:"invites"`
	Headers  []vecHeader `json:"headers"` // the writer's first two transactions
	Route    vecRoute    `json:"route"`
}

func TestVectors(t *testing.T) {
	got := makeVectors(t)
	b, err := json.MarshalIndent(got, "", "  ")
	must(t, err)
	b = append(b, '\n')
	if *updateVectors {
		must(t, os.MkdirAll(filepath.Dir(vectorsFile), 0o755))
		must(t, os.WriteFile(vectorsFile, b, 0o644))
		t.Logf("wrote %s", vectorsFile)
		return
	}
	want, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("%v (make it with -update)", err)
	}
	if !bytes.Equal(b, want) {
		var w vectors
		must(t, json.Unmarshal(want, &w))
		t.Fatalf("this package no longer produces %s: the formats changed (rewrite it with -update only if on purpose)\n%s", vectorsFile, firstDiff(b, want))
	}
	// The committed vectors also decode and verify with this package.
	checkVectors(t, got)
}

// firstDiff shows where two texts first differ.
func firstDiff(a, b []byte) string {
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	lo := max(0, i-120)
	return fmt.Sprintf("at byte %d:\n got: …%s…\nwant: …%s…", i, a[lo:min(len(a), i+120)], b[lo:min(len(b), i+120)])
}

func vecDeviceOf(t *testing.T, label string) (*Device, vecDevice) {
	t.Helper()
	seed := newVecRand(label).bytes(ed25519.SeedSize)
	dev, err := DeviceFrom(ed25519.NewKeyFromSeed(seed))
	must(t, err)
	return dev, vecDevice{Seed: seed, Key: hexBytes(dev.Public()), ID: DeviceID(dev.Public()), Box: dev.BoxPublic()}
}

func makeVectors(t *testing.T) *vectors {
	t.Helper()
	v := &vectors{Comment: "members-only test vectors, made by member/vectors_test.go (go test ./member/ -run '^TestVectors$' -update); all byte strings are hex. route: computed from docs/members-only.md, 'On the wire and on disk', not from wiring code."}
	docRand := newVecRand("weft vectors: document")
	docSeed := docRand.bytes(ed25519.SeedSize)
	d, err := NewDocument(io2(docSeed, docRand.bytes(SecretSize)))
	must(t, err)
	v.Document = vecDocument{Seed: docSeed, Key: hexBytes(d.Public), ID: d.ID.String(), Secret: d.Secret[:], Genesis: d.Genesis().Marshal(), SealKeys: map[string]hexBytes{}}
	for p := Purpose(1); p <= numPurposes; p++ {
		k, err := hkdf.Key(sha256.New, d.Secret[:], d.ID[:], fmt.Sprintf("weft/member/v1/seal-keys/%s/0", p), 32)
		must(t, err)
		v.Document.SealKeys[p.String()] = k
	}

	// The writer: a device the document key made a writer directly.
	writer, wv := vecDeviceOf(t, "weft vectors: writer")
	wl, err := Issue(d.Key, d.ID, nil, Grant{Role: RoleWrite, Subject: writer.Public(), Box: writer.BoxPublic(), Label: "writer"})
	must(t, err)
	wchain := Chain{wl}
	wv.Chain = wchain.Marshal()
	v.Writer = wv

	// Invites: one issued by the document key (write, no expiry), one by
	// an admin device (read, expiring), each joined by a device.
	admin, _ := vecDeviceOf(t, "weft vectors: admin")
	al, err := Issue(d.Key, d.ID, nil, Grant{Role: RoleAdmin, Subject: admin.Public(), Box: admin.BoxPublic(), Label: "admin ✓"})
	must(t, err)
	specs := []struct {
		name     string
		issuer   ed25519.PrivateKey
		chain    Chain
		role     Role
		label    string
		notAfter int64
		now      int64
	}{
		{"write, by the document key", d.Key, nil, RoleWrite, "js peer", 0, 1_800_000_000},
		{"read, by an admin, expiring", admin.Sign, Chain{al}, RoleRead, "Zoë's phone", 1_900_000_000, 1_800_000_000},
	}
	for i, s := range specs {
		inv, err := NewInvite(newVecRand(fmt.Sprintf("weft vectors: invite %d", i)), s.issuer, s.chain, d.Public, InviteGrant{Role: s.role, Label: s.label, NotAfter: s.notAfter}, 0, &d.Secret)
		must(t, err)
		box, err := inv.BoxKey()
		must(t, err)
		iv := vecInvite{Name: s.name, Invite: inv.String(), Role: s.role.String(), Label: s.label, NotAfter: s.notAfter, Epoch: inv.Epoch,
			Seed: inv.Seed[:], InviteKey: hexBytes(inv.key().Public().(ed25519.PublicKey)), InviteBox: box.PublicKey().Bytes(), Chain: inv.Chain.Marshal()}
		for _, l := range inv.Chain {
			h := l.Hash()
			iv.LinkHashes = append(iv.LinkHashes, h[:])
		}
		dev, dv := vecDeviceOf(t, fmt.Sprintf("weft vectors: joiner %d", i))
		c, err := Join(inv, dev, RoleNone, "js-peer", s.now)
		must(t, err)
		lh := c.Leaf().Hash()
		iv.Join = vecJoin{Device: dv, Label: "js-peer", Now: s.now, Link: c.Leaf().Marshal(), LinkHash: lh[:], Chain: c.Marshal(), Role: s.role.String(), ChainLinks: len(c)}
		v.Invites = append(v.Invites, iv)
	}

	// The writer's first two transactions: "hi" at the start, then "!" after
	// it, each sealed and signed.
	ring := NewKeyring(d.ID)
	must(t, ring.Add(0, &d.Secret))
	agent := AgentOf(writer.Public())
	nonces := newVecRand("weft vectors: nonces")
	var prev [32]byte
	txns := []struct {
		seq     uint64
		text    string
		parents []vocab.ID
		left    []any
	}{
		{0, "hi", nil, []any{0, 0}},
		{2, "!🚀", []vocab.ID{{Agent: agent, Seq: 1}}, []any{1, 1}},
	}
	for _, x := range txns {
		flat := []any{}
		for _, p := range x.parents {
			flat = append(flat, 1, p.Seq) // the only agent is the writer (index 1)
		}
		op := append(append([]any{1, x.text}, x.left...), 0, 0, 0, false)
		plain := marshal([]any{1, []string{agent}, x.seq, flat, []any{op}})
		n := uint64(len([]rune(x.text)))
		h := &Header{Doc: d.ID, Header: vocab.Header{Agent: agent, Seq: x.seq, Len: n, Parents: x.parents}, Prev: prev}
		if h.Parents == nil {
			h.Parents = []vocab.ID{}
		}
		nonce := nonces.bytes(NonceSize)
		sealed, err := SealPayload(ring, bytes.NewReader(nonce), h, plain)
		must(t, err)
		must(t, h.Sign(writer.Sign))
		hash := h.Hash()
		hv := vecHeader{Agent: agent, Seq: x.seq, Len: n, Parents: []vecID{}, Epoch: h.Epoch, Prev: prev[:], Plaintext: plain, Nonce: nonce,
			SealedAD: h.SealedAD(), Payload: sealed, PayloadHash: h.PayloadHash[:], Hash: hash[:], Header: h.Marshal()}
		for _, p := range x.parents {
			hv.Parents = append(hv.Parents, vecID{Agent: p.Agent, Seq: p.Seq})
		}
		v.Headers = append(v.Headers, hv)
		prev = hash
	}

	v.Route = routeVectors(t, d.ID, wchain.Marshal(), v.Headers)
	return v
}

// io2 reads a, then b.
func io2(a, b []byte) *bytes.Reader { return bytes.NewReader(append(append([]byte(nil), a...), b...)) }

// routeVectors computes, from the text of docs/members-only.md ("On the
// wire and on disk"), the document's topic name, the route key and
// route-sealed gossip messages: the writer's announcement [3, chain], its
// two transactions [2, header, payload], a presence message [8, sealed]
// and a durability acknowledgement [9, ack] (their contents opaque here).
func routeVectors(t *testing.T, doc vocab.DocID, chain []byte, hs []vecHeader) vecRoute {
	t.Helper()
	sum := sha256.Sum256(append([]byte("weft/member/v1/topic\x00"), doc[:]...))
	th := hex.EncodeToString(sum[:16])
	r := vecRoute{Topics: map[string]string{"doc": "weft/doc/" + th}}
	key, err := hkdf.Key(sha256.New, doc[:], doc[:], "weft/member/v1/seal-keys/route/0", 32)
	must(t, err)
	r.RouteKey = key
	aead, err := chacha20poly1305.NewX(key)
	must(t, err)
	nonces := newVecRand("weft vectors: route nonces")
	seal := func(kind int, plain []byte) {
		topic := r.Topics["doc"]
		nonce := nonces.bytes(NonceSize)
		prefix := []byte{1, 5, 0} // version 1, purpose 5 (route), epoch 0
		sealed := append(append([]byte(nil), prefix...), nonce...)
		sealed = aead.Seal(sealed, nonce, plain, append(append([]byte(nil), prefix...), topic...))
		r.Messages = append(r.Messages, vecMessage{Kind: kind, Topic: topic, Plain: plain, Nonce: nonce, Sealed: sealed})
	}
	seal(3, marshal([]any{3, chain}))
	for _, h := range hs {
		seal(2, marshal([]any{2, []byte(h.Header), []byte(h.Payload)}))
	}
	seal(KindPresence, marshal([]any{KindPresence, []byte("a sealed presence record")}))
	seal(KindDurable, marshal([]any{KindDurable, []byte{0x84, 1, 0x50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xa0, 1}}))
	return r
}

// checkVectors decodes and verifies the vectors with this package: what
// an independent implementation is checked against is what this package
// accepts.
func checkVectors(t *testing.T, v *vectors) {
	t.Helper()
	var doc vocab.DocID
	copy(doc[:], mustDocID(t, v.Document.ID))
	if _, err := ParseGenesis(v.Document.Genesis, doc); err != nil {
		t.Fatalf("genesis: %v", err)
	}
	for _, iv := range v.Invites {
		inv, err := ParseInvite(iv.Invite)
		if err != nil {
			t.Fatalf("invite %q: %v", iv.Name, err)
		}
		c, err := ParseChain(iv.Join.Chain)
		must(t, err)
		m, err := Verify(c, inv.DocKey, iv.Join.Now)
		if err != nil || DeviceID(m.Subject) != iv.Join.Device.ID || m.Role.String() != iv.Role {
			t.Fatalf("invite %q: the joined chain: %v, %+v", iv.Name, err, m)
		}
	}
	ring := NewKeyring(doc)
	var secret Secret
	copy(secret[:], v.Document.Secret)
	must(t, ring.Add(0, &secret))
	var hs []*Header
	for i, hv := range v.Headers {
		h, err := ParseHeader(hv.Header, doc)
		must(t, err)
		if err := h.Verify(); err != nil {
			t.Fatalf("header %d: %v", i, err)
		}
		pt, err := OpenPayload(ring, h, hv.Payload)
		if err != nil || !bytes.Equal(pt, hv.Plaintext) {
			t.Fatalf("header %d's payload: %v", i, err)
		}
		// The documented key derivation opens it too.
		s, err := ParseSealed(hv.Payload)
		must(t, err)
		aead, err := chacha20poly1305.NewX(v.Document.SealKeys["payload"])
		must(t, err)
		if _, err := aead.Open(nil, s.Nonce, s.Ciphertext, append([]byte{1, 1, 0}, hv.SealedAD...)); err != nil {
			t.Fatalf("header %d's payload does not open under the documented payload key: %v", i, err)
		}
		hs = append(hs, h)
	}
	if err := VerifyRun(hs, [32]byte{}); err != nil {
		t.Fatalf("the headers are not a run: %v", err)
	}
	if want := "weft/doc/" + TopicHex(doc); v.Route.Topics["doc"] != want || len(v.Route.Topics) != 1 {
		t.Fatalf("the vectors' topics are %v; want the one topic %s", v.Route.Topics, want)
	}
	route, err := NewRouteKey(doc)
	must(t, err)
	for i, msg := range v.Route.Messages {
		pt, err := route.Open(msg.Topic, msg.Sealed)
		must(t, err)
		if k, err := Kind(pt); err != nil || k != uint64(msg.Kind) {
			t.Fatalf("route message %d reads as kind %d (%v); want %d", i, k, err, msg.Kind)
		}
	}
}

func mustDocID(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		t.Fatalf("document ID %q", s)
	}
	return b
}
