//go:build linux

package chaos

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"weft/api"
	"weft/internal/child"
	"weft/obs"
)

// node is one weft process — a daemon or the relay — in its own namespace,
// with its data directory, which outlives restarts (and so its identity;
// its libp2p port is fixed: each namespace has its own). Its methods may
// be called from several goroutines.
type node struct {
	kind    string // "daemon" or "relay"
	name    string
	ns, ip  string
	dir     string
	logPath string
	bin     string
	args    func() []string // flags of the next start

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	running  bool
	paused   bool // SIGSTOPped
	expected bool // an exit now is one the harness asked for
	ready    bool
	peerID   string
	base     string // API base URL (daemon)
	token    string
	starts   int
	kills    int
	crashes  []string // exits the harness did not ask for
	exitBad  []string // SIGTERM exits with a status other than 0
	hc       *http.Client
}

func newNode(kind, name, ns, ip, dir, bin string) *node {
	return &node{kind: kind, name: name, ns: ns, ip: ip, dir: dir, bin: bin,
		logPath: filepath.Join(filepath.Dir(dir), name+".log"),
		hc: &http.Client{Transport: &http.Transport{
			Proxy: nil, DialContext: dialIn(ns), MaxIdleConnsPerHost: 8, IdleConnTimeout: 10 * time.Second,
		}},
	}
}

// listen is the node's libp2p address: TCP only, on its namespace's
// address only.
func (n *node) listen() string { return fmt.Sprintf("/ip4/%s/tcp/4001", n.ip) }

// multiaddr is the node's address with its peer ID.
func (n *node) multiaddr() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return fmt.Sprintf("/ip4/%s/tcp/4001/p2p/%s", n.ip, n.peerID)
}

// cleanEnv is the environment without settings that would change a weft
// process's configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WEFT_") || strings.HasPrefix(kv, "AWS_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// start starts the node with extra environment (test hooks) and waits, at
// most timeout, until it is ready: a daemon's API answers, a relay has
// printed its addresses.
func (n *node) start(timeout time.Duration, env ...string) error {
	n.mu.Lock()
	if n.running {
		n.mu.Unlock()
		return fmt.Errorf("%s is already running", n.name)
	}
	n.starts++
	k := n.starts
	n.mu.Unlock()
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	args := n.args()
	fmt.Fprintf(logf, "=== %s start #%d at %s: weft %s %s\n", n.name, k, time.Now().Format("15:04:05.000"), strings.Join(args, " "), strings.Join(env, " "))
	// ip netns exec execs weft in the namespace: the PID is weft's.
	cmd := exec.Command("ip", append([]string{"netns", "exec", n.ns, n.bin}, args...)...)
	cmd.Env = append(cleanEnv(), env...)
	cmd.Stderr = logf
	pr, pw, err := os.Pipe()
	if err != nil {
		logf.Close()
		return err
	}
	cmd.Stdout = pw
	if err := child.Start(cmd); err != nil {
		pr.Close()
		pw.Close()
		logf.Close()
		return err
	}
	pw.Close()
	banner := make(chan string, 1)
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		defer pr.Close()
		sc := bufio.NewScanner(pr)
		var id string
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(logf, line)
			f := strings.Fields(line)
			if len(f) == 3 && f[0] == "peer" && f[1] == "ID" {
				id = f[2]
			}
			if strings.HasPrefix(line, "Point daemons at it") {
				select {
				case banner <- id:
				default:
				}
			}
		}
	}()
	done := make(chan struct{})
	n.mu.Lock()
	n.cmd, n.done, n.running, n.paused, n.expected, n.ready = cmd, done, true, false, false, false
	n.mu.Unlock()
	go func() {
		err := cmd.Wait()
		child.Forget(cmd)
		<-copied
		logf.Close()
		n.mu.Lock()
		n.running, n.ready = false, false
		if !n.expected {
			n.crashes = append(n.crashes, fmt.Sprintf("%s exited on its own at %s: %v", n.name, time.Now().Format("15:04:05.000"), err))
		}
		n.mu.Unlock()
		close(done)
	}()

	deadline := time.Now().Add(timeout)
	if n.kind == "relay" {
		select {
		case id := <-banner:
			n.mu.Lock()
			n.peerID, n.ready = id, true
			n.mu.Unlock()
			return nil
		case <-done:
			return fmt.Errorf("relay %s exited during start-up", n.name)
		case <-time.After(timeout):
			return fmt.Errorf("relay %s printed no addresses within %s", n.name, timeout)
		}
	}
	for {
		select {
		case <-done:
			return fmt.Errorf("daemon %s exited during start-up", n.name)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %s: no API within %s", n.name, timeout)
		}
		var info struct {
			API   string `json:"api"`
			Token string `json:"token"`
			PID   int    `json:"pid"`
		}
		if b, err := os.ReadFile(filepath.Join(n.dir, "api.json")); err == nil && json.Unmarshal(b, &info) == nil && info.PID == cmd.Process.Pid {
			n.mu.Lock()
			n.base, n.token = strings.TrimSuffix(info.API, "/"), info.Token
			n.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var st api.NodeStatus
			err := n.call(ctx, "GET", "/api/status", nil, &st)
			cancel()
			if err == nil {
				n.mu.Lock()
				n.peerID, n.ready = st.PeerID, true
				n.mu.Unlock()
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond) // start-up poll, not a convergence wait
	}
}

