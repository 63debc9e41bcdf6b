package member

import (
	"testing"
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
