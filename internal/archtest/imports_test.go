package archtest

import (
	"os/exec"
	"strings"
	"testing"
)

// rule says what a package (and everything it imports) must not import.
type rule struct {
	pkg string
	// forbidden import paths; a trailing "/..." also forbids everything below.
	deny []string
	// forbidden among the package's own direct imports only (purity).
	denyDirect []string
	// stdOnly: besides the package itself, only the standard library.
	stdOnly bool
}

var (
	libp2p = []string{"github.com/libp2p/...", "github.com/multiformats/..."}
	badger = []string{"github.com/dgraph-io/badger/...", "github.com/dgraph-io/badger/v4/...", "github.com/ipfs/go-ds-badger4/...", "github.com/ipfs/go-ds-badger/..."}
)

func cat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// The table of DESIGN.md.
var rules = []rule{
	{
		// The leaf vocabulary: every other package may import it.
		pkg:        "weft/vocab",
		deny:       []string{"weft/..."},
		denyDirect: []string{"os", "time", "log", "log/slog", "net", "os/exec", "crypto/rand", "math/rand", "math/rand/v2"},
		stdOnly:    true,
	},
	{
		pkg:        "weft/crdt",
		deny:       cat([]string{"weft/store/...", "weft/p2p/...", "weft/replica/...", "weft/ui/...", "weft/cmd/...", "weft/internal/...", "net/...", "net"}, libp2p, badger),
		denyDirect: []string{"os", "time", "log", "log/slog", "net", "os/exec"},
	},
	{
		pkg:        "weft/wire",
		deny:       cat([]string{"weft/store/...", "weft/p2p/...", "weft/replica/...", "weft/ui/...", "weft/cmd/...", "net/...", "net"}, libp2p, badger),
		denyDirect: []string{"os", "time", "log", "log/slog", "net"},
	},
	{
		// The pure core of members-only documents.
		pkg:        "weft/member",
		deny:       cat([]string{"weft/store/...", "weft/p2p/...", "weft/replica/...", "weft/ui/...", "weft/cmd/...", "weft/crdt/...", "weft/wire/...", "net/...", "net"}, libp2p, badger),
		denyDirect: []string{"os", "time", "log", "log/slog", "net", "os/exec", "crypto/rand", "math/rand", "math/rand/v2"},
	},
	{pkg: "weft/store", deny: []string{"weft/crdt/...", "weft/p2p/...", "weft/replica/...", "weft/ui/..."}},
	{pkg: "weft/p2p", deny: []string{"weft/crdt/...", "weft/store/...", "weft/replica/...", "weft/ui/..."}},
	{pkg: "weft/replica", denyDirect: cat(libp2p, badger)},
	{pkg: "weft/ui", deny: cat([]string{"weft/p2p/...", "weft/store/..."}, libp2p, badger)},
	{pkg: "weft/obs", deny: cat([]string{"weft/p2p/...", "weft/store/...", "weft/replica/...", "weft/ui/..."}, libp2p, badger)},
}

func matches(path, pattern string) bool {
	if p, ok := strings.CutSuffix(pattern, "/..."); ok {
		return path == p || strings.HasPrefix(path, p+"/")
	}
	return path == pattern
}

func goList(t *testing.T, format, pkg string, deps bool) ([]string, bool) {
	t.Helper()
	args := []string{"list", "-f", format}
	if deps {
		args = append(args, "-deps")
	}
	out, err := exec.Command("go", append(args, pkg+"/...")...).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "matched no packages") || strings.Contains(string(out), "no Go files") || strings.Contains(string(out), "cannot find") {
			return nil, false
		}
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	if strings.TrimSpace(string(out)) == "" {
		return nil, false
	}
	return strings.Fields(string(out)), true
}

func TestImportTable(t *testing.T) {
	checked := 0
	for _, r := range rules {
		deps, ok := goList(t, "{{.ImportPath}}", r.pkg, true)
		if !ok {
			t.Logf("%s does not exist yet; nothing to check", r.pkg)
			continue
		}
		checked++
		for _, d := range deps {
			if r.stdOnly && !strings.HasPrefix(d, r.pkg) && strings.Contains(strings.SplitN(d, "/", 2)[0], ".") {
				t.Errorf("%s must import only the standard library (it depends on %s)", r.pkg, d)
			}
			for _, bad := range r.deny {
				if matches(d, bad) && !strings.HasPrefix(d, r.pkg) {
					t.Errorf("%s must not import %s (it depends on %s)", r.pkg, bad, d)
				}
			}
		}
		direct, _ := goList(t, `{{join .Imports " "}}`, r.pkg, false)
		for _, d := range direct {
			for _, bad := range r.denyDirect {
				if matches(d, bad) {
					t.Errorf("%s must not import %s directly", r.pkg, d)
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no package of the table was found: is the module path still weft?")
	}
}

// The rules must be able to fail: a package that imports a forbidden one
// is caught.
func TestImportTableCatches(t *testing.T) {
	if !matches("github.com/libp2p/go-libp2p/core", "github.com/libp2p/...") || matches("weft/crdtx", "weft/crdt/...") || !matches("net", "net") {
		t.Fatal("pattern matching is wrong")
	}
	deps, ok := goList(t, "{{.ImportPath}}", "weft/internal/trace", true)
	if !ok {
		t.Fatal("weft/internal/trace not found")
	}
	found := false
	for _, d := range deps {
		if matches(d, "weft/crdt/...") {
			found = true
		}
	}
	if !found {
		t.Fatal("go list -deps did not report weft/internal/trace's import of weft/crdt")
	}
}
