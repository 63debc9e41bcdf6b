package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Limits of S3 part sizes (the S3 API's own).
const (
	s3MinPartSize = 5 << 20
	s3MaxPartSize = 5 << 30
	// s3MaxListed bounds how many backups one List returns; retention keeps
	// a prefix far below it.
	s3MaxListed = 100_000
)

// S3Options configure an S3Sink. S3OptionsFromEnv fills them from the
// standard environment variables.
type S3Options struct {
	// Endpoint is the server's URL: http:// or https://, a host and an
	// optional port, nothing else. Buckets are addressed path-style
	// (http://host/bucket/key), as S3-compatible servers expect. Default ""
	// means Amazon S3 (https, virtual-host addressing).
	Endpoint string
	// Region signs requests. Default "": Amazon S3 looks the bucket's region
	// up; other servers get "us-east-1".
	Region string
	// AccessKey and SecretKey are required; SessionToken is optional
	// (temporary credentials). No default.
	AccessKey, SecretKey, SessionToken string
	// PartSize is the size of one part of a multipart upload, which is also
	// the memory one upload holds: a backup streams through one part
	// buffer and is never held whole. Backups up to 10,000 parts can be
	// written (156 GiB at the default). Default 16 MiB; 5 MiB to 5 GiB.
	PartSize int64
	// MaxRetries is how many times a failed request is tried in all.
	// Default 3.
	MaxRetries int
	// DialTimeout bounds connecting to the endpoint. Default 10s.
	DialTimeout time.Duration
	// ResponseTimeout bounds waiting for a response's headers once a
	// request was sent. Default 2 minutes.
	ResponseTimeout time.Duration
}

// DefaultS3Options returns the defaults (no endpoint, no credentials).
func DefaultS3Options() S3Options {
	return S3Options{PartSize: 16 << 20, MaxRetries: 3, DialTimeout: 10 * time.Second, ResponseTimeout: 2 * time.Minute}
}

// S3OptionsFromEnv returns DefaultS3Options with what the environment
// sets, read through getenv (os.Getenv): AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; AWS_REGION (or
// AWS_DEFAULT_REGION); the endpoint from WEFT_S3_ENDPOINT, else
// AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL. Missing credentials are
// reported by NewS3Sink.
func S3OptionsFromEnv(getenv func(string) string) S3Options {
	o := DefaultS3Options()
	first := func(names ...string) string {
		for _, n := range names {
			if v := strings.TrimSpace(getenv(n)); v != "" {
				return v
			}
		}
		return ""
	}
	o.AccessKey = first("AWS_ACCESS_KEY_ID")
	o.SecretKey = first("AWS_SECRET_ACCESS_KEY")
	o.SessionToken = first("AWS_SESSION_TOKEN")
	o.Region = first("AWS_REGION", "AWS_DEFAULT_REGION")
	o.Endpoint = first("WEFT_S3_ENDPOINT", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
	return o
}

func s3ConfigErr(f string, args ...any) error {
	return fmt.Errorf("%w: "+f, append([]any{ErrS3Config}, args...)...)
}

// endpoint parses and checks o.Endpoint: host[:port] and whether TLS is on.
func (o S3Options) endpoint() (host string, secure bool, err error) {
	if o.Endpoint == "" {
		return "s3.amazonaws.com", true, nil
	}
	u, err := url.Parse(o.Endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", false, s3ConfigErr("endpoint %q: want http://HOST[:PORT] or https://HOST[:PORT]", o.Endpoint)
	}
	if p := u.Port(); p != "" {
		if _, err := net.LookupPort("tcp", p); err != nil {
			return "", false, s3ConfigErr("endpoint %q: bad port", o.Endpoint)
		}
	}
	return u.Host, u.Scheme == "https", nil
}

func (o S3Options) validate() error {
	if _, _, err := o.endpoint(); err != nil {
		return err
	}
	switch {
	case o.AccessKey == "" || o.SecretKey == "":
		return s3ConfigErr("no credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	case o.PartSize < s3MinPartSize || o.PartSize > s3MaxPartSize:
		return s3ConfigErr("part size %d: want 5 MiB to 5 GiB", o.PartSize)
	case o.MaxRetries < 1 || o.MaxRetries > 100:
		return s3ConfigErr("max retries %d: want 1 to 100", o.MaxRetries)
	case o.DialTimeout <= 0 || o.ResponseTimeout <= 0:
		return s3ConfigErr("timeouts must be positive")
	case strings.ContainsAny(o.Region, " /\t\r\n"):
		return s3ConfigErr("region %q", o.Region)
	}
	return nil
}

// ParseS3URL splits s3://BUCKET/PREFIX into the bucket and the key prefix
// (empty, or ending in "/"). Bucket names follow S3's rules (3 to 63 of
// a-z, 0-9, '.', '-', starting and ending with a letter or digit); the
// prefix is at most 512 bytes of slash-separated segments, none empty,
// "." or "..", without control characters.
func ParseS3URL(raw string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(raw, "s3://")
	if !ok {
		return "", "", s3ConfigErr("%q is not an s3://BUCKET/PREFIX URL", raw)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if !validBucket(bucket) {
		return "", "", s3ConfigErr("%q: bad bucket name %q (3-63 characters of a-z, 0-9, '.' and '-')", raw, bucket)
	}
	prefix = strings.TrimSuffix(prefix, "/")
	if prefix == "" {
		return bucket, "", nil
	}
	if len(prefix) > 512 {
		return "", "", s3ConfigErr("%q: prefix longer than 512 bytes", raw)
	}
	for _, seg := range strings.Split(prefix, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return "", "", s3ConfigErr("%q: bad prefix (empty, '.' or '..' segment)", raw)
		}
	}
	for _, r := range prefix {
		if r < 0x20 || r == 0x7f || r == '\\' || r == '?' || r == '#' || r == 0xfffd {
			return "", "", s3ConfigErr("%q: bad character %q in prefix", raw, r)
		}
	}
	return bucket, prefix + "/", nil
}

func validBucket(b string) bool {
	if len(b) < 3 || len(b) > 63 || strings.Contains(b, "..") {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (c != '.' && c != '-' || i == 0 || i == len(b)-1) {
			return false
		}
	}
	return true
}

// S3Sink stores backups as objects named PREFIX<backup name> in a bucket
// of an S3-compatible server. A backup streams up in a multipart upload
// that becomes visible only when it completes (Commit); Abort cancels the
// upload. Every part carries a CRC-32C the server checks. Reads stream
// too; the backup format's own checksums are what Restore trusts.
type S3Sink struct {
	client   *minio.Client
	bucket   string
	prefix   string
	endpoint string // for messages
	opts     S3Options
}

var _ Sink = (*S3Sink)(nil)

// NewS3Sink returns a sink for rawURL (s3://BUCKET/PREFIX). It sends
// nothing; Check tests the endpoint, the credentials and the bucket.
func NewS3Sink(rawURL string, opts S3Options) (*S3Sink, error) {
	bucket, prefix, err := ParseS3URL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	host, secure, _ := opts.endpoint()
	lookup := minio.BucketLookupPath
	if opts.Endpoint == "" {
		lookup = minio.BucketLookupAuto
	}
	region := opts.Region
	if region == "" && opts.Endpoint != "" {
		region = "us-east-1"
	}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: opts.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.DialTimeout,
		ResponseHeaderTimeout: opts.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
	}
	c, err := minio.New(host, &minio.Options{
		Creds:        credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, opts.SessionToken),
		Secure:       secure,
		Transport:    tr,
		Region:       region,
		BucketLookup: lookup,
		MaxRetries:   opts.MaxRetries,
		// Lets the client put a CRC-32C on every part (announced when the
		// upload starts, checked by the server).
		TrailingHeaders: true,
	})
	if err != nil {
		return nil, s3ConfigErr("%v", err)
	}
	ep := opts.Endpoint
	if ep == "" {
		ep = "https://" + host
	}
	return &S3Sink{client: c, bucket: bucket, prefix: prefix, endpoint: strings.TrimSuffix(ep, "/"), opts: opts}, nil
}

// String returns the sink's s3:// URL.
func (s *S3Sink) String() string { return "s3://" + s.bucket + "/" + s.prefix }

// Check asks the server whether the bucket exists: it fails with
// ErrS3Unreachable, ErrS3Denied or ErrNotFound (no such bucket).
func (s *S3Sink) Check(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.wrap("check bucket", "", err)
	}
	if !ok {
		return s.noBucket()
	}
	return nil
}

