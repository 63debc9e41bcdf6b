package p2p

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"weft/vocab"
)

// join joins topic on n with validate, closed at the end of the test.
func join(t *testing.T, n *Node, topic string, validate func(string, []byte) (any, error)) *Topic {
	t.Helper()
	tp, err := n.Join(topic, validate)
	if err != nil {
		t.Fatalf("Join(%q): %v", topic, err)
	}
	t.Cleanup(func() { _ = tp.Close() })
	return tp
}

func waitTopicPeers(t testing.TB, tp *Topic, ids ...string) {
	t.Helper()
	waitFor(t, 15*time.Second, fmt.Sprintf("topic %s to see peers %v", tp.name, ids), func() bool {
		ps := tp.Peers()
		for _, id := range ids {
			if !slices.Contains(ps, id) {
				return false
			}
		}
		return true
	})
}

func next(t *testing.T, tp *Topic, timeout time.Duration) Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	m, err := tp.Next(ctx)
	if err != nil {
		t.Fatalf("Next on %s: %v", tp.name, err)
	}
	return m
}

// Three nodes in a star (B and C bootstrap to A): a message published by B
// reaches A directly and C through A; the publisher never receives its own
// message; From is the author.
func TestGossipThreeNodes(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	c := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B and C connected to A", func() bool {
		return connectedTo(a, b.ID()) && connectedTo(a, c.ID())
	})
	if connectedTo(b, c.ID()) {
		t.Fatalf("B and C are connected directly; the test needs A in between")
	}

	const topic = "weft/doc/three"
	ta := join(t, a, topic, acceptAll)
	tb := join(t, b, topic, acceptAll)
	tc := join(t, c, topic, acceptAll)
	waitTopicPeers(t, ta, b.ID(), c.ID())
	waitTopicPeers(t, tb, a.ID())
	waitTopicPeers(t, tc, a.ID())

	// A forwards only to its mesh, which its heartbeat builds within about
	// a second of learning the subscriptions; a message A receives before
	// that is not forwarded to C (gossip is lossy; catch-up repairs that).
	// Wait until a probe from B gets through to C.
	waitPath(t, tb, tc)

	ctx := context.Background()
	if err := tb.Publish(ctx, []byte("from b")); err != nil {
		t.Fatal(err)
	}
	for name, tp := range map[string]*Topic{"A": ta, "C": tc} {
		m := nextReal(t, tp, 15*time.Second)
		if string(m.Data) != "from b" || m.From != b.ID() {
			t.Fatalf("%s got %q from %s, want %q from B %s", name, m.Data, m.From, "from b", b.ID())
		}
	}
	// B's own message is skipped: the first thing B receives is A's.
	if err := ta.Publish(ctx, []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if m := nextReal(t, tb, 15*time.Second); string(m.Data) != "from a" || m.From != a.ID() {
		t.Fatalf("B got %q from %s, want %q from A", m.Data, m.From, "from a")
	}
}

// waitPath publishes probes on pub until each of subs has received one.
func waitPath(t *testing.T, pub *Topic, subs ...*Topic) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	pending := slices.Clone(subs)
	for i := 0; len(pending) > 0; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("no probe from %s reached %d of the subscribers in 20 s", pub.n.ID(), len(pending))
		}
		if err := pub.Publish(context.Background(), fmt.Appendf(nil, "probe %d", i)); err != nil {
			t.Fatal(err)
		}
		pending = slices.DeleteFunc(pending, func(sub *Topic) bool {
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			for {
				m, err := sub.Next(ctx)
				if err != nil {
					return false
				}
				if strings.HasPrefix(string(m.Data), "probe ") {
					return true
				}
			}
		})
	}
}

// nextReal is next, skipping probes.
func nextReal(t *testing.T, tp *Topic, timeout time.Duration) Message {
	t.Helper()
	for {
		m := next(t, tp, timeout)
		if !strings.HasPrefix(string(m.Data), "probe ") {
			return m
		}
	}
}

// A burst of 5,000 distinct messages published back to back by one node
// arrives complete at a subscriber on loopback (the queue sizes hold it).
func TestGossipBurst5000(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	const topic = "weft/doc/burst"
	ta := join(t, a, topic, acceptAll)
	tb := join(t, b, topic, acceptAll)
	waitTopicPeers(t, ta, b.ID())

	d, missing := burst(t, 0, 5000, 200, ta, tb)
	if len(missing) > 0 {
		t.Fatalf("burst: %d of 5000 messages never arrived (first missing: %v)", len(missing), missing[:min(5, len(missing))])
	}
	t.Logf("5,000 x 200-byte burst delivered complete in %v", d)
}

