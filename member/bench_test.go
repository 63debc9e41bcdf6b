package member

import (
	"crypto/rand"
	"testing"

	"weft/crdt"
	"weft/vocab"
)

// benchRun is the size of the catch-up the benchmarks verify: one agent's
// 10,000 consecutive headers.
const benchRun = 10_000

// BenchmarkVerifyRun verifies benchRun chained headers by hashing back
// from the newest one's signature (one Ed25519 verification).
func BenchmarkVerifyRun(b *testing.B) {
	d, dev := newDoc(b, 1), newDevice(b, 1)
	hs := chainOf(b, dev, AgentOf(dev.Public()), d.ID, benchRun, false)
	b.ResetTimer()
	for b.Loop() {
		if err := VerifyRun(hs, [32]byte{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRun, "ns/header")
}

// BenchmarkVerifyEach verifies the same headers one signature each.
func BenchmarkVerifyEach(b *testing.B) {
	d, dev := newDoc(b, 1), newDevice(b, 1)
	hs := chainOf(b, dev, AgentOf(dev.Public()), d.ID, benchRun, true)
	b.ResetTimer()
	for b.Loop() {
		for _, h := range hs {
			if err := h.Verify(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRun, "ns/header")
}

// BenchmarkParseRun decodes the headers from their wire bytes (older
// ones without signatures) and verifies them as a run: what a catch-up
// costs per header before opening payloads.
func BenchmarkParseRun(b *testing.B) {
	d, dev := newDoc(b, 1), newDevice(b, 1)
	hs := chainOf(b, dev, AgentOf(dev.Public()), d.ID, benchRun, false)
	raw := make([][]byte, len(hs))
	for i, h := range hs {
		raw[i] = h.Marshal()
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := ParseRun(raw, d.ID, [32]byte{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/benchRun, "ns/header")
}

// BenchmarkSealOpen seals and opens a keystroke-sized payload.
func BenchmarkSealOpen(b *testing.B) {
	d := newDoc(b, 1)
	k, err := NewEpochKeys(d.ID, 0, &d.Secret)
	if err != nil {
		b.Fatal(err)
	}
	random := detRand(1)
	msg, ad := make([]byte, 40), make([]byte, 120)
	for b.Loop() {
		s, err := k.Seal(random, PurposePayload, msg, ad)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := k.Open(PurposePayload, s, ad); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignHeader is the writer's cost per transaction.
func BenchmarkSignHeader(b *testing.B) {
	d, dev := newDoc(b, 1), newDevice(b, 1)
	h := chainOf(b, dev, AgentOf(dev.Public()), d.ID, 2, true)[1]
	for b.Loop() {
		if err := h.Sign(dev.Sign); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkKeystroke is what members-only documents add to one keystroke
// (a one-code-point insert, encoded by package crdt as a daemon encodes
// it): on the writing side, seal the payload, sign the header, make the
// envelope and seal it for the document's gossip topic (what
// replica/members.go's seal and the sealed topic do); on the receiving
// side, open the gossip message, parse the envelope, verify the header's
// signature and open the payload (replica/docstate.go's fromDoc). The
// CRDT's own encoding and integration are not counted: they were there
// before. Reports ns per keystroke for each side and, once, the sizes:
// the plaintext transaction, the envelope, and the sealed gossip message.
func BenchmarkKeystroke(b *testing.B) {
	d, dev := newDoc(b, 1), newDevice(b, 1)
	agent := AgentOf(dev.Public())
	keys := NewKeyring(d.ID)
	must(b, keys.Add(0, &d.Secret))
	route, err := NewRouteKey(d.ID)
	must(b, err)
	topic := "weft/doc/" + TopicHex(d.ID)

	// A document with some history typed by the agent; the keystroke is
	// the next insert, on the frontier the history left.
	doc, err := crdt.New(agent)
	must(b, err)
	var prev [32]byte
	var last *crdt.Txn
	for i := range 1001 {
		t, err := doc.Insert(i, "x")
		must(b, err)
		last = t
	}
	payload, err := crdt.EncodeTxn(last)
	must(b, err)
	hdr := vocab.Header{Agent: last.Agent, Seq: last.Seq, Len: uint64(last.Count()), Parents: last.Parents}
	prev[0] = 1 // stands for the hash of the agent's previous header

	write := func() (*Envelope, []byte) {
		h := Header{Doc: d.ID, Header: hdr, Prev: prev}
		sealed, err := SealPayload(keys, rand.Reader, &h, payload)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Sign(dev.Sign); err != nil {
			b.Fatal(err)
		}
		e, err := NewEnvelope(&h, sealed)
		if err != nil {
			b.Fatal(err)
		}
		msg, err := route.Seal(topic, e.Raw)
		if err != nil {
			b.Fatal(err)
		}
		return e, msg
	}
	read := func(msg []byte) {
		pt, err := route.Open(topic, msg)
		if err != nil {
			b.Fatal(err)
		}
		e, err := ParseEnvelope(pt, d.ID)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Header.Verify(); err != nil {
			b.Fatal(err)
		}
		got, err := OpenPayload(keys, e.Header, e.Payload)
		if err != nil {
			b.Fatal(err)
		}
		if len(got) != len(payload) {
			b.Fatalf("opened %d bytes, sealed %d", len(got), len(payload))
		}
	}
	b.Run("side=write", func(b *testing.B) {
		for b.Loop() {
			write()
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/keystroke")
	})
	b.Run("side=read", func(b *testing.B) {
		e, msg := write()
		for b.Loop() {
			read(msg)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/keystroke")
		// After the loop: b.Loop's first call resets reported metrics.
		b.ReportMetric(float64(len(payload)), "plaintext-B")
		b.ReportMetric(float64(len(e.Raw)), "envelope-B")
		b.ReportMetric(float64(len(msg)), "gossip-B")
	})
}
