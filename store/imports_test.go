package store

import (
	"os/exec"
	"strings"
	"testing"
)

// The store keeps encoded bytes: it must not depend on the CRDT or on the
// packages above it (DESIGN.md, "Packages and what each may import").
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, banned := range []string{"weft/crdt", "weft/p2p", "weft/replica", "weft/ui", "github.com/libp2p/"} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") || strings.HasPrefix(dep, banned) && strings.HasSuffix(banned, "/") {
				t.Errorf("store depends on %s", dep)
			}
		}
	}
}