// burst publishes count distinct messages of size bytes from pub and
// receives them on sub. Messages carry run, so that bursts of different runs
// differ (the message ID is a hash of the data: identical data is one message). It returns the time from the first publish to the
// last receipt and the indices that did not arrive within 60 s.
func burst(tb testing.TB, run, count, size int, pub, sub *Topic) (time.Duration, []int) {
	tb.Helper()
	got := make([]bool, count)
	var n atomic.Int64
	done := make(chan struct{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	go func() {
		defer close(done)
		for n.Load() < int64(count) {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			var r, i int
			if _, err := fmt.Sscanf(string(m.Data), "r%d msg %d ", &r, &i); err != nil || r != run || i < 0 || i >= count {
				tb.Errorf("unexpected message %.40q", m.Data)
				return
			}
			if !got[i] {
				got[i] = true
				n.Add(1)
			}
		}
	}()
	start := time.Now()
	for i := 0; i < count; i++ {
		msg := fmt.Appendf(nil, "r%d msg %d ", run, i)
		msg = append(msg, strings.Repeat("x", max(0, size-len(msg)))...)
		if err := pub.Publish(ctx, msg); err != nil {
			tb.Fatalf("publish %d: %v", i, err)
		}
	}
	<-done
	d := time.Since(start)
	var missing []int
	for i, ok := range got {
		if !ok {
			missing = append(missing, i)
		}
	}
	return d, missing
}

// BenchmarkGossipBurst5000 measures one 5,000-message burst (200 bytes each)
// from publish to complete receipt between two nodes on loopback.
func BenchmarkGossipBurst5000(b *testing.B) {
	na := startNode(b, nil)
	nb := startNode(b, bootstrapTo(na))
	waitFor(b, 15*time.Second, "B connected to A", func() bool { return connectedTo(na, nb.ID()) })
	var durs []time.Duration
	for i := 0; b.Loop(); i++ {
		ta, tb := joinBoth(b, na, nb, fmt.Sprintf("weft/doc/bench-%d", i))
		d, missing := burst(b, i, 5000, 200, ta, tb)
		durs = append(durs, d)
		if len(missing) > 0 {
			b.Fatalf("%d messages lost", len(missing))
		}
		ta.Close()
		tb.Close()
	}
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Milliseconds()), "median-ms/burst")
}

// reasonErr is a validation error with a reason.
type reasonErr string

func (r reasonErr) Error() string  { return "bad: " + string(r) }
func (r reasonErr) Reason() string { return string(r) }

// The validator rejects garbage (counted by the error's Reason, or
// "invalid"), oversized messages are rejected before the validator runs
// (counted "oversized"), and the subscriber never sees a rejected message.
func TestGossipValidation(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, func(o *Options) {
		bootstrapTo(a)(o)
		o.MaxMessageBytes = 64 << 10
	})
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	const topic = "weft/doc/validate"

	var bigSeen atomic.Int64 // calls of B's validator with oversized data
	var fromSeen atomic.Value
	validateB := func(from string, data []byte) (any, error) {
		fromSeen.Store(from)
		if len(data) > 64<<10 {
			bigSeen.Add(1)
		}
		switch {
		case strings.HasPrefix(string(data), "ok:"):
			return nil, nil
		case strings.HasPrefix(string(data), "plain"):
			return nil, errors.New("no reason given")
		default:
			return nil, fmt.Errorf("wrapped: %w", reasonErr("garbage"))
		}
	}
	ta := join(t, a, topic, acceptAll) // A lets everything out
	tb := join(t, b, topic, validateB)
	waitTopicPeers(t, ta, b.ID())

	ctx := context.Background()
	publish := func(data []byte) {
		t.Helper()
		if err := ta.Publish(ctx, data); err != nil {
			t.Fatalf("publish %.20q: %v", data, err)
		}
	}
	publish([]byte("\x00\xffgarbage"))
	waitFor(t, 15*time.Second, `a "garbage" rejection`, func() bool { return b.Rejected()["garbage"] == 1 })
	publish([]byte("plain junk"))
	waitFor(t, 15*time.Second, `an "invalid" rejection`, func() bool { return b.Rejected()["invalid"] == 1 })
	publish([]byte("ok:" + strings.Repeat("y", 100<<10))) // fine for A, too big for B
	waitFor(t, 15*time.Second, `an "oversized" rejection`, func() bool { return b.Rejected()[vocab.ReasonOversized] == 1 })
	if n := bigSeen.Load(); n != 0 {
		t.Fatalf("B's validator saw %d oversized messages; they must be rejected before it", n)
	}
	publish([]byte("ok:first good"))
	m := next(t, tb, 15*time.Second)
	if string(m.Data) != "ok:first good" {
		t.Fatalf("B's first delivered message is %.40q; rejected messages must not be delivered", m.Data)
	}
	if got := fromSeen.Load(); got != a.ID() {
		t.Fatalf("validator got from=%v, want A's ID %s", got, a.ID())
	}
	want := map[string]uint64{"garbage": 1, "invalid": 1, vocab.ReasonOversized: 1}
	if got := b.Rejected(); !maps.Equal(got, want) {
		t.Fatalf("B.Rejected() = %v, want %v", got, want)
	}
	if got := a.Rejected(); len(got) != 0 {
		t.Fatalf("A rejected %v; it accepts everything", got)
	}

	// Publish does not run the publisher's own validator (B's would refuse
	// "nope"); it refuses only what is over the size limit, and then sends
	// nothing.
	if err := tb.Publish(ctx, []byte("ok:"+strings.Repeat("z", 64<<10))); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Publish of oversized data: %v, want ErrTooLarge", err)
	}
	if err := tb.Publish(ctx, []byte("nope")); err != nil {
		t.Fatalf("Publish of data B's validator would refuse: %v", err)
	}
	if m := next(t, ta, 15*time.Second); string(m.Data) != "nope" {
		t.Fatalf("A got %.40q first; the oversized message must not have been sent", m.Data)
	}
	if got := a.Rejected(); len(got) != 0 {
		t.Fatalf("A rejected %v", got)
	}
	if got := b.Rejected(); !maps.Equal(got, want) {
		t.Fatalf("B counted its own message: B.Rejected() = %v, want %v", got, want)
	}
}

