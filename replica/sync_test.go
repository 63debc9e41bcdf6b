package replica

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"

	"weft/api"
	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// openSilent opens a catch-up stream from one node to another and sends
// nothing on it; the stream is reset when the test ends.
func openSilent(t *testing.T, from *memNode, to string) Stream {
	t.Helper()
	s, err := from.Open(context.Background(), to, SyncProtocol)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	return s
}

// readBusy reads a stream's first message and checks that it is the
// "busy" refusal.
func readBusy(t *testing.T, s Stream) {
	t.Helper()
	b, err := s.ReadMsg()
	if err != nil {
		t.Fatalf("reading the refusal: %v", err)
	}
	m, err := wire.ParseSync(b)
	if err != nil || m.Kind != wire.MsgFail || m.Reason != reasonBusy {
		t.Fatalf("got %+v, %v; want a fail %q", m, err, reasonBusy)
	}
	if _, err := s.ReadMsg(); err == nil {
		t.Fatal("the stream stayed open after busy")
	}
}

// Streams over the inbound bounds are answered "busy" at once, before
// anything is read from them; only a peer over its own bound is
// penalised (the others found the replica full).
func TestCatchUpInboundBounds(t *testing.T) {
	h := newHub()
	a := newTestNode(t, h, "a", func(o *Options) {
		o.SyncMaxInbound, o.SyncMaxInboundPerPeer = 3, 2
		o.SyncIdleTimeout = time.Minute
	})
	b := newTestNode(t, h, "b", nil)
	c := newTestNode(t, h, "c", nil)
	h.connect(a.net, b.net)
	h.connect(a.net, c.net)
	openSilent(t, b.net, "a")
	openSilent(t, b.net, "a")
	waitFor(t, "b's two exchanges", func() bool { return slotsOf(a.m.inbound, "b") == 2 })
	readBusy(t, openSilent(t, b.net, "a"))
	if p := a.net.penalties("b"); !slices.Equal(p, []string{vocab.ReasonQuota}) {
		t.Fatalf("b's penalties: %v", p)
	}
	openSilent(t, c.net, "a")
	waitFor(t, "c's exchange", func() bool { return slotsOf(a.m.inbound, "c") == 1 })
	readBusy(t, openSilent(t, c.net, "a"))
	if p := a.net.penalties("c"); len(p) != 0 {
		t.Fatalf("c was penalised for a full replica: %v", p)
	}
	if n := a.m.stats.syncBusy.Load(); n != 2 {
		t.Fatalf("counted %d busy refusals, want 2", n)
	}
}

func slotsOf(s *slots, peer string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byPeer[peer]
}

// A peer that opens an exchange and then says nothing holds its slot for
// the idle deadline only, not the exchange's whole timeout; so does a
// peer that accepts our exchange and never answers.
func TestCatchUpSilentPeerFreesSlots(t *testing.T) {
	const idle = 300 * time.Millisecond
	h := newHub()
	fast := func(o *Options) { o.SyncIdleTimeout, o.SyncTimeout = idle, time.Minute }
	a := newTestNode(t, h, "a", fast)
	b := newTestNode(t, h, "b", fast)
	h.connect(a.net, b.net)

	s := openSilent(t, b.net, "a")
	waitFor(t, "the silent exchange", func() bool { return slotsOf(a.m.inbound, "b") == 1 })
	start := time.Now()
	if _, err := s.ReadMsg(); err == nil {
		t.Fatal("a silent peer's stream was answered")
	}
	waitFor(t, "the slot to free", func() bool { return slotsOf(a.m.inbound, "b") == 0 })
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("freed after %v (idle deadline %v, exchange timeout a minute)", d, idle)
	}

	// b accepts streams and never answers.
	b.net.Handle(SyncProtocol, func(_ string, s Stream) { _, _ = s.ReadMsg(); _, _ = s.ReadMsg() })
	info, err := a.m.CreateDoc(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	err = a.m.SyncWith(context.Background(), "b", mustID(t, info.ID))
	if !errors.Is(err, errIdle) {
		t.Fatalf("catch-up with a silent peer: %v, want the idle error", err)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("gave up after %v (idle deadline %v, exchange timeout a minute)", d, idle)
	}
}

