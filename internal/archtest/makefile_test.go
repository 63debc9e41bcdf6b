package archtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// Every package with tests is run by `make test`: its unit targets list
// package patterns (PURE_PKGS, RACE_PKGS), and a package missing from both
// would have tests that nothing runs. e2e has its own target.
func TestMakefileRunsEveryPackagesTests(t *testing.T) {
	mk, err := os.ReadFile(filepath.Join(moduleRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, name := range []string{"PURE_PKGS", "RACE_PKGS"} {
		m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(.*)$`).FindSubmatch(mk)
		if m == nil {
			t.Fatalf("the Makefile defines no %s", name)
		}
		for _, p := range strings.Fields(string(m[1])) {
			patterns = append(patterns, "weft/"+strings.TrimPrefix(p, "./"))
		}
	}
	pkgs, ok := goList(t, `{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}`, "weft", false)
	if !ok {
		t.Fatal("go list found no packages")
	}
	for _, p := range pkgs {
		if p == "weft/e2e" || strings.HasPrefix(p, "weft/e2e/") {
			continue
		}
		covered := false
		for _, pat := range patterns {
			covered = covered || matches(p, pat)
		}
		if !covered {
			t.Errorf("%s has tests, but neither PURE_PKGS nor RACE_PKGS in the Makefile runs them", p)
		}
	}
}

func moduleRoot(t *testing.T) string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
