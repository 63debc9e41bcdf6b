package wire

import (
	"bytes"
	"errors"
	"testing"

	"weft/crdt"
)

func sample(t testing.TB) (DocID, *crdt.Txn) {
	d, _ := crdt.New("alice")
	d.Insert(0, "hello")
	txn, err := d.Insert(5, " wörld 🎉")
	if err != nil {
		t.Fatal(err)
	}
	return DocID{1, 2, 3}, txn
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
	if _, err := ParseEnvelope(b, DocID{9}); Reason(err) != "wrong-document" || !errors.Is(err, ErrRejected) {
		t.Fatalf("wrong document: %v", err)
	}
	if _, err := ParseEnvelope(b, DocID{}); err != nil {
		t.Fatalf("any document: %v", err)
	}
}

func TestSyncRoundTrip(t *testing.T) {
	m := SyncMsg{Kind: MsgHello, Doc: make([]byte, 16), Version: map[string]uint64{"a": 3}}
	b, err := MarshalSync(m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseSync(b)
	if err != nil || got.Kind != MsgHello || got.Version["a"] != 3 {
		t.Fatalf("%+v %v", got, err)
	}
	for name, bad := range map[string]SyncMsg{
		"kind":   {Kind: 99},
		"doc id": {Kind: MsgHello, Doc: []byte{1, 2}},
	} {
		b, _ := MarshalSync(bad)
		if _, err := ParseSync(b); !errors.Is(err, ErrRejected) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestParseDocID(t *testing.T) {
	id := DocID{0xab, 0xcd}
	got, err := ParseDocID(id.String())
	if err != nil || got != id {
		t.Fatalf("%v %v", got, err)
	}
	for _, bad := range []string{"", "zz", id.String()[:31], "ABCD" + id.String()[4:]} {
		if _, err := ParseDocID(bad); err == nil {
			t.Errorf("%q accepted", bad)
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
		e, err := ParseEnvelope(data, DocID{})
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v is not a rejection", err)
			}
			return
		}
		_, _ = e.Open()
		b, err := e.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := ParseEnvelope(b, DocID{})
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
			if !errors.Is(err, ErrRejected) {
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
	doc := DocID{7}
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
		if _, err := ParsePresence(b, doc); !errors.Is(err, ErrRejected) {
			t.Errorf("%s accepted: %v", name, err)
		}
	}
}

func FuzzParsePresence(f *testing.F) {
	doc := DocID{7}
	b, _ := MarshalPresence(Presence{Doc: doc[:], Agent: "tab", Color: "#000000"})
	f.Add(b)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePresence(data, DocID{})
		if err != nil {
			if !errors.Is(err, ErrRejected) {
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
	doc := DocID{5}
	b, err := MarshalDurable(Durable{Doc: doc[:], Version: map[string]uint64{"a": 4}})
	if err != nil {
		t.Fatal(err)
	}
	d, err := ParseDurable(b, doc)
	if err != nil || d.Version["a"] != 4 {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := ParseDurable(b, DocID{6}); !errors.Is(err, ErrRejected) {
		t.Fatalf("wrong document: %v", err)
	}
	bad, _ := MarshalDurable(Durable{Doc: doc[:], Version: map[string]uint64{"": 1}})
	if _, err := ParseDurable(bad, doc); !errors.Is(err, ErrRejected) {
		t.Fatalf("empty agent: %v", err)
	}
}