// A peer that accepts exchanges and never answers holds only its own
// outgoing slots: catch-up with another peer runs meanwhile.
func TestCatchUpOutboundPerPeer(t *testing.T) {
	h := newHub()
	a := newTestNode(t, h, "a", func(o *Options) {
		o.SyncMaxOutbound, o.SyncMaxOutboundPerPeer = 3, 2
		o.SyncIdleTimeout = time.Minute
	})
	b := newTestNode(t, h, "b", nil)
	c := newTestNode(t, h, "c", nil)
	ctx := context.Background()
	var docs []string
	for i := 0; i < 3; i++ {
		info, err := a.m.CreateDoc(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, info.ID)
	}
	info := docs[0]
	share(t, a, c, info, "write")
	edit(t, a, info, api.Edit{Ins: "reaches c"})
	var mu sync.Mutex
	held := 0
	b.net.Handle(SyncProtocol, func(_ string, s Stream) {
		mu.Lock()
		held++
		mu.Unlock()
		_, _ = s.ReadMsg()
		_, _ = s.ReadMsg()
	})
	h.dropGossip.Store(true) // c catches up by exchange only
	h.connect(a.net, b.net)
	for _, id := range docs {
		a.m.goSync("b", mustID(t, id))
	}
	waitFor(t, "b to hold its slots", func() bool { return slotsOf(a.m.outbound, "b") == 2 })
	h.connect(a.net, c.net)
	a.m.goSync("c", mustID(t, info))
	waitFor(t, "c to catch up", func() bool { return text(t, c, info) == "reaches c" })
	mu.Lock()
	defer mu.Unlock()
	if n := slotsOf(a.m.outbound, "b"); n != 2 || held != 2 {
		t.Fatalf("b holds %d slots, was opened %d streams; want 2", n, held)
	}
}

// countingStore counts what its Stream hands out and the streams open.
type countingStore struct {
	*store.Store
	mu      sync.Mutex
	handed  int // records handed out by Stream
	open    int // Stream calls running
	maxOpen int
}

func (c *countingStore) Stream(ctx context.Context, doc store.DocID, since store.Version, fn func([]store.TxnRecord) error) error {
	c.mu.Lock()
	c.open++
	c.maxOpen = max(c.maxOpen, c.open)
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.open--
		c.mu.Unlock()
	}()
	return c.Store.Stream(ctx, doc, since, func(chunk []store.TxnRecord) error {
		c.mu.Lock()
		c.handed += len(chunk)
		c.mu.Unlock()
		return fn(chunk)
	})
}

func (c *countingStore) counts() (handed, open int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.handed, c.open
}

