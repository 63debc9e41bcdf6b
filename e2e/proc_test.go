package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"weft/internal/child"
)

// proc supervises one weft child process, a daemon or a relay, and its
// data directory, which outlives restarts (so do its TCP port and peer
// ID: a restart that changes either fails). Its methods may be called
// from several goroutines; those that take no testing.TB report errors
// instead of failing the test. daemon and relayProc add how each kind is
// started and known to be ready.
type proc struct {
	kind    string // "daemon" or "relay", for messages
	test    string // the test's name, for profile file names
	name    string
	dir     string
	logPath string

	mu        sync.Mutex
	port      int // libp2p TCP port, kept across restarts (0 until the first start)
	cmd       *exec.Cmd
	done      chan struct{} // closed once the process has exited
	state     *os.ProcessState
	peerID    string
	addr      string // /ip4/127.0.0.1/tcp/PORT/p2p/ID
	starts    int
	running   bool
	ready     bool          // it answered as ready and no stop was asked since
	restartC  chan struct{} // closed (and replaced) at every ready start
	heapDumps int           // SIGUSR1s sent to the current start (heapDump)
}

// newProc prepares a process (not started) in dir, logging next to it.
// When the test ends it is killed (a daemon run with -e2e.cpuprofile is
// stopped cleanly first: the profile is written at a clean exit); a race
// report or panic in its log fails the test, and the log is printed if the
// test failed.
func newProc(t testing.TB, kind, name, dir string) *proc {
	p := &proc{kind: kind, test: t.Name(), name: name, dir: dir, logPath: filepath.Join(filepath.Dir(dir), name+".log"), restartC: make(chan struct{})}
	t.Cleanup(func() {
		if *profileFlag != "" && p.isRunning() {
			_, _ = p.tryStop(syscall.SIGTERM)
		}
		p.kill()
		// A race report or a panic fails the test even when the process
		// carried on, or was killed before it could exit with the race
		// detector's status.
		if b, err := os.ReadFile(p.logPath); err == nil {
			for _, bad := range []string{"WARNING: DATA RACE", "\npanic: ", "\nfatal error: "} {
				if bytes.Contains(b, []byte(bad)) {
					t.Errorf("%s %s's log reports %q", p.kind, p.name, strings.TrimSpace(bad))
				}
			}
		}
		if t.Failed() {
			t.Log(p.logTail(256 << 10))
		}
	})
	return p
}

// launch starts `weft args...` with the test's clean environment plus env,
// stdout and stderr appended to the log. When onLine is not nil, every
// stdout line is also passed to it (from another goroutine). It returns
// the command and a channel closed when the process has exited.
func (p *proc) launch(args, env []string, onLine func(string)) (*exec.Cmd, <-chan struct{}, error) {
	p.mu.Lock()
	if p.running {
		p.mu.Unlock()
		return nil, nil, fmt.Errorf("%s %s is already running", p.kind, p.name)
	}
	p.starts++
	p.heapDumps = 0
	n := p.starts
	p.mu.Unlock()

	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(logf, "=== %s start #%d at %s: weft %s %s\n", p.name, n, time.Now().Format("15:04:05.000"), strings.Join(args, " "), strings.Join(env, " "))
	cmd := exec.Command(weftBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	if os.Getenv("WEFT_E2E_DEBUG") != "" {
		// Every process logs at debug level (GossipSub's RPCs included).
		cmd.Env = append(cmd.Env, "WEFT_LOG_LEVEL=debug", "WEFT_RELAY_LOG_LEVEL=debug")
	}
	if *profileFlag != "" {
		name := strings.NewReplacer("/", "_", "=", "", " ", "_").Replace(p.test)
		prof := filepath.Join(*profileFlag, fmt.Sprintf("%s-%s-%d.pprof", name, p.name, n))
		cmd.Env = append(cmd.Env, "WEFT_TEST_CPUPROFILE="+prof)
	}
	if *heapProfileFlag != "" {
		cmd.Env = append(cmd.Env, "WEFT_TEST_HEAPPROFILE="+p.heapPrefix(n))
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	var pr, pw *os.File
	if onLine != nil {
		if pr, pw, err = os.Pipe(); err != nil {
			logf.Close()
			return nil, nil, err
		}
		cmd.Stdout = pw
	}
	if err := child.Start(cmd); err != nil {
		if pr != nil {
			pr.Close()
			pw.Close()
		}
		logf.Close()
		return nil, nil, err
	}
	copied := make(chan struct{})
	if pr == nil {
		close(copied)
	} else {
		pw.Close() // the child holds its own copy
		go func() {
			defer close(copied)
			defer pr.Close()
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				fmt.Fprintln(logf, sc.Text())
				onLine(sc.Text())
			}
		}()
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		child.Forget(cmd)
		<-copied
		logf.Close()
		p.mu.Lock()
		p.state = cmd.ProcessState
		p.running, p.ready = false, false
		p.mu.Unlock()
		close(done)
	}()
	p.mu.Lock()
	p.cmd, p.done, p.state, p.running = cmd, done, nil, true
	p.mu.Unlock()
	return cmd, done, nil
}

// noteReady records the address a started process reports (its TCP
// multiaddr with /p2p/<id>) after checking that it kept its port and
// peer ID, and marks it ready.
func (p *proc) noteReady(peerID, addr string) error {
	port, err := tcpPort(addr)
	if err != nil {
		return fmt.Errorf("%s %s: %v", p.kind, p.name, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.port != 0 && port != p.port {
		return fmt.Errorf("%s %s listens on port %d, not its old %d", p.kind, p.name, port, p.port)
	}
	if p.peerID != "" && peerID != p.peerID {
		return fmt.Errorf("%s %s came back as %s, not %s (its identity.key was not kept)", p.kind, p.name, peerID, p.peerID)
	}
	p.port, p.peerID, p.addr = port, peerID, addr
	p.ready = true
	close(p.restartC)
	p.restartC = make(chan struct{})
	return nil
}

// listenArg is the --listen address of the next start: the port of the
// first one, kept.
func (p *proc) listenArg() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", p.port)
}

// tcpPort reads PORT from /ip4/…/tcp/PORT/….
func tcpPort(ma string) (int, error) {
	parts := strings.Split(ma, "/")
	if len(parts) < 5 || parts[1] != "ip4" || parts[3] != "tcp" {
		return 0, fmt.Errorf("address %q: no TCP port", ma)
	}
	return strconv.Atoi(parts[4])
}

// cleanEnv is the test's environment without settings that would change
// a weft process's configuration (WEFT_*) or reach an S3 server (AWS_*).
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

// stop sends sig and waits for the process to exit; it returns the exit
// code (SIGKILL: -1). A process that does not exit in time gets SIGQUIT
// (its goroutines go to the log) and then SIGKILL, and the test fails.
func (p *proc) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	code, err := p.tryStop(sig)
	if err != nil {
		t.Fatalf("stopping %s %s: %v\n%s", p.kind, p.name, err, p.logTail(256<<10))
	}
	return code
}

// stopClean stops the process with SIGTERM and fails the test unless it
// exits 0.
func (p *proc) stopClean(t testing.TB) {
	t.Helper()
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("%s %s exited with %d on SIGTERM; want 0", p.kind, p.name, code)
	}
}

