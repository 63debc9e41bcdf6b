package p2p

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// testLogger discards unless WEFT_P2P_LOG=1 (then debug logs go to stderr).
// It never writes to t.Log: libp2p goroutines may still log an instant after
// a test has ended.
func testLogger() *slog.Logger {
	if os.Getenv("WEFT_P2P_LOG") == "1" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testOptions: loopback TCP only, no mDNS, no DHT, no NAT traversal, a fresh
// identity in a temp dir.
func testOptions(t testing.TB) Options {
	t.Helper()
	o := DefaultOptions()
	o.IdentityFile = filepath.Join(t.TempDir(), "identity.key")
	o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	o.MDNS = false
	o.DHT = false
	o.NATTraversal = false
	o.Logger = testLogger()
	return o
}

// startNode starts a node with testOptions modified by mod, closed at the
// end of the test.
func startNode(t testing.TB, mod func(*Options)) *Node {
	t.Helper()
	o := testOptions(t)
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := New(ctx, o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return n
}

// bootstrapTo returns an option modifier that bootstraps to the given nodes.
func bootstrapTo(nodes ...*Node) func(*Options) {
	return func(o *Options) {
		for _, n := range nodes {
			o.Bootstrap = append(o.Bootstrap, n.Addrs()...)
		}
	}
}

// waitFor polls cond every few milliseconds until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		<-tick.C
	}
}

// recvErr returns the error a goroutine sends on ch, failing the test when
// none comes within timeout.
func recvErr(t testing.TB, ch <-chan error, timeout time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(timeout):
		t.Fatalf("%s: nothing returned within %v", what, timeout)
		return nil
	}
}

// joinBoth joins topic on a and b, accepting every message, and waits
// until a sees b in it. The caller closes the topics.
func joinBoth(t testing.TB, a, b *Node, topic string) (*Topic, *Topic) {
	t.Helper()
	ta, err := a.Join(topic, acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	tb, err := b.Join(topic, acceptAll)
	if err != nil {
		t.Fatal(err)
	}
	waitTopicPeers(t, ta, b.ID())
	return ta, tb
}

func connectedTo(n *Node, id string) bool {
	return slices.ContainsFunc(n.Peers(), func(p PeerInfo) bool { return p.ID == id })
}

func acceptAll(string, []byte) (any, error) { return nil, nil }