// Serving a long history to a peer that reads slowly: the first frame
// goes out long before the history is read, what is read ahead of the
// peer stays within a few store chunks, the store's view is left while
// the peer does not read (a compaction would not wait for it), the
// document's driver takes an edit meanwhile, and the peer gets every
// envelope, each agent's in order.
func TestServingLongHistoryLazily(t *testing.T) {
	const history, chunk = 600, 16
	ctx := context.Background()
	so := store.DefaultOptions()
	so.MaxDelay = time.Millisecond
	so.StreamChunkTxns = chunk
	st, err := store.OpenDatastore(dssync.MutexWrap(ds.NewMapDatastore()), so)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	opts := DefaultOptions()
	opts.Store = cs
	m, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close(); _ = st.Close() })
	info, err := m.CreateDoc(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < history; i++ {
		if _, err := m.Edit(ctx, info.ID, []api.Edit{{Pos: i, Ins: "x"}}); err != nil {
			t.Fatal(err)
		}
	}
	d, _ := m.doc(mustID(t, info.ID))
	handed0, _ := cs.counts()

	// The peer's side of the stream buffers one frame.
	out := &pipe{ch: make(chan []byte, 1), reset: make(chan struct{})}
	s := &memStream{in: newPipe(), out: out, peer: "slow"}
	peer := &memStream{in: out, peer: "a"}
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := m.sendMissing(ctx, s, d, wire.SyncMsg{Kind: wire.MsgHello, Version: map[string]uint64{}}, member.RoleWrite)
		done <- result{n, err}
	}()
	frames := make(chan []byte)
	go func() {
		defer close(frames)
		for {
			b, err := peer.ReadMsg()
			if err != nil {
				return
			}
			frames <- b
		}
	}()
	var seqs []uint64
	var r *result
	read := func() wire.SyncMsg {
		t.Helper()
		var b []byte
		for b == nil {
			select {
			case f, ok := <-frames:
				if !ok {
					t.Fatalf("the stream ended before done (%+v)", r)
				}
				b = f
			case res := <-done:
				if res.err != nil {
					t.Fatalf("sending: %v", res.err)
				}
				r = &res
			}
		}
		msg, err := wire.ParseSync(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range msg.Envs {
			e, err := member.ParseEnvelope(raw, d.id)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, e.Header.Seq)
		}
		return msg
	}
	read()
	handed, _ := cs.counts()
	if ahead := handed - handed0 - len(seqs); ahead > 4*chunk {
		t.Fatalf("after the first frame, %d envelopes were read ahead of the peer (chunks of %d)", ahead, chunk)
	}
	// The peer stops reading: the sender lets go of the store.
	waitFor(t, "the store's view to be left", func() bool { _, open := cs.counts(); return open == 0 })
	ectx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := m.Edit(ectx, info.ID, []api.Edit{{Pos: 0, Ins: "y"}}); err != nil {
		t.Fatalf("an edit while a slow peer is served: %v", err)
	}
	handed, _ = cs.counts()
	if ahead := handed - handed0 - len(seqs); ahead > 4*chunk {
		t.Fatalf("while the peer stalls, %d envelopes were read ahead of it (chunks of %d)", ahead, chunk)
	}
	for {
		if msg := read(); msg.Kind == wire.MsgDone {
			break
		}
	}
	if r == nil {
		res := <-done
		r = &res
	}
	if r.err != nil || r.n != len(seqs) || len(seqs) < history {
		t.Fatalf("sent %d (%v), the peer read %d of a history of %d", r.n, r.err, len(seqs), history)
	}
	for i, seq := range seqs {
		if seq != uint64(i) {
			t.Fatalf("envelope %d is seq %d: out of order", i, seq)
		}
	}
	if _, open := cs.counts(); open != 0 {
		t.Fatalf("%d streams left open", open)
	}
	fmt.Fprintf(testWriter{t}, "served %d envelopes, at most %d streams open at once\n", len(seqs), cs.maxOpen)
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) { w.t.Log(string(b)); return len(b), nil }

// A peer's gossip flood of orphans fills its own share of the waiting
// room: it is refused over it and penalised once per message, while
// another peer's out-of-order envelopes wait; what has waited too long is
// dropped and counted.
func TestOrphanFloodChargesItsPeer(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	a := newTestNode(t, h, "a", nil)
	info, err := a.m.CreateDoc(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	d, _ := a.m.doc(mustID(t, info.ID))
	recv := func(es []*member.Envelope) []received {
		out := make([]received, len(es))
		for i, e := range es {
			out[i] = received{sig: e}
		}
		return out
	}
	now := time.Unix(1e9, 0)
	apply := func(src source, peer string, es []*member.Envelope, at time.Time) {
		t.Helper()
		err := d.do(ctx, func(dr *driver) error {
			_, err := dr.apply(ctx, input{src: src, peer: peer, envs: recv(es)}, nil, at)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	apply(fromGossip, "X", orphans("x", maxWaitingPerPeer+5, 10), now)
	apply(fromSync, "Y", orphans("y", 3, 10), now.Add(time.Minute))
	held := func(peer string) (n int) {
		_ = d.do(ctx, func(dr *driver) error {
			if p := dr.hl.byPeer[peer]; p != nil {
				n = p.n
			}
			return nil
		})
		return n
	}
	if x, y := held("X"), held("Y"); x != maxWaitingPerPeer || y != 3 {
		t.Fatalf("X holds %d (quota %d), Y %d of 3", x, maxWaitingPerPeer, y)
	}
	if p := a.net.penalties("X"); !slices.Equal(p, []string{vocab.ReasonBufferFull}) {
		t.Fatalf("X's penalties: %v", p)
	}
	if p := a.net.penalties("Y"); len(p) != 0 {
		t.Fatalf("Y penalised: %v", p)
	}
	if n := a.m.Stats().Rejected[vocab.ReasonBufferFull]; n != 5 {
		t.Fatalf("counted %d refused for a full share, want 5", n)
	}
	apply(fromGossip, "Z", nil, now.Add(maxWaitAge))
	if x, y, n := held("X"), held("Y"), a.m.stats.waitExpired.Load(); x != 0 || y != 3 || n != maxWaitingPerPeer {
		t.Fatalf("after X's expired: X holds %d, Y %d; counted %d expired", x, y, n)
	}
}
