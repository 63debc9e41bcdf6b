package main

import (
	"crypto/ed25519"
	"crypto/hkdf"
	crand "crypto/rand"
	"crypto/sha256"
	"fmt"
	"strings"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/chacha20poly1305"

	"weft/crdt"
	"weft/member"
	"weft/vocab"
	"weft/wire"
)

// What weft's own packages build (member: chains, headers, sealing; crdt:
// transactions; wire: sync messages) is valid by construction; the bad
// cases are edited afterwards or written here by hand, from the formats
// in docs/members-only.md, where those packages refuse to build them.

// Domain labels of package member's signatures and keys (docs/members-only.md).
const (
	domainHeader     = "weft/member/v1/header\x00"
	domainDelegation = "weft/member/v1/delegation\x00"
	routeKeyInfo     = "weft/member/v1/seal-keys/route/0"
	purposeRoute     = 5
	sealedVersion    = 1
)

var enc cbor.EncMode

func init() {
	var err error
	if enc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
}

func mustMarshal(v any) []byte {
	b, err := enc.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// signer is a device key and the agents it writes as.
type signer struct {
	key ed25519.PrivateKey
	id  string // member.DeviceID of its public key
}

func newSigner(key ed25519.PrivateKey) signer {
	return signer{key: key, id: member.DeviceID(key.Public().(ed25519.PublicKey))}
}

// agent is one of the signer's tab agents: a case of its own per
// transaction that must not chain to another (seq 0, no prev).
func (s signer) agent(suffix string) string { return s.id + "." + suffix }

// txnSpec describes a one-insert transaction at the document start.
type txnSpec struct {
	agent   string
	seq     uint64
	parents []vocab.ID
	text    string
}

// envelope builds a signed envelope for doc: the transaction encoded by
// crdt, sealed with keys (member.SealPayload), and signed by by. When by
// does not own the agent (a forged agent), the header is signed by hand,
// since member refuses to.
func envelope(doc vocab.DocID, keys *member.Keyring, by signer, s txnSpec) (*member.Envelope, error) {
	t := &crdt.Txn{Agent: s.agent, Seq: s.seq, Parents: s.parents, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: s.text}}}
	payload, err := crdt.EncodeTxn(t)
	if err != nil {
		return nil, err
	}
	h := member.Header{Doc: doc, Header: wire.HeaderOf(t)}
	return sealAndSign(keys, by, &h, payload)
}

func sealAndSign(keys *member.Keyring, by signer, h *member.Header, payload []byte) (*member.Envelope, error) {
	sealed, err := member.SealPayload(keys, crand.Reader, h, payload)
	if err != nil {
		return nil, err
	}
	signHeader(h, by.key)
	return member.NewEnvelope(h, sealed)
}

// signHeader signs h with key whether or not key owns h's agent.
func signHeader(h *member.Header, key ed25519.PrivateKey) {
	hash := h.Hash()
	h.Sig = ed25519.Sign(key, append([]byte(domainHeader), hash[:]...))
}

// rawEnvelope encodes [2, header, payload] from any bytes.
func rawEnvelope(header, payload []byte) []byte {
	return mustMarshal([]any{uint64(member.KindEnvelope), header, payload})
}

// linkBody is a link's first nine fields (docs/members-only.md, "Capabilities").
type linkBody struct {
	_        struct{} `cbor:",toarray"`
	V        uint64
	Doc      []byte
	Role     uint8
	Invite   bool
	Subject  []byte
	Box      []byte
	Parent   []byte
	NotAfter uint64
	Label    string
}

// forgeLink signs a link under parent with issuer, whatever the rules say
// (member.Issue refuses a link its issuer may not give).
func forgeLink(issuer ed25519.PrivateKey, doc vocab.DocID, parent *member.Link, l *member.Link) *member.Link {
	l.Doc = doc
	if parent != nil {
		h := parent.Hash()
		l.Parent = h[:]
	}
	body := mustMarshal(linkBody{V: member.Format, Doc: doc[:], Role: uint8(l.Role), Invite: l.Invite, Subject: l.Subject,
		Box: l.Box, Parent: l.Parent, NotAfter: uint64(l.NotAfter), Label: l.Label})
	l.Sig = ed25519.Sign(issuer, append([]byte(domainDelegation), body...))
	return l
}

// routeSealNonce seals a gossip message for topic under doc's route key
// with a random nonce (member.RouteKey.Seal's nonce is synthetic, so the
// same message is the same bytes; any nonce opens). A replay sealed this
// way is new bytes to GossipSub, which would drop the same bytes as seen.
func routeSealNonce(doc vocab.DocID, topic string, plaintext []byte) ([]byte, error) {
	key, err := hkdf.Key(sha256.New, doc[:], doc[:], routeKeyInfo, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, err
	}
	prefix := []byte{sealedVersion, purposeRoute, 0}
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := crand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(append([]byte(nil), prefix...), nonce...)
	return a.Seal(out, nonce, plaintext, append(prefix, topic...)), nil
}

