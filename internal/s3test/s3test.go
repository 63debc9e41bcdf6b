package s3test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"weft/internal/child"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Server is one running versitygw.
type Server struct {
	Endpoint  string // http://127.0.0.1:PORT
	AccessKey string
	SecretKey string
	Dir       string // the posix backend's root: one directory per bucket

	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer
}

// Binary returns the versitygw binary's path.
func Binary() (string, error) {
	if p := os.Getenv("WEFT_VERSITYGW"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p, nil
	}
	gopath := build.Default.GOPATH
	for _, dir := range filepath.SplitList(gopath) {
		p := filepath.Join(dir, "bin", "versitygw")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("versitygw not found (set WEFT_VERSITYGW, put it on PATH, or go install it as .ci/run does)")
}

// inCI reports whether the CI environment variable asks for every test to
// run.
func inCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

// Start starts a versitygw for t; it is killed when t ends. Without the
// binary t is skipped (failed under CI).
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		if inCI() {
			t.Fatalf("CI is set and %v", err)
		}
		t.Skipf("SKIPPED: no S3 server to test against: %v", err)
	}
	var lastErr error
	for try := 0; try < 3; try++ {
		s, err := start(t, bin)
		if err == nil {
			return s
		}
		lastErr = err // most likely the free port was taken meanwhile
	}
	t.Fatalf("versitygw did not start: %v", lastErr)
	return nil
}

func start(t testing.TB, bin string) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &Server{
		Endpoint:  "http://" + addr,
		AccessKey: "weft-test-access",
		SecretKey: "weft-test-secret-key",
		Dir:       t.TempDir(),
		exited:    make(chan struct{}),
		out:       &lockedBuffer{},
	}
	s.cmd = exec.Command(bin, "--access", s.AccessKey, "--secret", s.SecretKey,
		"--port", addr, "--quiet", "posix", s.Dir)
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	if err := child.Start(s.cmd); err != nil {
		return nil, err
	}
	go func() { s.cmd.Wait(); child.Forget(s.cmd); close(s.exited) }()
	stop := func() {
		s.cmd.Process.Kill()
		<-s.exited
	}
	deadline := time.After(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("exited: %s", s.out.String())
		case <-deadline:
			stop()
			return nil, fmt.Errorf("not listening on %s after 15s: %s", addr, s.out.String())
		case <-time.After(10 * time.Millisecond): // poll again
		}
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() {
			t.Logf("versitygw output:\n%s", s.out.String())
		}
	})
	return s, nil
}

// Client returns an S3 client for the server.
func (s *Server) Client(t testing.TB) *minio.Client {
	t.Helper()
	c, err := minio.New(strings.TrimPrefix(s.Endpoint, "http://"), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: minio.BucketLookupPath,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// MakeBucket creates bucket.
func (s *Server) MakeBucket(t testing.TB, bucket string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Client(t).MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket %s: %v", bucket, err)
	}
}

// Get returns the object at key in bucket.
func (s *Server) Get(t testing.TB, bucket, key string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	obj, err := s.Client(t).GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		t.Fatalf("get %s/%s: %v", bucket, key, err)
	}
	return b
}

// Put stores b as the object at key in bucket.
func (s *Server) Put(t testing.TB, bucket, key string, b []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := s.Client(t).PutObject(ctx, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{}); err != nil {
		t.Fatalf("put %s/%s: %v", bucket, key, err)
	}
}

// Env returns the environment a weft process needs to reach the server
// (credentials, region, endpoint), as NAME=value pairs.
func (s *Server) Env() []string {
	return []string{
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_REGION=us-east-1",
		"WEFT_S3_ENDPOINT=" + s.Endpoint,
	}
}

// SetEnv sets Env in this process for the rest of t (t.Setenv).
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil // enough to diagnose; drop the rest
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
