package member

import (
	"encoding/json"
	"os"
	"testing"

	"weft/vocab"
)

// The route seal and topic names as wired (route.go, envelope.go) agree
// with the vectors computed from the written format, which the js-libp2p
// interop peer is checked against too.
func TestRouteMatchesVectors(t *testing.T) {
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	doc, err := vocab.ParseDocID(v.Document.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := "weft/doc/"+TopicHex(doc), v.Route.Topics["doc"]; got != want {
		t.Fatalf("topic %q, vectors say %q", got, want)
	}
	k, err := NewRouteKey(doc)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range v.Route.Messages {
		pt, err := k.Open(m.Topic, m.Sealed)
		if err != nil || string(pt) != string(m.Plain) {
			t.Fatalf("message %d: %v", i, err)
		}
		kind, err := Kind(pt)
		if err != nil || int(kind) != m.Kind {
			t.Fatalf("message %d: kind %d (%v), want %d", i, kind, err, m.Kind)
		}
		if _, err := k.Open(m.Topic+"x", m.Sealed); err == nil {
			t.Fatalf("message %d opened under another topic", i)
		}
		// Sealing is deterministic: the same message, the same bytes.
		a, _ := k.Seal(m.Topic, pt)
		b, _ := k.Seal(m.Topic, pt)
		if string(a) != string(b) {
			t.Fatal("sealing one message twice gave two byte forms")
		}
	}
}
