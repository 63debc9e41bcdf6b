package store

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var writeFixture = flag.Bool("write-v1-fixture", false, "rewrite testdata/v1 with the schema-1 writer below")

// helloWorld is a history whose key order differs from its causal order
// (agent "z" writes first, and the agent "m\x00/." needs escaping); both
// fixtures hold it.
var helloWorld = []TxnRecord{
	txn("z", 0, "hello"),
	txn("a", 0, " ", ID{Agent: "z", Seq: 4}),
	txn("z", 5, "world", ID{Agent: "a", Seq: 0}),
	txn("a", 1, "!", ID{Agent: "z", Seq: 9}),
	txn("m\x00/.", 0, "?", ID{Agent: "z", Seq: 9}), // concurrent with a:1
	txn("a", 2, ".", ID{Agent: "a", Seq: 1}, ID{Agent: "m\x00/.", Seq: 0}),
}

// v1Docs is what the fixture holds: two documents whose transactions'
// key order differs from their causal order (agent "z" writes first).
var v1Docs = map[string][]TxnRecord{
	"6a1f0c3e9b2d4f5a8c7e6d5b4a392817": helloWorld,
	"0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f50": {
		txn("q", 0, "x"),
	},
}

// writeV1 writes a schema-1 store as weft's version-1 code did: schema,
// meta and txn records only (no arrival log, no heads).
func writeV1(t *testing.T, dir string) {
	d, err := openBadger(filepath.Join(dir, DBDirName), testOpts())
	if err != nil {
		t.Fatal(err)
	}
	k := newKV(d)
	var ops [][]kvOp
	put := func(key string, kind uint64, body any) {
		b, err := encodeRecord(kind, body)
		if err != nil {
			t.Fatal(err)
		}
		ops = append(ops, []kvOp{{key: key, val: b}})
	}
	put(schemaKey, recSchema, schemaRec{Schema: 1, Install: make([]byte, 16)})
	for s, txns := range v1Docs {
		id, err := ParseDocID(s)
		if err != nil {
			t.Fatal(err)
		}
		put(metaKey(id), recMeta, metaRec{Title: "v1 " + s[:4], Created: 1700000000e9})
		for i := range txns {
			b, err := encodeTxn(&txns[i])
			if err != nil {
				t.Fatal(err)
			}
			ops = append(ops, []kvOp{{key: txnKey(id, txns[i].Agent, txns[i].Seq), val: b}})
		}
	}
	ctx := context.Background()
	if err := k.commit(ctx, ops, 1<<20); err != nil {
		t.Fatal(err)
	}
	if err := k.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestWriteV1Fixture(t *testing.T) {
	if !*writeFixture {
		t.Skip("run with -write-v1-fixture to regenerate testdata/v1")
	}
	dir := filepath.Join("testdata", "v1")
	os.RemoveAll(dir)
	writeV1(t, dir)
}

func copyDir(t *testing.T, src, dst string) {
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// openFixture opens a copy of the fixture written by schema version from
// (testdata/v<from>) and checks what every migration must leave: one
// automatic pre-migration backup that verifies, and the current schema and
// layout. The store is closed when the test ends.
func openFixture(t *testing.T, from uint64) *Store {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	copyDir(t, filepath.Join("testdata", fmt.Sprintf("v%d", from)), dir)
	s := mustOpen(t, dir)
	t.Cleanup(func() { s.Close() })
	sink := &DirSink{Dir: filepath.Join(dir, BackupsDirName)}
	list, err := ListBackups(ctx, sink)
	if err != nil || len(list) != 1 || list[0].Schema != from || list[0].Label != fmt.Sprintf("pre-migration-v%d", from) {
		t.Fatalf("pre-migration backup: %+v %v", list, err)
	}
	if _, err := VerifyBackup(ctx, sink, list[0].Name, nil); err != nil {
		t.Fatal(err)
	}
	// Migrated through every version to the current layout.
	if v := schemaOf(t, s); v != SchemaVersion {
		t.Fatalf("schema %d after migration", v)
	}
	checkLayout(t, s)
	return s
}

func TestMigrateV1Fixture(t *testing.T) {
	ctx := context.Background()
	s := openFixture(t, 1)
	docs, err := s.Docs(ctx)
	if err != nil || len(docs) != len(v1Docs) {
		t.Fatalf("documents %v %v", docs, err)
	}
	for _, id := range docs {
		if _, ok := v1Docs[id.String()]; !ok {
			t.Fatalf("listed %s, not in the fixture", id)
		}
	}
	for s0, want := range v1Docs {
		id, _ := ParseDocID(s0)
		got := streamAll(t, s, id, nil)
		if len(got) != len(want) {
			t.Fatalf("doc %s: streamed %s", s0, spanList(got))
		}
		// Causal order: every parent and earlier seq precedes.
		have := Version{}
		for _, tr := range got {
			if tr.Seq != have[tr.Agent] {
				t.Fatalf("doc %s: stream %s breaks %q's order", s0, spanList(got), tr.Agent)
			}
			for _, p := range tr.Parents {
				if p.Seq >= have[p.Agent] {
					t.Fatalf("doc %s: stream %s puts %s before its parent", s0, spanList(got), tr.Span())
				}
			}
			have[tr.Agent] = tr.Seq + tr.Len
		}
		v, _ := s.Version(ctx, id)
		if !v.Equal(have) {
			t.Fatalf("heads %v, want %v", v, have)
		}
	}
	res, err := s.Check(ctx, CheckOptions{Codec: fakeCodec{}})
	if err != nil || res.Problems != 0 {
		t.Fatalf("migrated store: %+v %v", res, err)
	}
	// New writes continue the log.
	id, _ := ParseDocID("0d9e8f7a6b5c4d3e2f1a0b9c8d7e6f50")
	mustAppend(t, s, id, Immediate, txn("q", 1, "y", ID{Agent: "q", Seq: 0}))
	if got := streamAll(t, s, id, nil); len(got) != 2 {
		t.Fatalf("after migration: %s", spanList(got))
	}
}

func TestSchemaTooNew(t *testing.T) {
	dir := t.TempDir()
	s := mustOpen(t, dir)
	if err := s.writeSchema(context.Background(), SchemaVersion+5); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err := Open(dir, testOpts())
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), fmt.Sprintf("version %d,", SchemaVersion+5)) || !strings.Contains(err.Error(), fmt.Sprintf("up to %d", SchemaVersion)) {
		t.Fatalf("newer schema: %v", err)
	}
}
