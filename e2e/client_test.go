package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"weft/api"
)

// The API client and the CLI of a daemon.

// apiError is an error reply of the API.
type apiError struct {
	Status int
	Code   string `json:"code"`
	Msg    string `json:"error"`
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Msg) }

// errNotRunning: nothing listens at the API address (the request was
// certainly not handled).
var errNotRunning = errors.New("daemon not running")

func (d *daemon) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	d.mu.Lock()
	base, token := d.base, d.token
	d.mu.Unlock()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w: %v", errNotRunning, err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil {
			e.Msg = string(b)
		}
		return nil, e
	}
	return b, nil
}

func (d *daemon) call(ctx context.Context, method, path string, body, out any) error {
	b, err := d.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the reply: %v", method, path, err)
	}
	return nil
}

func (d *daemon) status(ctx context.Context) (api.NodeStatus, error) {
	var st api.NodeStatus
	err := d.call(ctx, "GET", "/api/status", nil, &st)
	return st, err
}

func (d *daemon) docStatus(ctx context.Context, id string) (api.DocStatus, error) {
	var st api.DocStatus
	err := d.call(ctx, "GET", "/api/docs/"+id+"/status", nil, &st)
	return st, err
}

func (d *daemon) text(ctx context.Context, id string) (string, error) {
	b, err := d.do(ctx, "GET", "/api/docs/"+id+"/text", nil)
	return string(b), err
}

func (d *daemon) edit(ctx context.Context, id string, edits ...api.Edit) (api.EditResult, error) {
	var res api.EditResult
	err := d.call(ctx, "POST", "/api/docs/"+id+"/edits", map[string]any{"edits": edits}, &res)
	return res, err
}

func (d *daemon) listDocs(ctx context.Context) ([]api.DocInfo, error) {
	var docs []api.DocInfo
	err := d.call(ctx, "GET", "/api/docs", nil, &docs)
	return docs, err
}

// Variants for the test goroutine, failing the test on error.

func ctxT() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 60*time.Second*slow)
}

// must calls f with ctxT's deadline and fails the test, naming d and
// what, on an error.
func must[T any](t testing.TB, d *daemon, what string, f func(context.Context) (T, error)) T {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	v, err := f(ctx)
	if err != nil {
		t.Fatalf("daemon %s: %s: %v", d.name, what, err)
	}
	return v
}

func (d *daemon) mustStatus(t testing.TB) api.NodeStatus {
	t.Helper()
	return must(t, d, "status", d.status)
}

func (d *daemon) mustDocStatus(t testing.TB, id string) api.DocStatus {
	t.Helper()
	return must(t, d, "status of "+id, func(ctx context.Context) (api.DocStatus, error) { return d.docStatus(ctx, id) })
}

func (d *daemon) mustText(t testing.TB, id string) string {
	t.Helper()
	return must(t, d, "text of "+id, func(ctx context.Context) (string, error) { return d.text(ctx, id) })
}

func (d *daemon) mustEdit(t testing.TB, id string, edits ...api.Edit) api.EditResult {
	t.Helper()
	return must(t, d, "edit "+id, func(ctx context.Context) (api.EditResult, error) { return d.edit(ctx, id, edits...) })
}

func (d *daemon) mustListDocs(t testing.TB) []api.DocInfo {
	t.Helper()
	return must(t, d, "list", d.listDocs)
}

// CLI.

type cliResult struct {
	Stdout, Stderr string
	Code           int
}

// cli runs `weft WORDS... --data DIR ARGS...` (WORDS: the command path,
// e.g. "doc", "insert") with a deadline.
func (d *daemon) cli(ctx context.Context, words []string, args ...string) (cliResult, error) {
	return weftCmd(ctx, nil, append(append(append([]string{}, words...), "--data", d.dir), args...)...)
}

// weftCmd runs `weft ARGS...` in env (nil: the test's clean environment);
// a non-zero exit is a result, not an error.
func weftCmd(ctx context.Context, env []string, args ...string) (cliResult, error) {
	if env == nil {
		env = cleanEnv()
	}
	cmd := exec.CommandContext(ctx, weftBin, args...)
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliResult{Stdout: out.String(), Stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.Code, err = ee.ExitCode(), nil
	}
	return r, err
}

func (d *daemon) mustCLI(t testing.TB, words []string, args ...string) string {
	t.Helper()
	ctx, cancel := ctxT()
	defer cancel()
	r, err := d.cli(ctx, words, args...)
	if err != nil || r.Code != 0 {
		t.Fatalf("daemon %s: weft %s %s: exit %d, %v\nstderr: %s", d.name, strings.Join(words, " "), strings.Join(args, " "), r.Code, err, r.Stderr)
	}
	return r.Stdout
}