// What a validator returns comes out of Next with the message (decoded
// once per hop), and a node never runs its own validator on the messages
// it publishes: GossipSub validates a local publication synchronously
// inside Publish, so the count is exact when Publish returns.
func TestGossipValidatorValue(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	const topic = "weft/doc/value"
	type parsed struct {
		from, upper string
	}
	validator := func(calls *atomic.Int64) func(string, []byte) (any, error) {
		return func(from string, data []byte) (any, error) {
			calls.Add(1)
			return parsed{from, strings.ToUpper(string(data))}, nil
		}
	}
	var callsA, callsB atomic.Int64
	ta := join(t, a, topic, validator(&callsA))
	tb := join(t, b, topic, validator(&callsB))
	waitTopicPeers(t, ta, b.ID())
	waitTopicPeers(t, tb, a.ID())

	ctx := context.Background()
	if err := ta.Publish(ctx, []byte("from a")); err != nil {
		t.Fatal(err)
	}
	if n := callsA.Load(); n != 0 {
		t.Fatalf("A's validator ran %d times on A's own message", n)
	}
	m := next(t, tb, 15*time.Second)
	if string(m.Data) != "from a" || m.From != a.ID() {
		t.Fatalf("B got %q from %s", m.Data, m.From)
	}
	if v, ok := m.Value.(parsed); !ok || v != (parsed{a.ID(), "FROM A"}) {
		t.Fatalf("B's Message.Value = %#v, want what B's validator returned", m.Value)
	}
	if n := callsB.Load(); n != 1 {
		t.Fatalf("B's validator ran %d times for one message", n)
	}

	if err := tb.Publish(ctx, []byte("from b")); err != nil {
		t.Fatal(err)
	}
	if n := callsB.Load(); n != 1 {
		t.Fatalf("B's validator ran on B's own message (%d calls)", n)
	}
	// A's first delivered message is B's: its own was not delivered to it.
	m = next(t, ta, 15*time.Second)
	if string(m.Data) != "from b" || m.Value != (parsed{b.ID(), "FROM B"}) {
		t.Fatalf("A got %q with value %#v", m.Data, m.Value)
	}
	if n := callsA.Load(); n != 1 {
		t.Fatalf("A's validator ran %d times, want once (for B's message)", n)
	}
}