func (p *proc) tryStop(sig syscall.Signal) (int, error) {
	p.mu.Lock()
	cmd, done, running := p.cmd, p.done, p.running
	p.ready = false
	p.mu.Unlock()
	if !running {
		return 0, fmt.Errorf("%s %s is not running", p.kind, p.name)
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return p.exitState().ExitCode(), nil
	case <-time.After(30 * time.Second * slow):
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return -1, fmt.Errorf("%s %s did not exit within %s of %v (goroutine dump in its log)", p.kind, p.name, 30*time.Second*slow, sig)
}

// kill kills the process at once (test cleanup).
func (p *proc) kill() {
	p.mu.Lock()
	cmd, done, running := p.cmd, p.done, p.running
	p.mu.Unlock()
	if running {
		_ = cmd.Process.Kill()
		<-done
	}
}

func (p *proc) exitState() *os.ProcessState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

func (p *proc) isRunning() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.running
}

// isReady reports whether the process runs, answered as ready, and no stop
// has been asked.
func (p *proc) isReady() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ready
}

// started returns a channel closed at the process's next ready start.
func (p *proc) started() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restartC
}

func (p *proc) multiaddr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.addr
}

func (p *proc) id() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peerID
}

// pid is the running process's ID (0 when it is not running).
func (p *proc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.running {
		return 0
	}
	return p.cmd.Process.Pid
}

// logTail returns the end of the process's log, at most max bytes.
func (p *proc) logTail(max int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(no log for %s %s: %v)", p.kind, p.name, err)
	}
	if len(b) > max {
		b = append([]byte("…\n"), b[len(b)-max:]...)
	}
	return fmt.Sprintf("--- log of %s %s (%s) ---\n%s--- end of %s's log ---", p.kind, p.name, p.logPath, b, p.name)
}

// The daemon.

// daemon is a `weft daemon` child process: ready once the api.json it
// writes names its PID and its API answers.
type daemon struct {
	*proc
	// syncInterval is passed as --sync-interval ("" for the default);
	// flags are more flags for every start.
	syncInterval string
	flags        []string

	hc          *http.Client
	base, token string // API base URL and token (under proc.mu)
}

