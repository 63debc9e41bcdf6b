package e2e

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"weft/internal/s3test"
	"weft/store"
	"weft/vocab"
)

// TestS3BackupCLI drives `weft backup` as a user would, as separate
// processes that get their S3 settings from the environment, against a
// real S3 API server (versitygw) on loopback: two backups, list, restore
// --at the first and latest, pruning, and the one-line errors.
func TestS3BackupCLI(t *testing.T) {
	srv := s3test.Start(t)
	srv.MakeBucket(t, "weft-e2e")
	env := append(cleanEnv(), srv.Env()...)
	weft := func(env []string, args ...string) (int, string, string) {
		t.Helper()
		ctx, cancel := ctxT()
		defer cancel()
		r, err := weftCmd(ctx, env, args...)
		if err != nil {
			t.Fatalf("weft %v: %v", args, err)
		}
		return r.Code, r.Stdout, r.Stderr
	}
	const url = "s3://weft-e2e/relay"
	data := t.TempDir()
	doc := s3Fill(t, data, "", 0, 40)
	state1 := storeState(t, data)
	if code, out, errs := weft(env, "backup", "create", "--data", data, "--to", url); code != 0 || !strings.HasPrefix(out, "wrote ") {
		t.Fatalf("create: %d %q %q", code, out, errs)
	}
	s3Fill(t, data, doc, 40, 25)
	state2 := storeState(t, data)
	if code, out, errs := weft(env, "backup", "create", "--data", data, "--to", url); code != 0 {
		t.Fatalf("second create: %d %q %q", code, out, errs)
	}
	code, out, errs := weft(env, "backup", "list", "--from", url)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 {
		t.Fatalf("list: %d %q %q", code, out, errs)
	}
	first := strings.Fields(lines[1])[0]

	at1 := filepath.Join(t.TempDir(), "at1")
	if code, out, errs := weft(env, "backup", "restore", "--from", url, "--at", first, "--data", at1); code != 0 {
		t.Fatalf("restore --at %s: %d %q %q", first, code, out, errs)
	}
	if got := storeState(t, at1); got != state1 {
		t.Fatalf("restore --at the first backup:\n%s\nwant\n%s", got, state1)
	}
	latest := filepath.Join(t.TempDir(), "latest")
	if code, out, errs := weft(env, "backup", "restore", "--from", url, "--at", "latest", "--data", latest); code != 0 {
		t.Fatalf("restore latest: %d %q %q", code, out, errs)
	}
	if got := storeState(t, latest); got != state2 {
		t.Fatal("restore latest: not the state at the second backup")
	}
	if code, out, errs := weft(env, "backup", "create", "--data", data, "--to", url, "--keep-last", "1"); code != 0 || !strings.Contains(out, "deleted 2 older") {
		t.Fatalf("create --keep-last 1: %d %q %q", code, out, errs)
	}

	// Mistakes get one line on stderr and a non-zero exit.
	oneLine := func(code, want int, errs string, words ...string) {
		t.Helper()
		if code != want || strings.Count(errs, "\n") != 1 {
			t.Fatalf("exit %d (want %d), stderr %q: want one line", code, want, errs)
		}
		for _, w := range words {
			if !strings.Contains(errs, w) {
				t.Fatalf("stderr %q lacks %q", errs, w)
			}
		}
	}
	code, _, errs = weft(cleanEnv(), "backup", "list", "--from", url)
	oneLine(code, 2, errs, "AWS_ACCESS_KEY_ID")
	code, _, errs = weft(env, "backup", "list", "--from", "s3://x")
	oneLine(code, 2, errs, "bad bucket name")
	code, _, errs = weft(env, "backup", "list", "--from", "s3://no-such-bucket/relay")
	oneLine(code, 1, errs, "no-such-bucket", "not found")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close()
	code, _, errs = weft(append(env, "WEFT_S3_ENDPOINT="+dead), "backup", "create", "--data", data, "--to", url)
	oneLine(code, 1, errs, "unreachable", dead)
}

// s3Fill appends n transactions of agent "e2e" from seq (opaque payloads:
// backups copy bytes) to doc in the store at dir, creating the document
// when doc is "". It returns the document's ID.
func s3Fill(t *testing.T, dir, doc string, seq, n uint64) string {
	t.Helper()
	ctx := context.Background()
	var id store.DocID
	withStore(t, dir, func(s *store.Store, _ []store.DocID) {
		var err error
		if doc == "" {
			id = store.NewDocID()
			if err := s.CreateDoc(ctx, id, "e2e"); err != nil {
				t.Fatal(err)
			}
		} else if id, err = store.ParseDocID(doc); err != nil {
			t.Fatal(err)
		}
		for i := seq; i < seq+n; i++ {
			var ps []store.ID
			if i > 0 {
				ps = []store.ID{{Agent: "e2e", Seq: i - 1}}
			}
			rec := store.TxnRecord{Header: vocab.Header{Agent: "e2e", Seq: i, Len: 1, Parents: ps}, Payload: []byte(fmt.Sprintf("payload %d", i))}
			ack, err := s.Append(ctx, id, store.Immediate, rec)
			if err != nil {
				t.Fatal(err)
			}
			if err := ack.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
	})
	return id.String()
}