// A validator that panics on some input rejects it instead of crashing.
func TestGossipValidatorPanicIsRejection(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	ta := join(t, a, "weft/doc/panic", acceptAll)
	tb := join(t, b, "weft/doc/panic", func(_ string, data []byte) (any, error) {
		if string(data) == "boom" {
			panic("validator bug")
		}
		return nil, nil
	})
	waitTopicPeers(t, ta, b.ID())
	if err := ta.Publish(context.Background(), []byte("boom")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the panic counted as invalid", func() bool { return b.Rejected()[vocab.ReasonInvalid] == 1 })
	if err := ta.Publish(context.Background(), []byte("fine")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, tb, 15*time.Second); string(m.Data) != "fine" {
		t.Fatalf("B got %q", m.Data)
	}
}

// Join's argument checks, double join, and what a closed topic does.
func TestTopicLifecycle(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	if _, err := a.Join("", acceptAll); !errors.Is(err, ErrBadTopic) {
		t.Fatalf("empty topic: %v", err)
	}
	if _, err := a.Join(strings.Repeat("t", maxTopicLen+1), acceptAll); !errors.Is(err, ErrBadTopic) {
		t.Fatalf("long topic: %v", err)
	}
	if _, err := a.Join("x", nil); err == nil {
		t.Fatal("nil validator accepted")
	}
	ta := join(t, a, "weft/doc/life", acceptAll)
	if _, err := a.Join("weft/doc/life", acceptAll); !errors.Is(err, ErrAlreadyJoined) {
		t.Fatalf("second Join: %v", err)
	}
	tb := join(t, b, "weft/doc/life", acceptAll)
	waitTopicPeers(t, tb, a.ID())

	// A blocked Next returns ErrTopicClosed when the topic closes.
	errc := make(chan error, 1)
	go func() {
		_, err := ta.Next(context.Background())
		errc <- err
	}()
	if err := ta.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := recvErr(t, errc, 10*time.Second, "Next after Close"); !errors.Is(err, ErrTopicClosed) {
		t.Fatalf("Next after Close: %v", err)
	}
	if err := ta.Publish(context.Background(), []byte("late")); !errors.Is(err, ErrTopicClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if err := ta.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	// B sees A leave; A can join again.
	waitFor(t, 15*time.Second, "B to see A leave the topic", func() bool { return !slices.Contains(tb.Peers(), a.ID()) })
	ta2 := join(t, a, "weft/doc/life", acceptAll)
	waitTopicPeers(t, tb, a.ID())
	waitTopicPeers(t, ta2, b.ID())
	if err := tb.Publish(context.Background(), []byte("again")); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ta2, 15*time.Second); string(m.Data) != "again" {
		t.Fatalf("rejoined A got %q", m.Data)
	}
	// Next honours its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := ta2.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next with expiring ctx: %v", err)
	}
}

// BenchmarkGossipLatency measures one message from Publish on A to Next
// returning on B, one at a time, on loopback; reports p50 and p99.
func BenchmarkGossipLatency(b *testing.B) {
	na := startNode(b, nil)
	nb := startNode(b, bootstrapTo(na))
	waitFor(b, 15*time.Second, "B connected to A", func() bool { return connectedTo(na, nb.ID()) })
	ta, tb := joinBoth(b, na, nb, "weft/doc/latency")
	ctx := context.Background()
	var lat []time.Duration
	for i := 0; b.Loop(); i++ {
		msg := fmt.Appendf(nil, "latency %d %s", i, strings.Repeat("k", 64))
		start := time.Now()
		if err := ta.Publish(ctx, msg); err != nil {
			b.Fatal(err)
		}
		m, err := tb.Next(ctx)
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
		if string(m.Data) != string(msg) {
			b.Fatalf("got %q, want %q", m.Data, msg)
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}

// WatchPeers reports a peer joining and leaving the topic (so a daemon can
// push its tabs' peer counts instead of polling), and stops with Close.
func TestWatchPeers(t *testing.T) {
	a := startNode(t, nil)
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	const topic = "weft/doc/watch"
	ta := join(t, a, topic, acceptAll)
	var calls atomic.Int64
	if err := ta.WatchPeers(func() { calls.Add(1) }); err != nil {
		t.Fatal(err)
	}
	tb := join(t, b, topic, acceptAll)
	waitFor(t, 15*time.Second, "A's watcher to hear B join", func() bool { return calls.Load() >= 1 && len(ta.Peers()) == 1 })
	joined := calls.Load()
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "A's watcher to hear B leave", func() bool { return calls.Load() > joined && len(ta.Peers()) == 0 })
	if err := ta.Close(); err != nil {
		t.Fatalf("closing a watched topic: %v", err)
	}
	if err := ta.WatchPeers(func() {}); !errors.Is(err, ErrTopicClosed) {
		t.Fatalf("WatchPeers on a closed topic: %v", err)
	}
}
