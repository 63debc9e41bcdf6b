package store

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"weft/internal/s3test"
	"weft/vocab"
)

func TestParseS3URL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix string
	}{
		{"s3://weft-backups", "weft-backups", ""},
		{"s3://weft-backups/", "weft-backups", ""},
		{"s3://b.example-1/relay", "b.example-1", "relay/"},
		{"s3://abc/relay/one/", "abc", "relay/one/"},
	} {
		b, p, err := ParseS3URL(tc.in)
		if err != nil || b != tc.bucket || p != tc.prefix {
			t.Errorf("%s: %q %q %v", tc.in, b, p, err)
		}
	}
	for _, bad := range []string{
		"", "weft-backups", "s3:/x", "http://bucket/x", "s3://", "s3://ab", "s3://Upper", "s3://-dash",
		"s3://dash-", "s3://a..b", "s3://under_score", "s3://user@bucket", "s3://bucket:80/x",
		"s3://bucket//x", "s3://bucket/a//b", "s3://bucket/../x", "s3://bucket/./x", "s3://bucket/x?y",
		"s3://bucket/tab\there", "s3://bucket/" + strings.Repeat("p", 513), "s3://" + strings.Repeat("b", 64),
	} {
		if _, _, err := ParseS3URL(bad); !errors.Is(err, ErrS3Config) {
			t.Errorf("%q accepted (%v)", bad, err)
		}
	}
}

func TestS3OptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "TOK",
		"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ENDPOINT_URL": "http://generic:1", "AWS_ENDPOINT_URL_S3": "http://s3only:2",
	}
	o := S3OptionsFromEnv(func(k string) string { return env[k] })
	if o.AccessKey != "AK" || o.SecretKey != "SK" || o.SessionToken != "TOK" || o.Region != "eu-west-1" || o.Endpoint != "http://s3only:2" {
		t.Fatalf("%+v", o)
	}
	env["WEFT_S3_ENDPOINT"], env["AWS_REGION"] = "http://weft:3", "us-west-2"
	if o := S3OptionsFromEnv(func(k string) string { return env[k] }); o.Endpoint != "http://weft:3" || o.Region != "us-west-2" {
		t.Fatalf("WEFT_S3_ENDPOINT and AWS_REGION come first: %+v", o)
	}
	if o.PartSize != DefaultS3Options().PartSize || o.MaxRetries != DefaultS3Options().MaxRetries {
		t.Fatalf("defaults lost: %+v", o)
	}
}

func TestNewS3SinkRefusesBadConfig(t *testing.T) {
	good := DefaultS3Options()
	good.AccessKey, good.SecretKey, good.Endpoint = "a", "b", "http://127.0.0.1:9000"
	if _, err := NewS3Sink("s3://bucket/p", good); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*S3Options){
		"no access key":  func(o *S3Options) { o.AccessKey = "" },
		"no secret":      func(o *S3Options) { o.SecretKey = "" },
		"no scheme":      func(o *S3Options) { o.Endpoint = "127.0.0.1:9000" },
		"ftp":            func(o *S3Options) { o.Endpoint = "ftp://host" },
		"path":           func(o *S3Options) { o.Endpoint = "http://host/sub" },
		"bad port":       func(o *S3Options) { o.Endpoint = "http://host:99999" },
		"small parts":    func(o *S3Options) { o.PartSize = 1 << 20 },
		"no retries":     func(o *S3Options) { o.MaxRetries = 0 },
		"no timeout":     func(o *S3Options) { o.DialTimeout = 0 },
		"region w/ path": func(o *S3Options) { o.Region = "us/east" },
	} {
		o := good
		mod(&o)
		if _, err := NewS3Sink("s3://bucket/p", o); !errors.Is(err, ErrS3Config) {
			t.Errorf("%s: %v", name, err)
		}
	}
	o := good
	o.AccessKey = ""
	if _, err := NewS3Sink("s3://bucket/p", o); err == nil || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Errorf("missing credentials should name the variables: %v", err)
	}
}

