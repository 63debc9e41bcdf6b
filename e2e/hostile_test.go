package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"weft/api"
	"weft/internal/child"
)

// hostile is the helper process of internal/hostile, attached to one
// daemon and document.
type hostile struct {
	t     *testing.T
	stdin io.WriteCloser
	out   *bufio.Scanner
	ready hostileReply
}

type hostileReply struct {
	Ready     bool   `json:"ready"`
	TopicPeer string `json:"topic_peer"`
	SyncPeer  string `json:"sync_peer"`
	Cmd       string `json:"cmd"`
	OK        bool   `json:"ok"`
	Bytes     int    `json:"bytes"`
	Detail    string `json:"detail"`
	Err       string `json:"err"`
}

func startHostile(t *testing.T, d *daemon, doc string, seed int64) *hostile {
	t.Helper()
	cmd := exec.Command(hostileBin, "-peer", d.multiaddr(), "-doc", doc, "-seed", strconv.FormatUint(uint64(seed), 10))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(cmd); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		child.Forget(cmd)
		if t.Failed() {
			t.Logf("--- hostile helper's stderr ---\n%s", stderr.String())
		}
	})
	h := &hostile{t: t, stdin: stdin, out: bufio.NewScanner(stdout)}
	h.out.Buffer(make([]byte, 1<<16), 1<<20)
	h.ready = h.read()
	if !h.ready.Ready {
		t.Fatalf("hostile helper did not start: %+v\nstderr: %s", h.ready, stderr.String())
	}
	return h
}

func (h *hostile) read() hostileReply {
	h.t.Helper()
	if !h.out.Scan() {
		h.t.Fatalf("hostile helper ended: %v", h.out.Err())
	}
	var r hostileReply
	if err := json.Unmarshal(h.out.Bytes(), &r); err != nil {
		h.t.Fatalf("hostile helper said %q: %v", h.out.Text(), err)
	}
	return r
}

// do runs one command; the helper must have carried it out.
func (h *hostile) do(t *testing.T, cmd string) hostileReply {
	t.Helper()
	if _, err := fmt.Fprintln(h.stdin, cmd); err != nil {
		t.Fatalf("hostile %s: %v", cmd, err)
	}
	r := h.read()
	if !r.OK {
		t.Fatalf("hostile helper could not run %q: %s", cmd, r.Err)
	}
	return r
}

// hostileCase is one crafted input and what the daemon must make of it.
type hostileCase struct {
	cmd      string            // helper command, e.g. "topic garbage"
	gossip   map[string]uint64 // increments of the node's gossip rejections, by reason
	replica  map[string]uint64 // increments of the replica's rejections, by reason
	buffered int               // increment of the document's buffered transactions
	adds     map[string]uint64 // version components it adds (the well-formed controls)
	detail   string            // what the helper must have seen the daemon answer
}

// observed is what the daemon reports of one document and its counters.
type observed struct {
	gossip, replica map[string]uint64
	version         map[string]uint64
	buffered        int
	docs            int
}

func observe(d *daemon, doc string) (observed, error) {
	ctx, cancel := ctxT()
	defer cancel()
	st, err := d.status(ctx)
	if err != nil {
		return observed{}, err
	}
	if st.Counters == nil {
		return observed{}, fmt.Errorf("daemon %s's status has no counters", d.name)
	}
	ds, err := d.docStatus(ctx, doc)
	if err != nil {
		return observed{}, err
	}
	return observed{gossip: st.Counters.GossipRejected, replica: st.Counters.Replica.Rejected,
		version: ds.Version, buffered: ds.Buffered, docs: st.Docs}, nil
}

func plus(base, inc map[string]uint64) map[string]uint64 {
	out := maps.Clone(base)
	if out == nil {
		out = map[string]uint64{}
	}
	for k, v := range inc {
		out[k] += v
	}
	return out
}

