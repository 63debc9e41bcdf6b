package store

import (
	"bytes"
	"errors"
	"testing"
)

// decodeSnapshotCopy is decodeSnapshot as it was: the library's decode of
// the envelope and the body, each byte string copied. It is the reference
// the in-place path is held to.
func decodeSnapshotCopy(raw []byte) (*Snapshot, error) {
	var sr snapRec
	if err := decodeRecord(recSnapshot, raw, &sr); err != nil {
		return nil, err
	}
	v, err := decodeVersion(sr.Covers)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Covers: v, Payload: sr.Payload}, nil
}

func snapshotRecord(t testing.TB, covers Version, payload []byte) []byte {
	t.Helper()
	b, err := encodeRecord(recSnapshot, snapRec{Covers: encodeVersion(covers), Payload: payload})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sameSnapshot says whether the in-place decode of raw gives what the
// reference gives: the same error (both corrupt) or the same snapshot.
func sameSnapshot(t *testing.T, raw []byte) {
	t.Helper()
	want, werr := decodeSnapshotCopy(raw)
	got, gerr := decodeSnapshot("k", raw)
	switch {
	case (werr == nil) != (gerr == nil):
		t.Fatalf("%x: in place %v, reference %v", raw, gerr, werr)
	case werr != nil:
		if !errors.Is(gerr, ErrCorrupt) {
			t.Fatalf("%x: in place refused it without ErrCorrupt: %v", raw, gerr)
		}
	case !bytes.Equal(got.Payload, want.Payload) || !got.Covers.Equal(want.Covers):
		t.Fatalf("%x: in place %+v, reference %+v", raw, got, want)
	}
}

// TestRecordInPlace: a snapshot record decodes in place to what the
// library's decode gives, and every damaged form is refused as corrupt
// (by the library's path, which says what is wrong); the payload is the
// record's own bytes, not a copy.
func TestRecordInPlace(t *testing.T) {
	good := snapshotRecord(t, Version{"alice": 3, "bob": 12}, bytes.Repeat([]byte("weft"), 100))
	snap, err := decodeSnapshot("k", good)
	if err != nil {
		t.Fatal(err)
	}
	if &snap.Payload[0] != &good[len(good)-400-5] {
		t.Fatal("the payload was copied")
	}
	cases := map[string][]byte{
		"good":            good,
		"empty payload":   snapshotRecord(t, Version{"a": 1}, nil),
		"no covers":       snapshotRecord(t, Version{}, []byte{1, 2, 3}),
		"truncated":       good[:len(good)-1],
		"trailing byte":   append(append([]byte{}, good...), 0),
		"empty":           {},
		"not an array":    {0x01},
		"five items":      append([]byte{0x85}, good[1:]...),
		"wrong kind":      func() []byte { b, _ := encodeRecord(recMeta, snapRec{Payload: []byte{1}}); return b }(),
		"body as text":    {0x84, 0x01, 0x06, 0x61, 0x78, 0x00},
		"body indefinite": {0x84, 0x01, 0x06, 0x5f, 0x41, 0x00, 0xff, 0x00},
	}
	flipped := append([]byte{}, good...)
	flipped[len(flipped)-50] ^= 1 // in the payload: the checksum no longer matches
	cases["payload damaged"] = flipped
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) { sameSnapshot(t, raw) })
	}
}

// FuzzRecordInPlace holds the in-place decode of snapshot records to the
// library's, accepted and refused alike.
func FuzzRecordInPlace(f *testing.F) {
	f.Add(snapshotRecord(f, Version{"alice": 3, "bob": 12}, []byte("payload")))
	f.Add(snapshotRecord(f, Version{}, nil))
	f.Add([]byte{0x84, 0x01, 0x06, 0x40, 0x00})
	f.Fuzz(func(t *testing.T, raw []byte) { sameSnapshot(t, raw) })
}