// s3Options are the default options with srv's endpoint and credentials.
func s3Options(srv *s3test.Server) S3Options {
	o := DefaultS3Options()
	o.Endpoint, o.AccessKey, o.SecretKey = srv.Endpoint, srv.AccessKey, srv.SecretKey
	return o
}

// s3Sink starts versitygw with a bucket and returns a sink on it.
func s3Sink(t *testing.T, prefix string) (*S3Sink, *s3test.Server) {
	t.Helper()
	srv := s3test.Start(t)
	srv.MakeBucket(t, "weft-test")
	o := s3Options(srv)
	o.PartSize = s3MinPartSize
	sink, err := NewS3Sink("s3://weft-test/"+prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return sink, srv
}

// storeState is everything a test compares between a store and its
// restored copy: the install ID and every document's meta and transactions.
func storeState(t *testing.T, s *Store) string {
	t.Helper()
	ctx := context.Background()
	var b strings.Builder
	id := s.InstallID()
	b.Write(id[:])
	docs, err := s.Docs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		m, err := s.Meta(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("\ndoc " + d.String() + " " + m.Title + "\n")
		for _, r := range streamAll(t, s, d, nil) {
			b.WriteString(spanList([]TxnRecord{r}))
			b.Write(r.Payload)
		}
	}
	return b.String()
}

func openState(t *testing.T, dir string) string {
	t.Helper()
	r := mustOpen(t, dir)
	defer r.Close()
	res, err := r.Check(context.Background(), CheckOptions{Codec: fakeCodec{}})
	if err != nil || res.Problems != 0 {
		t.Fatalf("restored store not consistent: %+v %v", res, err)
	}
	return storeState(t, r)
}

// openStateUnchecked is openState without Check, for stores too big to
// check quickly.
func openStateUnchecked(t *testing.T, dir string) string {
	t.Helper()
	r := mustOpen(t, dir)
	defer r.Close()
	return storeState(t, r)
}

func TestS3BackupListRestoreAt(t *testing.T) {
	ctx := context.Background()
	sink, srv := s3Sink(t, "relay/one")
	c := newFakeClock(t0)
	s := clockedStore(t, c)
	first, err := s.Backup(ctx, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	stateAtFirst := storeState(t, s)
	c.Advance(time.Hour)
	doc2 := mustCreate(t, s)
	mustAppend(t, s, doc2, Immediate, linear("b", 0, 30)...)
	second, err := s.Backup(ctx, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	stateAtSecond := storeState(t, s)
	if stateAtFirst == stateAtSecond {
		t.Fatal("test is void: the two states are the same")
	}

	// Objects elsewhere in the bucket are not this sink's backups.
	for _, key := range []string{"relay/other.txt", "relay/one/sub/" + first.Name, "elsewhere/" + first.Name} {
		srv.Put(t, "weft-test", key, []byte("x"))
	}
	list, err := ListBackups(ctx, sink)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != first.Name || list[1].Name != second.Name || list[0].Size == 0 {
		t.Fatalf("list %+v", list)
	}
	if !list[0].Created.Equal(t0) || list[0].Schema != SchemaVersion {
		t.Fatalf("header: %+v", list[0])
	}
	// Restore --at the first backup's timestamp gives exactly that state.
	b, err := FindBackup(ctx, sink, t0.Format(backupTimeFmt))
	if err != nil || b.Name != first.Name {
		t.Fatalf("find: %+v %v", b, err)
	}
	var passes []string
	dst := t.TempDir()
	info, err := Restore(ctx, sink, b.Name, dst, RestoreOptions{Progress: func(pass string, p Progress) {
		if len(passes) == 0 || passes[len(passes)-1] != pass {
			passes = append(passes, pass)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if info.Entries != first.Entries || strings.Join(passes, ",") != "verify,restore" {
		t.Fatalf("restore %+v, passes %v", info, passes)
	}
	if got := openState(t, dst); got != stateAtFirst {
		t.Fatal("restored state differs from the state at the first backup")
	}
	// An RFC 3339 time picks the latest at or before it; latest is the
	// second.
	for _, at := range []string{t0.Add(90 * time.Minute).Format(time.RFC3339), "latest"} {
		b, err := FindBackup(ctx, sink, at)
		if err != nil || b.Name != second.Name {
			t.Fatalf("%s: %+v %v", at, b, err)
		}
	}
	dst2 := t.TempDir()
	if _, err := Restore(ctx, sink, second.Name, dst2, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := openState(t, dst2); got != stateAtSecond {
		t.Fatal("restored state differs from the state at the second backup")
	}
	if _, err := sink.Open(ctx, "weft-backup-19990101T000000.000000000Z.wbk"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("open missing: %v", err)
	}
}

// bigStore writes about size bytes of incompressible transactions.
func bigStore(t *testing.T, c *fakeClock, size int) *Store {
	t.Helper()
	s := clockedStore(t, c)
	id := mustCreate(t, s)
	rng := rand.New(rand.NewPCG(1, 2))
	const per = 64 << 10
	var txns []TxnRecord
	for i := 0; i < size/per; i++ {
		text := make([]byte, per)
		for j := range text {
			text[j] = 'a' + byte(rng.IntN(26))
		}
		var ps []ID
		if i > 0 {
			ps = []ID{{Agent: "big", Seq: uint64(i-1) * per}}
		}
		h := vocab.Header{Agent: "big", Seq: uint64(i) * per, Len: per, Parents: ps}
		// The fake payload repeats the text; what matters is its size.
		txns = append(txns, TxnRecord{Header: h, Payload: fakePayload(h, string(text))})
	}
	for len(txns) > 0 {
		n := min(len(txns), 8)
		mustAppend(t, s, id, Immediate, txns[:n]...)
		txns = txns[n:]
	}
	return s
}

func TestS3MultipartBackupAndAbort(t *testing.T) {
	ctx := context.Background()
	sink, srv := s3Sink(t, "")
	c := newFakeClock(t0)
	s := bigStore(t, c, 12<<20)
	info, err := s.Backup(ctx, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := srv.Client(t)
	st, err := cl.StatObject(ctx, "weft-test", info.Name, minio.StatObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// 5 MiB parts: a 12 MiB backup is a three-part upload (the ETag of a
	// multipart object ends in -<parts>).
	if st.Size < 12<<20 || !strings.HasSuffix(strings.Trim(st.ETag, `"`), "-3") {
		t.Fatalf("object %d bytes, ETag %s: want a 3-part upload", st.Size, st.ETag)
	}
	want := storeState(t, s)
	dst := t.TempDir()
	if _, err := Restore(ctx, sink, info.Name, dst, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if openStateUnchecked(t, dst) != want {
		t.Fatal("restored state differs")
	}

	// A backup cancelled half-way leaves nothing: no object, no upload.
	c.Advance(time.Minute)
	cctx, cancel := context.WithCancel(ctx)
	chunks := 0
	_, err = s.Backup(cctx, sink, func(Progress) {
		if chunks++; chunks == 7 { // past the first part
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled backup: %v", err)
	}
	if got := backupNames(t, sink); len(got) != 1 || got[0] != info.Name {
		t.Fatalf("after an aborted backup: %v", got)
	}
	for u := range cl.ListIncompleteUploads(ctx, "weft-test", "", true) {
		if u.Err != nil {
			t.Fatal(u.Err)
		}
		t.Fatalf("multipart upload %s of %s left behind", u.UploadID, u.Key)
	}
}

func TestS3RestoreRefusesDamagedBackups(t *testing.T) {
	ctx := context.Background()
	sink, srv := s3Sink(t, "p")
	c := newFakeClock(t0)
	s := clockedStore(t, c)
	info, err := s.Backup(ctx, sink, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The target already holds a store; even with Force a damaged backup
	// must leave it as it was.
	target := t.TempDir()
	c.Advance(time.Minute)
	if _, err := s.Backup(ctx, &DirSink{Dir: filepath.Join(target, "seed")}, nil); err != nil {
		t.Fatal(err)
	}
	seedSink := &DirSink{Dir: filepath.Join(target, "seed")}
	seeds, _ := ListBackups(ctx, seedSink)
	if _, err := Restore(ctx, seedSink, seeds[0].Name, target, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	before := openState(t, target)

	key := "p/" + info.Name
	orig := srv.Get(t, "weft-test", key)
	for _, tc := range []struct {
		name string
		mut  func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"flipped byte in the end frame", func(b []byte) []byte { b[len(b)-3] ^= 0x10; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-10] }},
		{"cut in half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func(b []byte) []byte { return nil }},
		{"trailing data", func(b []byte) []byte { return append(b, 0) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.Put(t, "weft-test", key, tc.mut(bytes.Clone(orig)))
			if _, err := VerifyBackup(ctx, sink, info.Name, nil); !errors.Is(err, ErrBackup) {
				t.Fatalf("verify: %v", err)
			}
			if _, err := Restore(ctx, sink, info.Name, target, RestoreOptions{Force: true}); !errors.Is(err, ErrBackup) {
				t.Fatalf("restore: %v", err)
			}
			if kept, _ := filepath.Glob(filepath.Join(target, DBDirName+".*")); len(kept) != 0 {
				t.Fatalf("restore moved things in the target: %v", kept)
			}
			if openState(t, target) != before {
				t.Fatal("the target's store changed")
			}
		})
	}
}

func TestS3Retention(t *testing.T) {
	ctx := context.Background()
	sink, srv := s3Sink(t, "r")
	c := newFakeClock(day(0).Add(8 * time.Hour))
	s := clockedStore(t, c)
	// A labelled backup and a stranger under the prefix stay.
	labelled, err := s.backup(ctx, sink, "pre-migration-v2", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.Put(t, "weft-test", "r/README", []byte("hi"))
	r := Retention{KeepLast: 1, KeepDaily: 2}
	var last BackupInfo
	for d := 0; d < 4; d++ {
		for _, h := range []int{9, 21} {
			c.Advance(day(d).Add(time.Duration(h) * time.Hour).Sub(c.Now()))
			if last, _, err = s.BackupAndPrune(ctx, sink, r, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	want := []string{labelled.Name, backupName(day(2).Add(21*time.Hour), ""), last.Name}
	if got := backupNames(t, sink); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("kept %v\nwant %v", got, want)
	}
	if _, err := srv.Client(t).StatObject(ctx, "weft-test", "r/README", minio.StatObjectOptions{}); err != nil {
		t.Fatalf("retention touched a stranger: %v", err)
	}
	if err := sink.Delete(ctx, "weft-backup-19990101T000000.000000000Z.wbk"); err != nil {
		t.Fatalf("deleting a missing backup: %v", err)
	}
	if err := sink.Delete(ctx, "../README"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("delete outside the prefix: %v", err)
	}
}

func TestS3Errors(t *testing.T) {
	ctx := context.Background()
	srv := s3test.Start(t)
	srv.MakeBucket(t, "weft-test")
	base := s3Options(srv)

	sink, err := NewS3Sink("s3://no-such-bucket/x", base)
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Check(ctx); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "no-such-bucket") {
		t.Fatalf("missing bucket: %v", err)
	}
	if _, err := sink.List(ctx); !errors.Is(err, ErrNotFound) {
		t.Fatalf("list of a missing bucket: %v", err)
	}

	o := base
	o.SecretKey = "wrong"
	sink, _ = NewS3Sink("s3://weft-test/x", o)
	if err := sink.Check(ctx); !errors.Is(err, ErrS3Denied) {
		t.Fatalf("wrong secret: %v", err)
	}

	// Nothing listens on a port we just closed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	o = base
	o.Endpoint = "http://" + ln.Addr().String()
	ln.Close()
	o.MaxRetries = 1
	sink, _ = NewS3Sink("s3://weft-test/x", o)
	err = sink.Check(ctx)
	if !errors.Is(err, ErrS3Unreachable) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unreachable: %v", err)
	}
	st := clockedStore(t, newFakeClock(t0))
	if _, err := st.Backup(ctx, sink, nil); !errors.Is(err, ErrS3Unreachable) {
		t.Fatalf("backup to an unreachable endpoint: %v", err)
	}
	if _, err := FindBackup(ctx, sink, "latest"); !errors.Is(err, ErrS3Unreachable) {
		t.Fatalf("list from an unreachable endpoint: %v", err)
	}
}