func (s *S3Sink) noBucket() error {
	return fmt.Errorf("%w: bucket %q at %s", ErrNotFound, s.bucket, s.endpoint)
}

// wrap turns a client error into one line naming what failed, wrapping the
// sentinel that says what kind of failure it was.
func (s *S3Sink) wrap(op, name string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	what := op
	if name != "" {
		what += " " + name
	}
	resp := minio.ToErrorResponse(err)
	switch resp.Code {
	case "NoSuchBucket":
		return fmt.Errorf("store: s3 %s: %w", what, s.noBucket())
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w: backup %s in %s", ErrNotFound, name, s)
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken", "AllAccessDisabled":
		return fmt.Errorf("%w: %s at %s: %s (%s)", ErrS3Denied, what, s.endpoint, resp.Code, oneLine(resp.Message))
	}
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.As(err, &oe):
		return fmt.Errorf("%w: %s: %s (%v)", ErrS3Unreachable, s.endpoint, what, oe)
	case errors.As(err, &de):
		return fmt.Errorf("%w: %s: %s (%v)", ErrS3Unreachable, s.endpoint, what, de)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("%w: %s: %s (timed out)", ErrS3Unreachable, s.endpoint, what)
	}
	return fmt.Errorf("store: s3 %s at %s: %s", what, s.endpoint, oneLine(err.Error()))
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