// runHostile runs each case as a subtest against daemon d: after the
// helper has sent it, d's counters must move by exactly what the case
// says, the document's version only by the controls' additions, and the
// number of documents not at all.
func runHostile(t *testing.T, h *hostile, d *daemon, doc string, cases []hostileCase) {
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.cmd, " ", "_"), func(t *testing.T) {
			before, err := observe(d, doc)
			if err != nil {
				t.Fatal(err)
			}
			r := h.do(t, c.cmd)
			if c.detail != "" && !strings.Contains(r.Detail, c.detail) {
				t.Errorf("%s: the daemon answered %q; want %q in it", c.cmd, r.Detail, c.detail)
			}
			want := observed{gossip: plus(before.gossip, c.gossip), replica: plus(before.replica, c.replica),
				version: plus(before.version, c.adds), buffered: before.buffered + c.buffered, docs: before.docs}
			waitFor(t, 5*time.Second*slow, c.cmd+" to be rejected and counted", func() (bool, string) {
				o, err := observe(d, doc)
				if err != nil {
					return false, err.Error()
				}
				return o.equal(want), fmt.Sprintf("\n got  %s\n want %s", o, want)
			})
			// Nothing more arrives later.
			if o, err := observe(d, doc); err != nil || !o.equal(want) {
				t.Fatalf("after %s: %v; then\n got  %s\n want %s", c.cmd, err, o, want)
			}
		})
	}
}

func (o observed) equal(w observed) bool {
	return maps.Equal(nonZero(o.gossip), nonZero(w.gossip)) && maps.Equal(nonZero(o.replica), nonZero(w.replica)) &&
		maps.Equal(o.version, w.version) && o.buffered == w.buffered && o.docs == w.docs
}

func (o observed) String() string {
	return fmt.Sprintf("gossip rejected %v, replica rejected %v, version %v, buffered %d, documents %d",
		nonZero(o.gossip), nonZero(o.replica), o.version, o.buffered, o.docs)
}

