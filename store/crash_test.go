package store

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft/vocab"
)

var (
	crashRounds = flag.Int("crash-rounds", envInt("WEFT_CRASH_ROUNDS", 50), "SIGKILL rounds in TestCrash (env WEFT_CRASH_ROUNDS)")
	crashSeed   = flag.Uint64("crash-seed", uint64(envInt("WEFT_CRASH_SEED", 0)), "seed for TestCrash (0: from the clock; env WEFT_CRASH_SEED)")
)

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

const crashDoc = "c0ffee00c0ffee00c0ffee00c0ffee00"

// crashText is the deterministic content of (agent, seq, n).
func crashText(seq, n uint64) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + (seq+uint64(i))%26)
	}
	return string(b)
}

// TestCrash runs a child process that writes transactions under both
// policies, reports each acknowledged write on a pipe and compacts the
// document now and then; it kills the child with SIGKILL at a random
// moment, reopens the store and checks that every acknowledged write is
// there with the right content (through snapshot and log, as a replica
// opens it), that every stored payload decodes, and that Check finds
// nothing wrong. The store carries over from round to round, so later
// rounds recover from a store that has been killed before, sometimes in the
// middle of a compaction.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test skipped in -short mode")
	}
	seed := *crashSeed
	if seed == 0 {
		seed = uint64(time.Now().UnixNano())
	}
	rng := rand.New(rand.NewPCG(seed, 0))
	dir := t.TempDir()
	id, _ := ParseDocID(crashDoc)
	acked := map[string][]Span{}
	total, midCompaction := 0, 0
	for round := 0; round < *crashRounds; round++ {
		fail := func(f string, args ...any) {
			t.Helper()
			t.Fatalf("seed %d (rerun with -crash-seed=%d), round %d: %s", seed, seed, round, fmt.Sprintf(f, args...))
		}
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		// The child is this test binary, already built.
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
		cmd.Env = append(os.Environ(), "WEFT_CRASH_CHILD="+dir, fmt.Sprintf("WEFT_CRASH_CHILD_SEED=%d", rng.Uint64()))
		cmd.ExtraFiles = []*os.File{w}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		lines := make(chan string, 1024)
		go func() {
			sc := bufio.NewScanner(r)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// Wait for the child to start writing, then let it run for a
		// random while (or a random number of acks) before killing it.
		killAfter := time.Duration(rng.IntN(80)) * time.Millisecond
		wantAcks := rng.IntN(400)
		var timer <-chan time.Time
		n := 0
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if l == "ready" {
					timer = time.After(killAfter)
					continue
				}
				f := strings.Fields(l)
				if len(f) != 4 || f[0] != "ack" {
					fail("bad line from child: %q", l)
				}
				seq, _ := strconv.ParseUint(f[2], 10, 64)
				ln, _ := strconv.ParseUint(f[3], 10, 64)
				acked[f[1]] = append(acked[f[1]], Span{Agent: f[1], Seq: seq, Len: ln})
				n++
				if n >= wantAcks && timer != nil {
					break read
				}
			case <-timer:
				break read
			}
		}
		cmd.Process.Signal(syscall.SIGKILL)
		for range lines { // acks written before death count too
		}
		err = cmd.Wait()
		r.Close()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			fail("child exited on its own: %v", err)
		}
		// Reopen and verify.
		s, err := Open(dir, crashOpts())
		if err != nil {
			fail("reopen: %v", err)
		}
		ctx := context.Background()
		v, err := s.Version(ctx, id)
		if err != nil {
			fail("version: %v", err)
		}
		if raw, err := get(ctx, s.kv.d, logEndKey(id)); err == nil {
			var le logEndRec
			if decodeRecord(recLogEnd, raw, &le) == nil && le.Dirty {
				midCompaction++
			}
		}
		doc, err := loadDoc(ctx, s, id)
		if err != nil {
			fail("open: %v", err)
		}
		items := doc.items
		for agent, spans := range acked {
			for _, sp := range spans {
				if v[agent] < sp.End() {
					fail("acknowledged %s lost (version %v)", sp, v)
				}
				want := crashText(sp.Seq, sp.Len)
				for i := range sp.Len {
					if items[ID{Agent: agent, Seq: sp.Seq + i}] != want[i] {
						fail("acknowledged %s opens wrongly at seq %d", sp, sp.Seq+i)
					}
				}
			}
		}
		res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}})
		if err != nil || res.Problems != 0 {
			var ps []Problem
			s.Check(ctx, CheckOptions{Codec: fakeCodec{}, Report: func(p Problem) { ps = append(ps, p) }})
			fail("check after crash: %+v %v %v", res, err, ps)
		}
		// Compact what was verified, so that the store stays small and the
		// next child's compactions (which the kill may interrupt) are quick;
		// after a kill that landed in one, this one finishes its job.
		if _, err := s.Compact(ctx, id, doc.Snapshot(), doc.Version()); err != nil {
			fail("compact: %v", err)
		}
		total += n
		if err := s.Close(); err != nil {
			fail("close: %v", err)
		}
	}
	t.Logf("seed %d: %d rounds, %d acknowledged writes verified, %d kills landed in a compaction", seed, *crashRounds, total, midCompaction)
}

