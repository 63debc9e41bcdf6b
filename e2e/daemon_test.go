package e2e

import (
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

	"weft/api"
)

// daemon is one `weft daemon` child process and its data directory, which
// outlives restarts. Its methods may be called from several goroutines;
// those that take no testing.TB report errors instead of failing the test.
type daemon struct {
	t       testing.TB
	name    string
	dir     string
	logPath string
	// syncInterval is passed as --sync-interval ("" for the default).
	syncInterval string

	mu       sync.Mutex
	port     int // libp2p TCP port, kept across restarts (0 until the first start)
	cmd      *exec.Cmd
	done     chan struct{} // closed once the process has exited
	state    *os.ProcessState
	base     string // API base URL
	token    string
	peerID   string
	addr     string // TCP multiaddr with /p2p/<id>
	starts   int
	hc       *http.Client
	running  bool
	ready    bool          // the API answered and no stop was asked since
	restartC chan struct{} // closed (and replaced) at every start
}

func newDaemon(t testing.TB, name, dir, syncInterval string) *daemon {
	d := &daemon{
		t: t, name: name, dir: dir, logPath: filepath.Join(filepath.Dir(dir), name+".log"),
		syncInterval: syncInterval, restartC: make(chan struct{}),
		hc: &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 32,
			IdleConnTimeout:     30 * time.Second,
		}},
	}
	return d
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
	d.mu.Lock()
	if d.running {
		d.mu.Unlock()
		return fmt.Errorf("daemon %s is already running", d.name)
	}
	port := d.port
	d.starts++
	n := d.starts
	d.mu.Unlock()

	args := []string{"daemon", "--data", d.dir, "--api", "127.0.0.1:0",
		"--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port), "--no-mdns", "--no-dht"}
	if d.syncInterval != "" {
		args = append(args, "--sync-interval", d.syncInterval)
	}
	for _, b := range bootstrap {
		args = append(args, "--bootstrap", b)
	}
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== %s start #%d at %s: weft %s %s\n", d.name, n, time.Now().Format("15:04:05.000"), strings.Join(args, " "), strings.Join(env, " "))
	cmd := exec.Command(weftBin, args...)
	cmd.Env = append(cleanEnv(), env...)
	if *profileFlag != "" {
		name := strings.NewReplacer("/", "_", "=", "", " ", "_").Replace(d.t.Name())
		prof := filepath.Join(*profileFlag, fmt.Sprintf("%s-%s-%d.pprof", name, d.name, n))
		cmd.Env = append(cmd.Env, "WEFT_TEST_CPUPROFILE="+prof)
	}
	cmd.Stdout = logf
	cmd.Stderr = logf
	if err := startChild(cmd); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		forgetChild(cmd)
		logf.Close()
		d.mu.Lock()
		d.state = cmd.ProcessState
		d.running, d.ready = false, false
		d.mu.Unlock()
		close(done)
	}()
	d.mu.Lock()
	d.cmd, d.done, d.state, d.running = cmd, done, nil, true
	d.mu.Unlock()

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
				if err := d.noteAddrs(st); err != nil {
					return err
				}
				break
			}
		}
		time.Sleep(10 * time.Millisecond) // start-up poll, not a convergence wait
	}
	d.mu.Lock()
	d.ready = true
	close(d.restartC)
	d.restartC = make(chan struct{})
	d.mu.Unlock()
	return nil
}

// cleanEnv is the test's environment without WEFT_* settings that would
// change a daemon's configuration.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "WEFT_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

func (d *daemon) noteAddrs(st api.NodeStatus) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.peerID = st.PeerID
	for _, a := range st.Addrs {
		parts := strings.Split(a, "/")
		// /ip4/127.0.0.1/tcp/PORT/p2p/ID
		if len(parts) >= 7 && parts[1] == "ip4" && parts[3] == "tcp" {
			p, err := strconv.Atoi(parts[4])
			if err != nil {
				return fmt.Errorf("daemon %s: address %q: %v", d.name, a, err)
			}
			if d.port != 0 && p != d.port {
				return fmt.Errorf("daemon %s listens on port %d, not its old %d", d.name, p, d.port)
			}
			d.port, d.addr = p, a
			return nil
		}
	}
	return fmt.Errorf("daemon %s reports no TCP address: %v", d.name, st.Addrs)
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

// stop sends sig and waits for the process to exit; it returns the exit
// code. A daemon that does not exit in time gets SIGQUIT (its goroutines
// go to the log) and then SIGKILL, and the test fails.
func (d *daemon) stop(t testing.TB, sig syscall.Signal) int {
	t.Helper()
	code, err := d.tryStop(sig)
	if err != nil {
		t.Fatalf("stopping daemon %s: %v\n%s", d.name, err, d.logTail(256<<10))
	}
	return code
}

func (d *daemon) tryStop(sig syscall.Signal) (int, error) {
	d.mu.Lock()
	cmd, done, running := d.cmd, d.done, d.running
	d.ready = false
	d.mu.Unlock()
	if !running {
		return 0, fmt.Errorf("daemon %s is not running", d.name)
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return d.exitState().ExitCode(), nil
	case <-time.After(30 * time.Second * slow):
	}
	_ = cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return -1, fmt.Errorf("daemon %s did not exit within %s of %v (goroutine dump in its log)", d.name, 30*time.Second*slow, sig)
}

// kill kills the process at once (test cleanup).
func (d *daemon) kill() {
	d.mu.Lock()
	cmd, done, running := d.cmd, d.done, d.running
	d.mu.Unlock()
	if running {
		_ = cmd.Process.Kill()
		<-done
	}
}

func (d *daemon) exitState() *os.ProcessState {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state
}

func (d *daemon) isRunning() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.running
}

// isReady reports whether the daemon runs, its API answered, and no stop
// has been asked.
func (d *daemon) isReady() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ready
}

// started returns a channel closed at the daemon's next successful start.
func (d *daemon) started() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restartC
}

func (d *daemon) multiaddr() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addr
}

func (d *daemon) id() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.peerID
}

// logTail returns the end of the daemon's log, at most max bytes.
func (d *daemon) logTail(max int) string {
	b, err := os.ReadFile(d.logPath)
	if err != nil {
		return fmt.Sprintf("(no log for %s: %v)", d.name, err)
	}
	if len(b) > max {
		b = append([]byte("…\n"), b[len(b)-max:]...)
	}
	return fmt.Sprintf("--- log of daemon %s (%s) ---\n%s--- end of %s's log ---", d.name, d.logPath, b, d.name)
}