func nonZero(m map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

func one(reason string) map[string]uint64 { return map[string]uint64{reason: 1} }

// hostileDoc starts the cluster's daemons, makes a document on A that the
// others join, and returns its ID and text.
func hostileDoc(t *testing.T, c *cluster) (string, string) {
	t.Helper()
	c.startAll()
	a := c.ds[0]
	id := strings.TrimSpace(a.mustCLI(t, []string{"doc", "new"}, "--title", "target"))
	a.mustEdit(t, id, api.Edit{Pos: 0, Ins: "hello 👋 world"}, api.Edit{Pos: 5, Del: 1, Ins: ", "})
	for _, d := range c.ds[1:] {
		share(t, a, d, id, "write")
	}
	_, text := c.waitConverged(id, 30*time.Second*slow)
	if len(c.ds) > 1 {
		c.waitTopicMesh(id)
	}
	return id, text
}

// afterHostile stops every daemon cleanly, checks d's store, and restarts
// d alone (peers could hand it the hostile messages again: they keep
// recent gossip and their own buffers) to check that it holds exactly the
// version and text it had: nothing hostile was stored, not even what
// waited in its buffer.
func afterHostile(t *testing.T, c *cluster, d *daemon, doc string) {
	t.Helper()
	wantText := d.mustText(t, doc)
	wantVersion := d.mustDocStatus(t, doc).Version
	for _, o := range c.ds {
		o.stopClean(t)
	}
	ctx, cancel := ctxT()
	defer cancel()
	r, err := d.cli(ctx, []string{"check"})
	if err != nil || r.Code != 0 {
		t.Fatalf("weft check after the hostile input: exit %d, %v\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	d.start(t, nil)
	st := d.mustDocStatus(t, doc)
	if text := d.mustText(t, doc); text != wantText || !maps.Equal(st.Version, wantVersion) || st.Buffered != 0 {
		t.Fatalf("after a restart %s holds %q at %v with %d buffered; want %q at %v with none",
			d.name, text, st.Version, st.Buffered, wantText, wantVersion)
	}
}

// Crafted gossip on a document's topic is rejected by A's validator and
// counted by reason (in the node and in the replica), never delivered,
// forwarded to B or stored; a well-formed message from the same peer is.
func TestHostileTopic(t *testing.T) {
	s := seed(t)
	c := newCluster(t, 2, "1s")
	id, text := hostileDoc(t, c)
	a, b := c.ds[0], c.ds[1]
	agentA := a.mustDocStatus(t, id).Agent
	bBefore, err := observe(b, id)
	if err != nil {
		t.Fatal(err)
	}
	h := startHostile(t, a, id, s)
	// A message the topic's validator refuses is counted once, by the
	// network layer, under the validator's reason; the replica does not
	// count it again.
	topic := func(reason string) hostileCase {
		return hostileCase{gossip: one(reason)}
	}
	cases := []hostileCase{}
	add := func(cmd string, c hostileCase) {
		c.cmd = cmd
		cases = append(cases, c)
	}
	add("topic garbage", topic("malformed"))
	add("topic truncated", topic("malformed"))
	add("topic oversized", hostileCase{gossip: one("oversized")}) // refused before the replica's validator
	add("topic wrong-doc", topic("wrong-document"))
	add("topic envelope-version", topic("version"))
	add("topic txn-version", topic("bad-payload"))
	add("topic bad-payload", topic("bad-payload"))
	add("topic header-mismatch", topic("header-mismatch"))
	add("topic self-parent", topic("bad-payload"))
	// Well formed, so it passes the validator; the replica refuses it as
	// contradicting the history it has.
	add("topic history "+agentA, hostileCase{replica: one("history")})
	// Made on an op nobody has: it waits in the buffer, unstored.
	add("topic unknown-parents", hostileCase{buffered: 1})
	add("topic valid-topic", hostileCase{adds: map[string]uint64{"hostile-topic": 4}})
	runHostile(t, h, a, id, cases)
	if t.Failed() {
		return
	}

	if got := a.mustText(t, id); strings.Replace(got, "«ok»", "", 1) != text {
		t.Fatalf("A's text is %q; want %q with «ok» inserted", got, text)
	}
	// B got the control through A, and none of what A rejected.
	waitFor(t, 10*time.Second*slow, "B to have the control message", func() (bool, string) {
		o, err := observe(b, id)
		return err == nil && o.version["hostile-topic"] == 4, fmt.Sprint(o, err)
	})
	bAfter, err := observe(b, id)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(nonZero(bAfter.gossip), nonZero(bBefore.gossip)) {
		t.Errorf("B's gossip rejections went from %v to %v: A forwarded what it rejected", nonZero(bBefore.gossip), nonZero(bAfter.gossip))
	}
	for k, v := range nonZero(bAfter.replica) {
		// A accepted the forged-history message (it is well formed) and
		// may have forwarded it; B must refuse it too.
		if k != "history" || v > bBefore.replica[k]+1 {
			t.Errorf("B's replica rejections went from %v to %v", nonZero(bBefore.replica), nonZero(bAfter.replica))
			break
		}
	}
	if got, want := b.mustText(t, id), a.mustText(t, id); got != want {
		t.Errorf("B reads %q, A %q", got, want)
	}
	afterHostile(t, c, a, id)
}

// Crafted catch-up exchanges, on streams A accepts and on streams A opens,
// are refused and counted by reason; nothing is stored, no document is
// created, A keeps running.
func TestHostileSync(t *testing.T) {
	s := seed(t)
	c := newCluster(t, 1, "1s")
	id, text := hostileDoc(t, c)
	a := c.ds[0]
	agentA := a.mustDocStatus(t, id).Agent
	h := startHostile(t, a, id, s)
	cases := []hostileCase{}
	add := func(cmd string, c hostileCase) {
		c.cmd = cmd
		cases = append(cases, c)
	}
	rej := func(reason string) hostileCase { return hostileCase{replica: one(reason)} }
	// The first message of a stream A accepts.
	add("sync garbage", rej("malformed"))
	add("sync version", rej("version"))
	add("sync truncated", rej("truncated"))
	add("sync oversized", rej("oversized"))
	add("sync unknown-doc", hostileCase{detail: "fail(unknown document)"})
	// Envelopes in a txns message after a proper hello.
	add("sync envelope-garbage", rej("malformed"))
	add("sync envelope-truncated", rej("malformed"))
	add("sync wrong-doc", rej("wrong-document"))
	add("sync envelope-version", rej("version"))
	add("sync txn-version", rej("bad-payload"))
	add("sync bad-payload", rej("bad-payload"))
	add("sync header-mismatch", rej("header-mismatch"))
	add("sync self-parent", rej("bad-payload"))
	add("sync history "+agentA, rej("history"))
	add("sync unknown-parents", hostileCase{buffered: 1})
	add("sync valid-sync", hostileCase{adds: map[string]uint64{"hostile-sync": 4}})
	// Bad messages after a proper hello.
	add("sync msg-version", rej("version"))
	add("sync msg-kind", rej("malformed"))
	add("sync msg-truncated", rej("truncated"))
	add("sync msg-oversized", rej("oversized"))
	// Replies to the catch-up requests A makes itself (every second).
	add("serve version", rej("version"))
	add("serve garbage", rej("malformed"))
	add("serve history "+agentA, rej("history"))
	add("serve valid-serve", hostileCase{adds: map[string]uint64{"hostile-serve": 4}})
	runHostile(t, h, a, id, cases)

	got := a.mustText(t, id)
	if strings.Count(got, "«ok»") > 2 || strings.ReplaceAll(got, "«ok»", "") != text {
		t.Errorf("A's text is %q; want %q with at most two «ok» inserted", got, text)
	}
	afterHostile(t, c, a, id)
}
