package wire

import (
	"bytes"
	"errors"
	"testing"

	"weft/vocab"
)

// Every message on the tab's socket says its kind, and Kind reads it
// without the rest; each kind's own parse function reads it whole.
func TestSocketMessagesSayTheirKind(t *testing.T) {
	doc := vocab.DocID{7}
	record, err := MarshalPresence(Presence{Doc: doc[:], Agent: "tab1", Name: "Ada", Color: "#12ab9f", Seq: 4})
	if err != nil {
		t.Fatal(err)
	}
	pres, err := MarshalPresenceMsg(record)
	if err != nil {
		t.Fatal(err)
	}
	status, err := MarshalStatus(Status{Peers: 3, Relay: map[string]uint64{"a": 5}})
	if err != nil {
		t.Fatal(err)
	}
	msgs := map[uint64][]byte{MsgPresence: pres, MsgStatus: status}
	for k := uint64(MsgHello); k <= MsgAck; k++ {
		b, err := MarshalSync(SyncMsg{Kind: k, Doc: doc[:], Version: map[string]uint64{"x": 300}, Envs: [][]byte{make([]byte, 70000)}})
		if err != nil {
			t.Fatal(err)
		}
		msgs[k] = b
	}
	for want, b := range msgs {
		if got, err := Kind(b); err != nil || got != want {
			t.Errorf("kind %d read as %d, %v", want, got, err)
		}
	}

	// Presence: the record comes back exactly as it was sent.
	p, rec, err := ParsePresenceMsg(pres, doc)
	if err != nil || p.Name != "Ada" || p.Seq != 4 || !bytes.Equal(rec, record) {
		t.Fatalf("presence: %+v %x %v", p, rec, err)
	}
	if _, _, err := ParsePresenceMsg(pres, vocab.DocID{8}); vocab.Reason(err) != "wrong-document" {
		t.Fatalf("presence for another document: %v", err)
	}
	// Status: a count and the relay's version as fields; no relay is nil.
	st, err := ParseStatus(status)
	if err != nil || st.Peers != 3 || st.Relay["a"] != 5 {
		t.Fatalf("status: %+v %v", st, err)
	}
	none, _ := MarshalStatus(Status{Peers: 0})
	if st, err := ParseStatus(none); err != nil || st.Relay != nil {
		t.Fatalf("status without a relay: %+v %v", st, err)
	}
	empty, _ := MarshalStatus(Status{Relay: map[string]uint64{}})
	if st, err := ParseStatus(empty); err != nil || st.Relay == nil {
		t.Fatalf("status with an empty relay version: %+v %v", st, err)
	}

	// A kind's parse function refuses the others' messages.
	for k, b := range msgs {
		if _, err := ParseSync(b); (k <= MsgAck) != (err == nil) {
			t.Errorf("ParseSync of kind %d: %v", k, err)
		}
		if _, _, err := ParsePresenceMsg(b, doc); (k == MsgPresence) != (err == nil) {
			t.Errorf("ParsePresenceMsg of kind %d: %v", k, err)
		}
		if _, err := ParseStatus(b); (k == MsgStatus) != (err == nil) {
			t.Errorf("ParseStatus of kind %d: %v", k, err)
		}
	}
}

func TestSocketMessagesRefused(t *testing.T) {
	doc := vocab.DocID{7}
	record, _ := MarshalPresence(Presence{Doc: doc[:], Agent: "tab1", Color: "#000000"})
	v2 := func(b []byte) []byte { // the same message with format version 2
		c := bytes.Clone(b)
		if c[1] != syncFormat {
			t.Fatalf("version not at byte 1: %x", c)
		}
		c[1] = 2
		return c
	}
	pres, _ := MarshalPresenceMsg(record)
	status, _ := MarshalStatus(Status{Peers: 1})
	hello, _ := MarshalSync(SyncMsg{Kind: MsgHello, Doc: doc[:]})

	for name, c := range map[string]struct {
		b      []byte
		reason string
	}{
		"empty":                {nil, "malformed"},
		"not an array":         {[]byte{0x01}, "malformed"},
		"array of one":         {[]byte{0x81, 0x01}, "malformed"},
		"truncated head":       {[]byte{0x98}, "malformed"},
		"indefinite array":     {[]byte{0x9f, 0x01, 0x06, 0xff}, "malformed"},
		"kind not a number":    {[]byte{0x83, 0x01, 0x41, 0x00, 0x00}, "malformed"},
		"kind zero":            {[]byte{0x83, 0x01, 0x00, 0x00}, "malformed"},
		"kind eight":           {[]byte{0x83, 0x01, 0x08, 0x00}, "malformed"},
		"bare presence record": {record, "malformed"},
		"presence, version 2":  {v2(pres), "version"},
		"status, version 2":    {v2(status), "version"},
		"hello, version 2":     {v2(hello), "version"},
	} {
		if _, err := Kind(c.b); vocab.Reason(err) != c.reason || !errors.Is(err, vocab.ErrRejected) {
			t.Errorf("%s: Kind says %v, want a %q rejection", name, err, c.reason)
		}
	}
	if _, _, err := ParsePresenceMsg(v2(pres), doc); vocab.Reason(err) != "version" {
		t.Errorf("presence of version 2: %v", err)
	}
	if _, err := ParseStatus(v2(status)); vocab.Reason(err) != "version" {
		t.Errorf("status of version 2: %v", err)
	}
	if _, err := MarshalPresenceMsg(make([]byte, MaxPresenceBytes+1)); err == nil {
		t.Error("an oversized presence record wrapped")
	}
	if _, err := MarshalPresenceMsg(nil); err == nil {
		t.Error("an empty presence record wrapped")
	}
	// A presence message whose record is not a valid presence.
	bad, _ := MarshalPresence(Presence{Doc: doc[:], Agent: "x", Color: "red"})
	badMsg, _ := MarshalPresenceMsg(bad)
	if _, _, err := ParsePresenceMsg(badMsg, doc); !errors.Is(err, vocab.ErrRejected) {
		t.Errorf("a bad record inside a presence message: %v", err)
	}
}

// Kind never panics and never disagrees with the kind's own parser.
func FuzzKind(f *testing.F) {
	doc := vocab.DocID{7}
	record, _ := MarshalPresence(Presence{Doc: doc[:], Agent: "tab", Color: "#000000"})
	pres, _ := MarshalPresenceMsg(record)
	status, _ := MarshalStatus(Status{Peers: 2, Relay: map[string]uint64{"r": 1}})
	txns, _ := MarshalSync(SyncMsg{Kind: MsgTxns, Envs: [][]byte{{1, 2}}})
	for _, b := range [][]byte{pres, status, txns, record} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, kerr := Kind(data)
		if kerr != nil && !errors.Is(kerr, vocab.ErrRejected) {
			t.Fatalf("error %v is not a rejection", kerr)
		}
		if m, err := ParseSync(data); err == nil && (kerr != nil || k != m.Kind) {
			t.Fatalf("a sync message of kind %d read as %d, %v", m.Kind, k, kerr)
		}
		if _, _, err := ParsePresenceMsg(data, vocab.DocID{}); err == nil && (kerr != nil || k != MsgPresence) {
			t.Fatalf("a presence message read as %d, %v", k, kerr)
		}
		if s, err := ParseStatus(data); err == nil {
			if kerr != nil || k != MsgStatus {
				t.Fatalf("a status message read as %d, %v", k, kerr)
			}
			if _, err := MarshalStatus(s); err != nil {
				t.Fatal(err)
			}
		}
	})
}
