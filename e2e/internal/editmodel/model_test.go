package editmodel

import (
	"math/rand/v2"
	"testing"
)

// The accounting must catch what TestConverge and the fault harness are
// there to catch.
func TestModelCatchesLoss(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	build := func() (*Model, []rune, []rune, []rune) {
		m := New()
		a, b, c := m.Alloc(3, rng), m.Alloc(2, rng), m.Alloc(4, rng)
		m.Inserted(a, "a", Acked)
		m.Inserted(b, "b", Acked)
		m.Inserted(c, "c", Unknown)
		m.DeletedCertain(b[:1])
		m.AckedVersion("x", 5)
		return m, a, b, c
	}
	v := map[string]uint64{"x": 5}
	m, a, b, c := build()
	good := string(a) + string(b[1:])
	if p, _ := m.Check(good, v); len(p) != 0 {
		t.Fatalf("a correct text fails: %v", p)
	}
	if p, _ := m.Check(string(c)+good, v); len(p) != 0 {
		t.Fatalf("an insert without reply that was applied fails: %v", p)
	}
	bad := map[string]string{
		"lost acknowledged insert": string(b[1:]),
		"resurrected delete":       good + string(b[:1]),
		"duplicate":                good + string(a[:1]),
		"garbage":                  good + "x",
		"partly lost insert":       string(a[1:]) + string(b[1:]),
	}
	for name, text := range bad {
		if p, _ := m.Check(text, v); len(p) == 0 {
			t.Errorf("%s passes the check", name)
		}
	}
	if p, _ := m.Check(good, map[string]uint64{"x": 4}); len(p) == 0 {
		t.Error("a version behind an acknowledgement passes")
	}
	// An uncertain delete's budget covers a loss of its length, no more.
	m.DeletedUncertain(1, "test")
	if p, _ := m.Check(string(a[1:])+string(b[1:]), v); len(p) != 0 {
		t.Errorf("a loss within the budget fails: %v", p)
	}
	if p, _ := m.Check(string(a[2:])+string(b[1:]), v); len(p) == 0 {
		t.Error("a loss beyond the budget passes")
	}
	// A refused insert must not show up.
	m2, a2, b2, _ := build()
	r := m2.Alloc(1, rng)
	m2.Inserted(r, "r", Refused)
	if p, _ := m2.Check(string(a2)+string(b2[1:]), v); len(p) != 0 {
		t.Fatalf("a correct text fails: %v", p)
	}
	if p, _ := m2.Check(string(a2)+string(b2[1:])+string(r), v); len(p) == 0 {
		t.Error("text of a refused insert passes")
	}
}
