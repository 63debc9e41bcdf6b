package trace

import (
	"errors"
	"strings"
	"testing"
)

func TestParseRejectsMalformedTraces(t *testing.T) {
	for name, in := range map[string]string{
		"not json":             `{"endContent": `,
		"no endContent":        `{"txns": []}`,
		"unknown kind":         `{"kind": "sideways", "endContent": ""}`,
		"negative position":    `{"endContent": "", "txns": [{"patches": [[-1, 0, "x"]]}]}`,
		"short patch":          `{"endContent": "", "txns": [{"patches": [[0, 0]]}]}`,
		"patch of strings":     `{"endContent": "", "txns": [{"patches": [["0", 0, "x"]]}]}`,
		"agent out of range":   `{"kind": "concurrent", "endContent": "", "numAgents": 1, "txns": [{"agent": 1, "parents": [], "patches": []}]}`,
		"parent in the future": `{"kind": "concurrent", "endContent": "", "numAgents": 1, "txns": [{"agent": 0, "parents": [0], "patches": []}]}`,
		"no numAgents":         `{"kind": "concurrent", "endContent": "", "txns": []}`,
		"repeated agent names": `{"kind": "concurrent", "endContent": "", "numAgents": 2, "agentNames": ["a", "a"], "txns": []}`,
		"invalid UTF-8":        "{\"endContent\": \"\xff\"}",
	} {
		if _, err := Parse(strings.NewReader(in)); !errors.Is(err, ErrFormat) {
			t.Errorf("%s: %v, want ErrFormat", name, err)
		}
	}
}

func TestParseKeepsPatchesAndParents(t *testing.T) {
	tr, err := Parse(strings.NewReader(`{"kind": "concurrent", "endContent": "ab🎉", "numAgents": 2, "agentNames": ["x", "y"],
		"txns": [{"agent": 0, "parents": [], "patches": [[0, 0, "a"], [1, 0, "🎉"]]}, {"agent": 1, "parents": [0], "patches": [[1, 0, "b"]]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if tr.Patches() != 3 || len(tr.Txns) != 2 || tr.Agents[1] != "y" || len(tr.Txns[1].Parents) != 1 || tr.Txns[1].Parents[0] != 0 {
		t.Fatalf("%+v", tr)
	}
	var got []Patch
	for p := range tr.PatchesOf(0) {
		got = append(got, p)
	}
	if len(got) != 2 || got[1] != (Patch{Pos: 1, Ins: "🎉"}) {
		t.Fatalf("patches %+v", got)
	}
	c, err := ReplayConcurrent(tr)
	if err != nil {
		t.Fatal(err)
	}
	m, err := Merge(c.All())
	if err != nil || m.Text() != "ab🎉" {
		t.Fatalf("merged %q %v", m.Text(), err)
	}
}