// suffix turns a case name into a tab agent suffix (1–20 base64url characters).
func suffix(where, name string) string {
	s := strings.NewReplacer("_", "-").Replace(where[:1] + "-" + name)
	if len(s) > 20 {
		s = s[:20]
	}
	return s
}

// crafted returns the gossip plaintext (or, in catch-up, the envelope) of
// an envelope case; where is "topic", "sync" or "serve" (it names the
// agents, so the cases of one place never chain to another's).
//
// In catch-up, "env-garbage" and "env-truncated" name the envelope cases
// garbage and truncated (the plain names are the stream's first frame).
func (h *helper) crafted(where, name string) ([]byte, error) {
	name = strings.TrimPrefix(name, "env-")
	ag := h.w.agent(suffix(where, name))
	spec := txnSpec{agent: ag, text: "«" + name + "»"}
	switch name {
	case "garbage":
		b := make([]byte, 200)
		for i := range b {
			b[i] = byte(h.rng.UintN(256))
		}
		b[0] = 0xff // a CBOR "break" where an item must start: never valid
		return b, nil
	case "truncated":
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw[:len(e.Raw)/2], nil
	case "unknown-kind":
		return mustMarshal([]any{uint64(6), []byte("from the future")}), nil // kinds are 2-5, 8 and 9
	case "old-envelope":
		// Envelope format 1, as a daemon before issue 10 sent it.
		return mustMarshal([]any{uint64(1), h.doc[:], ag, uint64(0), uint64(1), []any{}, []byte("plain")}), nil
	case "wrong-doc":
		e, err := envelope(h.other, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "header-mismatch":
		// Another sealed payload under a signed header: its hash differs.
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		o, err := envelope(h.doc, h.keys, h.w, txnSpec{agent: ag, text: "swapped"})
		if err != nil {
			return nil, err
		}
		return rawEnvelope(e.Header.Marshal(), o.Payload), nil
	case "decrypt":
		// Sealed under a read secret this document never had; the header
		// names it (hash) and is signed: only opening fails.
		e, err := envelope(h.doc, h.foreign, h.w, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "bad-payload":
		// Opens, but is no transaction.
		hd := member.Header{Doc: h.doc, Header: vocab.Header{Agent: ag, Len: 1}}
		e, err := sealAndSign(h.keys, h.w, &hd, []byte("not a transaction"))
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "bad-sig":
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		hd := *e.Header
		hd.Sig = append([]byte(nil), hd.Sig...)
		hd.Sig[10] ^= 0x04
		return rawEnvelope(hd.Marshal(), e.Payload), nil
	case "forged-agent":
		// The daemon's own agent, signed with this helper's key.
		spec.agent = h.daemonAgent
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "stranger":
		spec.agent = h.stranger.agent(suffix(where, name))
		e, err := envelope(h.doc, h.keys, h.stranger, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "reader":
		spec.agent = h.r.agent(suffix(where, name))
		e, err := envelope(h.doc, h.keys, h.r, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "unknown-parents":
		// Made on an operation nobody has: it can only wait for it.
		spec.parents = []vocab.ID{{Agent: h.stranger.agent("ghost"), Seq: 41}}
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "valid-unsealed", "valid-moved":
		// Valid envelopes for the cases about the seal.
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		return e.Raw, nil
	case "valid":
		// The control: four code points by the writer's agent of this place.
		spec.agent, spec.text = h.w.agent(where), "«ok»"
		e, err := envelope(h.doc, h.keys, h.w, spec)
		if err != nil {
			return nil, err
		}
		h.valid[where] = e.Raw
		return e.Raw, nil
	case "replay":
		b, ok := h.valid[where]
		if !ok {
			return nil, fmt.Errorf("case replay needs case valid first (in %s)", where)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown case %q", name)
}

// chainCase returns the chain of a membership case, for an announcement
// on the topic or a prove in catch-up: each is refused for its reason.
func (h *helper) chainCase(name string) (member.Chain, error) {
	switch name {
	case "forged-chain":
		// The writer (who may not delegate) grants the reader's key admin.
		l := forgeLink(h.w.key, h.doc, h.wChain.Leaf(), &member.Link{Role: member.RoleAdmin, Subject: h.rDev.Public(), Box: h.rDev.BoxPublic(), Label: "self-made admin"})
		return h.wChain.Extend(l), nil
	case "bad-link-sig":
		c := append(member.Chain(nil), h.rChain...)
		leaf := *c.Leaf()
		leaf.Sig = append([]byte(nil), leaf.Sig...)
		leaf.Sig[5] ^= 0x10
		c[len(c)-1] = &leaf
		return c, nil
	case "expired":
		if h.expired == nil {
			return nil, fmt.Errorf("case expired needs -expired-invite")
		}
		if err := h.waitExpired(); err != nil {
			return nil, err
		}
		return h.expired, nil
	case "other-chain":
		// A valid chain of another device than the one speaking: the
		// writer's chain over the reader's connection (and back).
		return nil, nil // filled in by the caller, which knows who speaks
	}
	return nil, fmt.Errorf("unknown chain case %q", name)
}
