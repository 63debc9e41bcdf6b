package wire

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"weft/crdt"
	"weft/vocab"
)

func sample(t testing.TB) (vocab.DocID, *crdt.Txn) {
	d, _ := crdt.New("alice")
	d.Insert(0, "hello")
	txn, err := d.Insert(5, " wörld 🎉")
	if err != nil {
		t.Fatal(err)
	}
	return vocab.DocID{1, 2, 3}, txn
}

// A peer's title that breaks the title rule is ignored, not the message
// that carries it: the hello still counts.
func TestSyncDropsBadTitle(t *testing.T) {
	doc := vocab.DocID{4}
	for _, title := range []string{strings.Repeat("é", vocab.MaxTitle+1), strings.Repeat("x", 2000), "a\nb"} {
		b, _ := MarshalSync(SyncMsg{Kind: MsgHello, Doc: doc[:], Title: title})
		got, err := ParseSync(b)
		if err != nil || got.Kind != MsgHello || got.Title != "" {
			t.Errorf("title of %d bytes: %+v %v", len(title), got, err)
		}
	}
}

// The all-zero document ID is never valid: an envelope naming it is
// refused even where any document is accepted.
func TestEnvelopeZeroDoc(t *testing.T) {
	_, txn := sample(t)
	_, b, err := Seal(vocab.DocID{}, txn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseEnvelope(b, vocab.DocID{}); vocab.Reason(err) != vocab.ReasonMalformed {
		t.Fatalf("zero document: %v", err)
	}
	p, _ := MarshalPresence(Presence{Doc: make([]byte, 16), Agent: "x", Color: "#000000"})
	if _, err := ParsePresence(p, vocab.DocID{}); !errors.Is(err, vocab.ErrRejected) {
		t.Fatalf("presence for the zero document: %v", err)
	}
}

// Pack bounds every group by count and by bytes, keeps the order, and
// lets an envelope larger than ChunkBytes travel alone.
func TestPack(t *testing.T) {
	env := func(n int) []byte { return make([]byte, n) }
	if got := Pack(nil); len(got) != 0 {
		t.Fatalf("no envelopes: %d groups", len(got))
	}
	var many [][]byte
	for i := 0; i < 2*ChunkEnvelopes+1; i++ {
		many = append(many, []byte{byte(i)})
	}
	big := ChunkBytes/2 + 1
	for name, c := range map[string]struct {
		envs  [][]byte
		sizes []int // envelopes per group
	}{
		"one":              {[][]byte{env(10)}, []int{1}},
		"by count":         {many, []int{ChunkEnvelopes, ChunkEnvelopes, 1}},
		"by bytes":         {[][]byte{env(big), env(big), env(big)}, []int{1, 1, 1}},
		"exactly full":     {[][]byte{env(ChunkBytes / 2), env(ChunkBytes / 2), env(1)}, []int{2, 1}},
		"oversized alone":  {[][]byte{env(1), env(ChunkBytes + 1), env(1)}, []int{1, 1, 1}},
		"oversized first":  {[][]byte{env(2 * ChunkBytes), env(1), env(1)}, []int{1, 2}},
		"empty envelopes":  {[][]byte{{}, {}, {}}, []int{3}},
		"small after big":  {[][]byte{env(ChunkBytes - 10), env(10), env(1)}, []int{2, 1}},
		"fills then spill": {[][]byte{env(100), env(ChunkBytes - 100), env(1)}, []int{2, 1}},
	} {
		groups := Pack(c.envs)
		var sizes []int
		var flat [][]byte
		for _, g := range groups {
			sizes = append(sizes, len(g))
			total := 0
			for _, e := range g {
				total += len(e)
			}
			if len(g) == 0 || len(g) > ChunkEnvelopes || (len(g) > 1 && total > ChunkBytes) {
				t.Errorf("%s: a group of %d envelopes, %d bytes", name, len(g), total)
			}
			if cap(g) != len(g) {
				t.Errorf("%s: a group can be appended into the next", name)
			}
			flat = append(flat, g...)
		}
		if fmt.Sprint(sizes) != fmt.Sprint(c.sizes) {
			t.Errorf("%s: groups of %v, want %v", name, sizes, c.sizes)
		}
		if len(flat) != len(c.envs) {
			t.Fatalf("%s: %d envelopes out of %d", name, len(flat), len(c.envs))
		}
		for i := range flat {
			if len(c.envs[i]) > 0 && &flat[i][:1][0] != &c.envs[i][:1][0] {
				t.Errorf("%s: envelope %d out of order", name, i)
			}
		}
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	doc, txn := sample(t)
	e, b, err := Seal(doc, txn)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseEnvelope(b, doc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Doc != doc || got.Header.Agent != "alice" || got.Header.Seq != 5 || got.Header.Len != 8 || !bytes.Equal(got.Payload, e.Payload) {
		t.Fatalf("round trip: %+v", got)
	}
	back, err := got.Open()
	if err != nil || back.Ops[0].Text != " wörld 🎉" {
		t.Fatalf("open: %v %+v", err, back)
	}
	if _, err := ParseEnvelope(b, vocab.DocID{9}); vocab.Reason(err) != vocab.ReasonWrongDocument || !errors.Is(err, vocab.ErrRejected) {
		t.Fatalf("wrong document: %v", err)
	}
	if _, err := ParseEnvelope(b, vocab.DocID{}); err != nil {
		t.Fatalf("any document: %v", err)
	}
}

func TestSyncRoundTrip(t *testing.T) {
	doc := vocab.DocID{4}
	m := SyncMsg{Kind: MsgHello, Doc: doc[:], Version: map[string]uint64{"a": 3}, Title: "Notes ✏️"}
	b, err := MarshalSync(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSync(b)
	if err != nil || got.Kind != MsgHello || got.Version["a"] != 3 || got.Title != "Notes ✏️" {
		t.Fatalf("%+v %v", got, err)
	}
	for name, bad := range map[string]SyncMsg{
		"kind":         {Kind: 99},
		"doc id":       {Kind: MsgHello, Doc: []byte{1, 2}},
		"zero doc id":  {Kind: MsgHello, Doc: make([]byte, 16)},
		"kind 0":       {Kind: 0, Doc: doc[:]},
		"unknown kind": {Kind: MsgCheckpoint + 1, Doc: doc[:]},
	} {
		b, _ := MarshalSync(bad)
		if _, err := ParseSync(b); !errors.Is(err, vocab.ErrRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Decoding arbitrary bytes never panics; what decodes re-encodes to
// something that decodes the same.
func FuzzParseEnvelope(f *testing.F) {
	doc, txn := sample(f)
	_, b, _ := Seal(doc, txn)
	f.Add(b)
	f.Add([]byte{0x87, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := ParseEnvelope(data, vocab.DocID{})
		if err != nil {
			if !errors.Is(err, vocab.ErrRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		_, _ = e.Open()
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseEnvelope(b, vocab.DocID{})
		if err != nil || e2.Header.Agent != e.Header.Agent || e2.Header.Seq != e.Header.Seq || !bytes.Equal(e2.Payload, e.Payload) {
			t.Fatalf("re-encoding changed the envelope: %v", err)
		}
	})
}

func FuzzParseSync(f *testing.F) {
	b, _ := MarshalSync(SyncMsg{Kind: MsgTxns, Envs: [][]byte{{1, 2}}})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseSync(data)
		if err != nil {
			if !errors.Is(err, vocab.ErrRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		if _, err := MarshalSync(m); err != nil {
			t.Fatal(err)
		}
	})
}

func TestPresence(t *testing.T) {
	doc := vocab.DocID{7}
	p := Presence{Doc: doc[:], Agent: "tab1", Name: "Ada", Color: "#12ab9f", AnchorAgent: "a", AnchorSeq: 3, Seq: 9}
	b, err := MarshalPresence(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParsePresence(b, doc)
	if err != nil || got.Name != "Ada" || got.Anchor() != (crdt.ID{Agent: "a", Seq: 3}) || !got.Head().IsZero() {
		t.Fatalf("%+v %v", got, err)
	}
	for name, bad := range map[string]Presence{
		"colour":   {Doc: doc[:], Agent: "x", Color: "red"},
		"name":     {Doc: doc[:], Agent: "x", Color: "#000000", Name: string(make([]byte, MaxName+1))},
		"agent":    {Doc: doc[:], Color: "#000000"},
		"document": {Doc: make([]byte, 16), Agent: "x", Color: "#000000"},
	} {
		b, _ := MarshalPresence(bad)
		if _, err := ParsePresence(b, doc); !errors.Is(err, vocab.ErrRejected) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
}

func FuzzParsePresence(f *testing.F) {
	doc := vocab.DocID{7}
	b, _ := MarshalPresence(Presence{Doc: doc[:], Agent: "tab", Color: "#000000"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePresence(data, vocab.DocID{})
		if err != nil {
			if !errors.Is(err, vocab.ErrRejected) {
				t.Fatal(err)
			}
			return
		}
		if _, err := MarshalPresence(p); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDurable(t *testing.T) {
	doc := vocab.DocID{5}
	b, err := MarshalDurable(Durable{Doc: doc[:], Version: map[string]uint64{"a": 4}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDurable(b, doc)
	if err != nil || d.Version["a"] != 4 {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := ParseDurable(b, vocab.DocID{6}); !errors.Is(err, vocab.ErrRejected) {
		t.Fatalf("wrong document: %v", err)
	}
	bad, _ := MarshalDurable(Durable{Doc: doc[:], Version: map[string]uint64{"": 1}})
	if _, err := ParseDurable(bad, doc); !errors.Is(err, vocab.ErrRejected) {
		t.Fatalf("empty agent: %v", err)
	}
}