// signal sends sig to the running node: SIGKILL and SIGTERM mark the exit
// as asked for, SIGSTOP/SIGCONT pause and resume it.
func (n *node) signal(sig syscall.Signal) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running {
		return fmt.Errorf("%s is not running", n.name)
	}
	switch sig {
	case syscall.SIGKILL, syscall.SIGTERM:
		n.expected, n.ready = true, false
		if sig == syscall.SIGKILL {
			n.kills++
		}
	case syscall.SIGSTOP:
		n.paused = true
	case syscall.SIGCONT:
		n.paused = false
	}
	return n.cmd.Process.Signal(sig)
}

// stop sends sig (SIGTERM or SIGKILL) and waits for the exit; a SIGTERM
// that does not end in status 0 within timeout is recorded.
func (n *node) stop(sig syscall.Signal, timeout time.Duration) error {
	n.mu.Lock()
	done, paused := n.done, n.paused
	n.mu.Unlock()
	if err := n.signal(sig); err != nil {
		return err
	}
	if paused && sig != syscall.SIGKILL {
		_ = n.signal(syscall.SIGCONT)
	}
	select {
	case <-done:
	case <-time.After(timeout):
		_ = n.signal(syscall.SIGQUIT) // goroutines to the log
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = n.signal(syscall.SIGKILL)
			<-done
		}
		n.mu.Lock()
		n.exitBad = append(n.exitBad, fmt.Sprintf("%s did not exit within %s of %v", n.name, timeout, sig))
		n.mu.Unlock()
		return fmt.Errorf("%s did not exit within %s of %v", n.name, timeout, sig)
	}
	if sig == syscall.SIGTERM {
		n.mu.Lock()
		if code := n.cmd.ProcessState.ExitCode(); code != 0 {
			n.exitBad = append(n.exitBad, fmt.Sprintf("%s exited %d on SIGTERM", n.name, code))
		}
		n.mu.Unlock()
	}
	return nil
}

// kill ends the node at once (cleanup).
func (n *node) kill() {
	n.mu.Lock()
	running, done := n.running, n.done
	n.mu.Unlock()
	if running {
		_ = n.signal(syscall.SIGKILL)
		<-done
	}
}

func (n *node) isRunning() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.running
}

func (n *node) isPaused() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.paused
}

func (n *node) isReady() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ready && !n.paused
}

// logProblems lists the panics and fatal errors in the node's log.
func (n *node) logProblems() []string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return nil
	}
	var out []string
	for _, bad := range []string{"WARNING: DATA RACE", "\npanic: ", "\nfatal error: ", "\nunexpected fault address", "SIGBUS"} {
		if bytes.Contains(b, []byte(bad)) {
			out = append(out, fmt.Sprintf("%s's log reports %q", n.name, strings.TrimSpace(bad)))
		}
	}
	return out
}

func (n *node) logTail(max int) string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return err.Error()
	}
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return fmt.Sprintf("--- log of %s (%s) ---\n%s--- end of %s ---", n.name, n.logPath, b, n.name)
}

// The API client.

type apiError struct {
	Status int
	Code   string `json:"code"`
	Msg    string `json:"error"`
}

func (e *apiError) Error() string { return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Msg) }

var errNotRunning = errors.New("daemon not running")

func (n *node) do(ctx context.Context, method, path string, body any) ([]byte, int, error) {
	n.mu.Lock()
	base, token := n.base, n.token
	n.mu.Unlock()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := n.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, 0, fmt.Errorf("%w: %v", errNotRunning, err)
		}
		return nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode/100 != 2 && !strings.HasPrefix(path, "/readyz") {
		e := &apiError{Status: resp.StatusCode}
		if json.Unmarshal(b, e) != nil {
			e.Msg = string(b)
		}
		return nil, resp.StatusCode, e
	}
	return b, resp.StatusCode, nil
}

func (n *node) call(ctx context.Context, method, path string, body, out any) error {
	b, _, err := n.do(ctx, method, path, body)
	if err != nil || out == nil {
		return err
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decoding the reply: %v", method, path, err)
	}
	return nil
}

func (n *node) docStatus(ctx context.Context, id string) (api.DocStatus, error) {
	var st api.DocStatus
	err := n.call(ctx, "GET", "/api/docs/"+id+"/status", nil, &st)
	return st, err
}

func (n *node) text(ctx context.Context, id string) (string, error) {
	b, _, err := n.do(ctx, "GET", "/api/docs/"+id+"/text", nil)
	return string(b), err
}

func (n *node) edit(ctx context.Context, id string, edits ...api.Edit) (api.EditResult, error) {
	var res api.EditResult
	err := n.call(ctx, "POST", "/api/docs/"+id+"/edits", map[string]any{"edits": edits}, &res)
	return res, err
}

// readyz returns the daemon's readiness: HTTP status and report.
func (n *node) readyz(ctx context.Context) (int, obs.Report, error) {
	var rep obs.Report
	b, code, err := n.do(ctx, "GET", "/readyz", nil)
	if err != nil {
		return code, rep, err
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		return code, rep, fmt.Errorf("/readyz answered %d with %q: %v", code, b, err)
	}
	return code, rep, nil
}