// crashOpts are the options of the crash test's stores: a small badger
// (its data is small), quick batches.
func crashOpts() Options {
	o := testOpts()
	o.MaxBatchBytes = 256 << 10
	o.MemTableBytes = 4 << 20
	o.BlockCacheBytes = 1 << 20
	return o
}

// TestCrashChild is the child process of TestCrash; it does nothing in a
// normal run.
func TestCrashChild(t *testing.T) {
	dir := os.Getenv("WEFT_CRASH_CHILD")
	if dir == "" {
		t.Skip("child of TestCrash only")
	}
	seed, _ := strconv.ParseUint(os.Getenv("WEFT_CRASH_CHILD_SEED"), 10, 64)
	out := os.NewFile(3, "acks")
	o := crashOpts()
	o.MaxDelay = time.Duration(1+seed%5) * time.Millisecond
	s, err := Open(dir, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	ctx := context.Background()
	id, _ := ParseDocID(crashDoc)
	if err := s.CreateDoc(ctx, id, "crash"); err != nil && !errors.Is(err, ErrExists) {
		fmt.Fprintln(os.Stderr, "child create:", err)
		os.Exit(3)
	}
	acks := make(chan string, 1<<16)
	done := make(chan struct{})
	go func() { // the only writer of the pipe
		for l := range acks {
			fmt.Fprintln(out, l)
		}
		close(done)
	}()
	writer := func(agent, other string, p Policy, rng *rand.Rand) {
		pending := make(chan func(), 1024)
		go func() {
			for f := range pending {
				f()
			}
		}()
		for {
			v, err := s.Version(ctx, id)
			if err != nil {
				panic(err)
			}
			seq := v[agent]
			n := 1 + rng.Uint64N(3)
			var ps []ID
			if seq > 0 {
				ps = append(ps, ID{Agent: agent, Seq: seq - 1})
			}
			if v[other] > 0 && rng.IntN(4) == 0 {
				ps = append(ps, ID{Agent: other, Seq: v[other] - 1})
			}
			h := vocab.Header{Agent: agent, Seq: seq, Len: n, Parents: ps}
			ack, err := s.Append(ctx, id, p, TxnRecord{Header: h, Payload: fakePayload(h, crashText(seq, n))})
			if err != nil {
				panic(err)
			}
			line := fmt.Sprintf("ack %s %d %d", agent, seq, n)
			if p == Immediate {
				acks <- line
			} else {
				pending <- func() {
					if ack.Wait(ctx) == nil {
						acks <- line
					}
				}
			}
		}
	}
	// Compact at once (with the document as it was at the start, loaded
	// before "ready") while the writers write, then every little while.
	start, err := loadDoc(ctx, s, id)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child load:", err)
		os.Exit(3)
	}
	compactor := func(rng *rand.Rand) {
		d := start
		for {
			if _, err := s.Compact(ctx, id, d.Snapshot(), d.Version()); err != nil {
				panic(err)
			}
			time.Sleep(time.Duration(rng.IntN(30)) * time.Millisecond) // pacing, not waiting for anything
			if d, err = loadDoc(ctx, s, id); err != nil {
				panic(err)
			}
		}
	}
	acks <- "ready"
	go writer("imm", "bat", Immediate, rand.New(rand.NewPCG(seed, 1)))
	go writer("bat", "imm", Batched, rand.New(rand.NewPCG(seed, 2)))
	go compactor(rand.New(rand.NewPCG(seed, 3)))
	select {} // until killed
}
