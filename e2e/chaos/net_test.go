//go:build linux

package chaos

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// cluster network: a switch namespace holding a bridge, and one namespace
// per node joined to it by a veth pair, on 10.231.<subnet>.0/24. The root
// namespace gets no address on that subnet and no route to it, so nothing
// a node sends can leave the namespaces the run made.
type network struct {
	prefix string // namespace and link name prefix, e.g. "wc37"
	subnet int    // third octet
	sw     string // the switch namespace
	nodes  []string
	ips    map[string]string // namespace → address

	mu    sync.Mutex
	rules map[string][][]string // namespace → iptables rules added (to delete)
	// ipt serialises iptables: with the nf_tables backend (which ignores
	// -w) two concurrent deletes of identical rules — a one-way cut and a
	// partition over the same pair — both resolve the first copy and one
	// fails "RULE_DELETE failed (No such file or directory)".
	ipt sync.Mutex
}

// sh runs a command with a deadline and returns its combined output.
func sh(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return string(out), nil
}

// inNS runs a command inside namespace ns.
func inNS(ns string, args ...string) (string, error) {
	return sh(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// netnsUsable says why this machine cannot run the harness ("" if it can):
// root, ip(8), iptables(8) and tc(8) are needed, and a namespace must be
// creatable.
func netnsUsable() string {
	if os.Geteuid() != 0 {
		return "not root (network namespaces need root)"
	}
	for _, tool := range []string{"ip", "iptables", "tc"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not installed (install iproute2 and iptables)"
		}
	}
	name := fmt.Sprintf("wcprobe%d", os.Getpid())
	if _, err := sh("ip", "netns", "add", name); err != nil {
		return "cannot create a network namespace: " + err.Error()
	}
	defer sh("ip", "netns", "del", name)
	if _, err := inNS(name, "iptables", "-L", "-n"); err != nil {
		return "iptables does not work in a namespace: " + err.Error()
	}
	return ""
}

// freeSubnet picks a third octet no interface on this machine uses yet and
// no other run's namespaces claim (their names carry it).
func freeSubnet(seed int64) (int, error) {
	out, err := sh("ip", "-o", "-4", "addr", "show")
	if err != nil {
		return 0, err
	}
	nss, err := sh("ip", "netns", "list")
	if err != nil {
		return 0, err
	}
	start := int(uint64(seed)%200) + 20
	for i := range 200 {
		n := (start+i)%200 + 20
		if !strings.Contains(out, fmt.Sprintf("10.231.%d.", n)) && !strings.Contains(nss, fmt.Sprintf("wc%d-", n)) {
			return n, nil
		}
	}
	return 0, fmt.Errorf("no free 10.231.X.0/24 subnet")
}

// newNetwork builds the switch and one namespace per name. On error, what
// was built is torn down.
func newNetwork(seed int64, names []string) (*network, error) {
	sub, err := freeSubnet(seed)
	if err != nil {
		return nil, err
	}
	n := &network{prefix: fmt.Sprintf("wc%d", sub), subnet: sub, ips: map[string]string{}, rules: map[string][][]string{}}
	n.sw = n.prefix + "-sw"
	if err := n.build(names); err != nil {
		n.teardown()
		return nil, err
	}
	return n, nil
}

func (n *network) build(names []string) error {
	steps := [][]string{
		{"ip", "netns", "add", n.sw},
		{"ip", "netns", "exec", n.sw, "ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "netns", "exec", n.sw, "ip", "link", "set", "br0", "up"},
	}
	for _, s := range steps {
		if _, err := sh(s...); err != nil {
			return err
		}
	}
	for i, name := range names {
		ns := n.prefix + "-" + name
		ip := fmt.Sprintf("10.231.%d.%d", n.subnet, 10+i)
		host := fmt.Sprintf("%sh%d", n.prefix, i) // the switch's end (moved into the switch namespace)
		steps := [][]string{
			{"ip", "netns", "add", ns},
			{"ip", "link", "add", host, "type", "veth", "peer", "name", "eth0", "netns", ns},
			{"ip", "link", "set", host, "netns", n.sw},
			{"ip", "netns", "exec", n.sw, "ip", "link", "set", host, "master", "br0", "up"},
			{"ip", "netns", "exec", ns, "ip", "addr", "add", ip + "/24", "dev", "eth0"},
			{"ip", "netns", "exec", ns, "ip", "link", "set", "eth0", "up"},
			{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"},
		}
		for _, s := range steps {
			if _, err := sh(s...); err != nil {
				return err
			}
		}
		n.nodes = append(n.nodes, ns)
		n.ips[ns] = ip
	}
	return nil
}

// teardown deletes every namespace of the run (their links go with them).
func (n *network) teardown() []error {
	var errs []error
	for _, ns := range append(append([]string{}, n.nodes...), n.sw) {
		if _, err := sh("ip", "netns", "del", ns); err != nil && !strings.Contains(err.Error(), "No such file") {
			errs = append(errs, err)
		}
	}
	return errs
}

// Faults on the network. Each iptables rule added is remembered so that
// heal removes exactly those; tc qdiscs are removed by deleting the root.

func (n *network) addRule(ns string, rule ...string) error {
	n.ipt.Lock()
	defer n.ipt.Unlock()
	if _, err := inNS(ns, append([]string{"iptables", "-w", "-A"}, rule...)...); err != nil {
		return err
	}
	n.mu.Lock()
	n.rules[ns] = append(n.rules[ns], rule)
	n.mu.Unlock()
	return nil
}

func (n *network) delRule(ns string, rule ...string) error {
	n.ipt.Lock()
	defer n.ipt.Unlock()
	_, err := inNS(ns, append([]string{"iptables", "-w", "-D"}, rule...)...)
	n.mu.Lock()
	rs := n.rules[ns]
	for i, r := range rs {
		if strings.Join(r, " ") == strings.Join(rule, " ") {
			n.rules[ns] = append(rs[:i:i], rs[i+1:]...)
			break
		}
	}
	n.mu.Unlock()
	return err
}

// block drops every packet from namespace a to namespace b (one way).
// The rule sits on b's input, so b's replies to a still leave.
func (n *network) block(a, b string) ([]string, error) {
	rule := []string{"INPUT", "-s", n.ips[a], "-j", "DROP"}
	return rule, n.addRule(b, rule...)
}

// loss drops a fraction p of the packets namespace ns receives.
func (n *network) loss(ns string, p float64) ([]string, error) {
	rule := []string{"INPUT", "-m", "statistic", "--mode", "random", "--probability", fmt.Sprintf("%.2f", p), "-j", "DROP"}
	return rule, n.addRule(ns, rule...)
}

// shape limits what ns sends to rate kbit/s with a token bucket whose queue
// holds latency worth of packets (the queue is what delays them).
func (n *network) shape(ns string, kbit int, latency time.Duration) error {
	_, err := inNS(ns, "tc", "qdisc", "replace", "dev", "eth0", "root", "tbf",
		"rate", fmt.Sprintf("%dkbit", kbit), "burst", "16kbit", "latency", fmt.Sprintf("%dms", latency.Milliseconds()))
	return err
}

func (n *network) unshape(ns string) error {
	_, err := inNS(ns, "tc", "qdisc", "del", "dev", "eth0", "root")
	if err != nil && strings.Contains(err.Error(), "No such file") || err != nil && strings.Contains(err.Error(), "Cannot delete qdisc with handle of zero") {
		return nil
	}
	return err
}

// heal removes every rule and shaper: the network is whole again.
func (n *network) heal() error {
	var first error
	for _, ns := range n.nodes {
		if _, err := inNS(ns, "iptables", "-w", "-F"); err != nil && first == nil {
			first = err
		}
		if err := n.unshape(ns); err != nil && first == nil {
			first = err
		}
	}
	n.mu.Lock()
	n.rules = map[string][][]string{}
	n.mu.Unlock()
	return first
}

// dialIn returns a dialer that opens its connections inside namespace ns:
// a node's API listens on 127.0.0.1 of its own namespace (as a user's
// daemon listens on their own loopback), so the test reaches it the way
// the user's editor does, without crossing the faulty network. The socket
// is created on a thread moved into ns and stays there once moved back.
func dialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread()
			orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", syscall.Gettid()))
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer orig.Close()
			target, err := os.Open("/run/netns/" + ns)
			if err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, err}
				return
			}
			defer target.Close()
			if err := setns(target.Fd()); err != nil {
				runtime.UnlockOSThread()
				ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
			c, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			if err := setns(orig.Fd()); err != nil {
				// The thread stays locked and ends with this goroutine:
				// no other goroutine runs in the wrong namespace.
				if c != nil {
					c.Close()
				}
				ch <- result{nil, fmt.Errorf("setns back: %w", err)}
				return
			}
			runtime.UnlockOSThread()
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
}

func setns(fd uintptr) error { return unix.Setns(int(fd), unix.CLONE_NEWNET) }
