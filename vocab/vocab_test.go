package vocab

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestDocID(t *testing.T) {
	id := DocID{0xab, 0xcd, 15: 1}
	got, err := ParseDocID(id.String())
	if err != nil || got != id || id.String() != "abcd0000000000000000000000000001" {
		t.Fatalf("round trip: %v %v", got, err)
	}
	if b, err := DocIDFromBytes(id[:]); err != nil || b != id {
		t.Fatalf("from bytes: %v %v", b, err)
	}
	for _, bad := range []string{"", "zz", id.String()[:31], id.String() + "0", "ABCD" + id.String()[4:], " " + id.String()[1:], strings.Repeat("0", 32)} {
		if _, err := ParseDocID(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, bad := range [][]byte{nil, make([]byte, 15), make([]byte, 17), make([]byte, 16)} {
		if _, err := DocIDFromBytes(bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
	if !(DocID{}).IsZero() || (DocID{}).Check() == nil || id.IsZero() || id.Check() != nil {
		t.Fatal("the zero ID must be the one invalid ID")
	}
}

func TestCheckAgent(t *testing.T) {
	for _, ok := range []string{"a", "tab-1/ü", strings.Repeat("x", MaxAgentLen), "m\x00/."} {
		if err := CheckAgent(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", strings.Repeat("x", MaxAgentLen+1), "\xff"} {
		if CheckAgent(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestCheckTitle(t *testing.T) {
	for _, ok := range []string{"", "Notes ✏️", strings.Repeat("é", MaxTitle), strings.Repeat("🎉", MaxTitle)} {
		if err := CheckTitle(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if len(strings.Repeat("🎉", MaxTitle)) != 4*MaxTitle {
		t.Fatal("a valid title can be 4*MaxTitle bytes")
	}
	for bad, want := range map[string]string{
		strings.Repeat("é", MaxTitle+1): "code points long",
		"a\nb":                          "control character",
		"tab\there":                     "control character",
		"\xffx":                         "UTF-8",
	} {
		if err := CheckTitle(bad); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", bad, err, want)
		}
	}
}

func TestSpanAndVersion(t *testing.T) {
	s := Span{Agent: "a", Seq: 2, Len: 3}
	if s.End() != 5 || s.String() != `"a" seqs 2..4` || s.Check() != nil {
		t.Fatalf("span %v", s)
	}
	for _, bad := range []Span{{Agent: "", Seq: 0, Len: 1}, {Agent: "a", Len: 0}, {Agent: "a", Seq: MaxSeq, Len: 1}, {Agent: "a", Seq: 1, Len: ^uint64(0)}} {
		if bad.Check() == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if (Span{Agent: "a", Seq: MaxSeq - 1, Len: 1}).Check() != nil {
		t.Error("a span ending at MaxSeq refused")
	}
	v := Version{"a": 5, "b": 1}
	if !v.Contains(ID{"a", 4}) || v.Contains(ID{"a", 5}) || v.Contains(ID{"c", 0}) {
		t.Fatal("Contains")
	}
	if !v.ContainsSpan(s) || v.ContainsSpan(Span{Agent: "a", Seq: 4, Len: 2}) {
		t.Fatal("ContainsSpan")
	}
	w := v.Clone()
	w["a"] = 1
	if v["a"] != 5 || Version(nil).Clone() != nil {
		t.Fatal("Clone shares or invents")
	}
	if !v.Includes(w) || w.Includes(v) || !v.Includes(nil) {
		t.Fatal("Includes")
	}
	w.Merge(Version{"a": 7, "c": 2})
	if w["a"] != 7 || w["b"] != 1 || w["c"] != 2 {
		t.Fatalf("Merge: %v", w)
	}
	if !(Version{"a": 1, "z": 0}).Equal(Version{"a": 1}) || v.Equal(w) {
		t.Fatal("Equal: an agent at 0 is an absent agent")
	}
	if v.Check() != nil || (Version{"": 1}).Check() == nil || (Version{"a": MaxSeq + 1}).Check() == nil {
		t.Fatal("Version.Check")
	}
	if !(ID{}).IsZero() || !(ID{"a", 9}).Less(ID{"b", 0}) || !(ID{"a", 1}).Less(ID{"a", 2}) || (ID{"a", 2}).Less(ID{"a", 2}) {
		t.Fatal("ID order")
	}
}

func TestHeaderCheck(t *testing.T) {
	ok := Header{Agent: "a", Seq: 3, Len: 2, Parents: []ID{{"a", 2}, {"b", 7}}}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	many := make([]ID, MaxParents+1)
	for i := range many {
		many[i] = ID{"b", uint64(i)}
	}
	for name, h := range map[string]Header{
		"no agent":       {Seq: 0, Len: 1},
		"empty":          {Agent: "a", Seq: 0, Len: 0},
		"seq overflow":   {Agent: "a", Seq: MaxSeq, Len: 2},
		"too many":       {Agent: "a", Len: 1, Parents: many},
		"own future":     {Agent: "a", Seq: 3, Len: 1, Parents: []ID{{"a", 3}}},
		"twice":          {Agent: "a", Seq: 3, Len: 1, Parents: []ID{{"b", 1}, {"b", 1}}},
		"bad parent":     {Agent: "a", Seq: 3, Len: 1, Parents: []ID{{"", 1}}},
		"parent too far": {Agent: "a", Seq: 3, Len: 1, Parents: []ID{{"b", MaxSeq}}},
	} {
		if err := h.Check(); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if sp := ok.Span(); sp != (Span{"a", 3, 2}) {
		t.Fatalf("span %v", sp)
	}
}

type foreign string

func (f foreign) Error() string  { return string(f) }
func (f foreign) Reason() string { return string(f) }

func TestReject(t *testing.T) {
	err := Reject(ReasonWrongDocument, "envelope for %s", "x")
	if err.Error() != "rejected (wrong-document): envelope for x" || !errors.Is(err, ErrRejected) || Reason(err) != ReasonWrongDocument || !IsRejected(err) {
		t.Fatalf("%v", err)
	}
	wrapped := fmt.Errorf("reading: %w", err)
	if Reason(wrapped) != ReasonWrongDocument || !errors.Is(wrapped, ErrRejected) || !IsRejected(wrapped) {
		t.Fatalf("wrapped: %v", wrapped)
	}
	sentinel := Rejection(ReasonTruncated, errors.New("p2p: malformed frame"))
	w2 := fmt.Errorf("%w: cut short", sentinel)
	if w2.Error() != "p2p: malformed frame: cut short" || !errors.Is(w2, sentinel) || !errors.Is(w2, ErrRejected) || Reason(w2) != ReasonTruncated {
		t.Fatalf("sentinel: %v", w2)
	}
	plain := errors.New("connection reset")
	if Reason(plain) != ReasonInvalid || IsRejected(plain) || errors.Is(plain, ErrRejected) || IsRejected(nil) {
		t.Fatal("a plain error is not a rejection")
	}
	if Reason(fmt.Errorf("x: %w", foreign("custom"))) != "custom" || Reason(foreign("")) != ReasonInvalid {
		t.Fatal("any error with a Reason() names its reason")
	}
}