func newDaemon(t testing.TB, name, dir, syncInterval string) *daemon {
	return &daemon{
		proc:         newProc(t, "daemon", name, dir),
		syncInterval: syncInterval,
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
}

// start starts the daemon with the bootstrap peers and extra environment
// (e.g. "WEFT_TEST_DROP_GOSSIP=0.5"), and waits until its API answers.
func (d *daemon) start(t testing.TB, bootstrap []string, env ...string) {
	t.Helper()
	if err := d.tryStart(bootstrap, env...); err != nil {
		t.Fatalf("starting daemon %s: %v\n%s", d.name, err, d.logTail(64<<10))
	}
}

func (d *daemon) tryStart(bootstrap []string, env ...string) error {
	args := []string{"daemon", "--data", d.dir, "--api", "127.0.0.1:0",
		"--listen", d.listenArg(), "--no-mdns", "--no-dht"}
	if d.syncInterval != "" {
		args = append(args, "--sync-interval", d.syncInterval)
	}
	for _, b := range bootstrap {
		args = append(args, "--bootstrap", b)
	}
	cmd, done, err := d.launch(append(args, d.flags...), env, nil)
	if err != nil {
		return err
	}
	// Wait for the api.json this process writes, then for its API.
	deadline := time.Now().Add(30 * time.Second * slow)
	for {
		select {
		case <-done:
			return fmt.Errorf("daemon %s exited during start-up (%v)", d.name, d.exitState())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("daemon %s: no API after 30s", d.name)
		}
		if info, err := readAPIJSON(d.dir); err == nil && info.PID == cmd.Process.Pid {
			d.mu.Lock()
			d.base, d.token = strings.TrimSuffix(info.API, "/"), info.Token
			d.mu.Unlock()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			st, err := d.status(ctx)
			cancel()
			if err == nil {
				addr := tcpAddr(st.Addrs)
				if addr == "" {
					return fmt.Errorf("daemon %s reports no TCP address: %v", d.name, st.Addrs)
				}
				return d.noteReady(st.PeerID, addr)
			}
		}
		time.Sleep(10 * time.Millisecond) // start-up poll, not a convergence wait
	}
}

// tcpAddr picks the /ip4/…/tcp/PORT/p2p/ID address from a daemon's
// addresses ("" when there is none).
func tcpAddr(addrs []string) string {
	for _, a := range addrs {
		// /ip4/127.0.0.1/tcp/PORT/p2p/ID
		if parts := strings.Split(a, "/"); len(parts) >= 7 && parts[1] == "ip4" && parts[3] == "tcp" {
			return a
		}
	}
	return ""
}

type apiJSON struct {
	API   string `json:"api"`
	Token string `json:"token"`
	PID   int    `json:"pid"`
}

func readAPIJSON(dir string) (apiJSON, error) {
	var info apiJSON
	b, err := os.ReadFile(filepath.Join(dir, "api.json"))
	if err != nil {
		return info, err
	}
	err = json.Unmarshal(b, &info)
	return info, err
}

// The relay.

// relayProc is a `weft relay` child process: ready once it has printed its
// addresses (it prints them once everything listens).
type relayProc struct {
	*proc
	ops string // host:port of /metrics, /healthz, /readyz (under proc.mu)
}

// newRelay prepares a relay (not started) in dir.
func newRelay(t testing.TB, name, dir string) *relayProc {
	return &relayProc{proc: newProc(t, "relay", name, dir)}
}

// relayBanner is what a relay prints on stdout once it serves.
type relayBanner struct {
	peerID, addr, ops string
}

// start starts the relay with extra flags and environment and waits until
// it has printed its addresses.
func (r *relayProc) start(t testing.TB, extra []string, env ...string) {
	t.Helper()
	if err := r.tryStart(extra, env...); err != nil {
		t.Fatalf("starting relay %s: %v\n%s", r.name, err, r.logTail(64<<10))
	}
}

func (r *relayProc) tryStart(extra []string, env ...string) error {
	args := append([]string{"relay", "--data", r.dir,
		"--listen", r.listenArg(),
		"--metrics", "127.0.0.1:0", "--no-mdns"}, extra...)
	banner := make(chan relayBanner, 1)
	var b relayBanner // the stdout reader's
	_, done, err := r.launch(args, env, func(line string) {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "peer" && f[1] == "ID":
			b.peerID = f[2]
		case len(f) >= 2 && f[0] == "metrics":
			b.ops = strings.TrimSuffix(strings.TrimPrefix(f[1], "http://"), "/metrics")
		case len(f) == 2 && f[0] == "listening" && strings.HasPrefix(f[1], "/ip4/127.0.0.1/tcp/"):
			b.addr = f[1]
		case strings.HasPrefix(line, "Point daemons at it"):
			banner <- b
		}
	})
	if err != nil {
		return err
	}
	var got relayBanner
	select {
	case got = <-banner:
	case <-done:
		return fmt.Errorf("relay %s exited during start-up (%v)", r.name, r.exitState())
	case <-time.After(30 * time.Second * slow):
		return fmt.Errorf("relay %s printed no addresses within 30s", r.name)
	}
	if got.peerID == "" || got.addr == "" || got.ops == "" {
		return fmt.Errorf("relay %s: incomplete banner %+v", r.name, got)
	}
	r.mu.Lock()
	r.ops = got.ops
	r.mu.Unlock()
	return r.noteReady(got.peerID, got.addr)
}

func (r *relayProc) opsURL(path string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return "http://" + r.ops + path
}
