package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft/internal/child"
)

var (
	seedFlag    = flag.Int64("e2e.seed", 0, "random seed of the e2e tests (0: from the clock; printed on failure)")
	profileFlag = flag.String("e2e.cpuprofile", "", "directory where every daemon and relay writes a CPU profile (WEFT_TEST_CPUPROFILE)")
	longFlag    = flag.Bool("e2e.long", os.Getenv("WEFT_E2E_LONG") != "", "run the long variants (also WEFT_E2E_LONG=1)")
)

// Paths of the binaries TestMain builds.
var (
	weftBin    string
	hostileBin string
	repoRoot   string
)

// slow stretches deadlines when the daemons run under the race detector.
var slow time.Duration = 1

func TestMain(m *testing.M) {
	flag.Parse()
	code := run(m)
	child.KillAll()
	os.Exit(code)
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "weft-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(tmp)

	// A test binary stopped by a signal kills its daemons first.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sigs
		child.KillAll()
		os.RemoveAll(tmp)
		fmt.Fprintf(os.Stderr, "e2e: %v: daemons killed\n", s)
		os.Exit(2)
	}()

	race := raceEnabled || os.Getenv("WEFT_E2E_RACE") != ""
	if race {
		slow = 4
	}
	if err := build(tmp, race); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}

// build compiles weft and the hostile helper into dir.
func build(dir string, race bool) error {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		return fmt.Errorf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return fmt.Errorf("not inside the weft module")
	}
	repoRoot = filepath.Dir(gomod)
	targets := []struct {
		dst *string
		pkg string
	}{{&weftBin, "./cmd/weft"}, {&hostileBin, "./e2e/internal/hostile"}}
	for _, tg := range targets {
		*tg.dst = filepath.Join(dir, filepath.Base(tg.pkg))
		if tg.pkg == "./cmd/weft" {
			if p := os.Getenv("WEFT_E2E_WEFT"); p != "" {
				*tg.dst = p
				continue
			}
		}
		args := []string{"build", "-o", *tg.dst}
		if tg.pkg == "./cmd/weft" {
			// The test hooks (WEFT_TEST_*: fault injection, profiling)
			// are only in this build, never in the shipped binary.
			args = append(args, "-tags", "weft_testhooks")
		}
		if race {
			args = append(args, "-race")
		}
		args = append(args, tg.pkg)
		cmd := exec.Command(goBin, args...)
		cmd.Dir = repoRoot
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if d := time.Since(start); d > 30*time.Second {
			fmt.Fprintf(os.Stderr, "e2e: building %s took %s (cold build cache?)\n", tg.pkg, d.Round(time.Second))
		}
	}
	return nil
}