func (s *S3Sink) Create(ctx context.Context, name string) (SinkWriter, error) {
	if err := checkSinkName(name); err != nil {
		return nil, err
	}
	key := s.prefix + name
	// Names carry the time to the nanosecond; this only catches a reused
	// name, as DirSink does.
	if _, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{}); err == nil {
		return nil, fmt.Errorf("store: backup %s/%s already exists", s, name)
	} else if c := minio.ToErrorResponse(err).Code; c != "NoSuchKey" && c != "NotFound" {
		return nil, s.wrap("create", name, err)
	}
	pr, pw := io.Pipe()
	w := &s3Writer{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		_, err := s.client.PutObject(ctx, s.bucket, key, pr, -1, minio.PutObjectOptions{
			PartSize:    uint64(s.opts.PartSize),
			NumThreads:  1,
			ContentType: "application/octet-stream",
		})
		if err != nil && !errors.Is(err, errS3Aborted) {
			err = s.wrap("upload", name, err)
		}
		w.err = err
		// Unblock a writer still writing: it gets the upload's error.
		if err == nil {
			err = errors.New("store: s3 upload already finished")
		}
		pr.CloseWithError(err)
	}()
	return w, nil
}

var errS3Aborted = errors.New("store: s3 upload aborted")

// s3Writer feeds one multipart upload through a pipe; the upload runs in
// its own goroutine and completes when the pipe is closed.
type s3Writer struct {
	pw   *io.PipeWriter
	done chan struct{}
	err  error // the upload's result, set before done closes

	mu       sync.Mutex
	finished bool
}

func (w *s3Writer) Write(p []byte) (int, error) { return w.pw.Write(p) }

// Commit ends the stream and waits for the upload to complete; the object
// exists only once Commit returned nil.
func (w *s3Writer) Commit() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return fmt.Errorf("store: backup already finished")
	}
	w.finished = true
	w.pw.Close()
	<-w.done
	return w.err
}

// Abort fails the stream, so the client aborts the multipart upload, and
// waits for that. Nothing becomes visible.
func (w *s3Writer) Abort() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return nil
	}
	w.finished = true
	w.pw.CloseWithError(errS3Aborted)
	<-w.done
	return nil
}

func (s *S3Sink) List(ctx context.Context) ([]SinkObject, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the listing goroutine on an early return
	var out []SinkObject
	for o := range s.client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix}) {
		if o.Err != nil {
			return nil, s.wrap("list", "", o.Err)
		}
		name, ok := strings.CutPrefix(o.Key, s.prefix)
		if !ok || strings.Contains(name, "/") || checkSinkName(name) != nil || !isBackupName(name) {
			continue
		}
		if len(out) == s3MaxListed {
			return nil, fmt.Errorf("store: s3 list: more than %d backups under %s", s3MaxListed, s)
		}
		out = append(out, SinkObject{Name: name, Size: o.Size})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (s *S3Sink) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkSinkName(name); err != nil {
		return nil, err
	}
	obj, err := s.client.GetObject(ctx, s.bucket, s.prefix+name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrap("open", name, err)
	}
	// The request goes out on first use; Stat makes a missing object an
	// error here rather than at the first read.
	if _, err := obj.Stat(); err != nil {
		obj.Close()
		return nil, s.wrap("open", name, err)
	}
	return obj, nil
}

// Delete removes a backup (deleting a missing one is not an error).
func (s *S3Sink) Delete(ctx context.Context, name string) error {
	if err := checkSinkName(name); err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, s.prefix+name, minio.RemoveObjectOptions{}); err != nil {
		return s.wrap("delete", name, err)
	}
	return nil
}
