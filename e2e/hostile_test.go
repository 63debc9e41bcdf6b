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
	"weft/vocab"
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
	Writer    string `json:"writer"`
	Reader    string `json:"reader"`
	Cmd       string `json:"cmd"`
	OK        bool   `json:"ok"`
	Bytes     int    `json:"bytes"`
	Detail    string `json:"detail"`
	Err       string `json:"err"`
}

// hostileInvites are the invites the helper joins with: a writer (its
// gossip node), a reader (its stream host), and one that expires within
// seconds (for the expired cases; optional).
type hostileInvites struct {
	write, read, expired string
}

// newHostileInvites has d (an admin of doc) make the helper's invites.
func newHostileInvites(t *testing.T, d *daemon, doc string) hostileInvites {
	t.Helper()
	return hostileInvites{
		write:   mustInvite(t, d, doc, api.RoleWrite, inviteOpts{label: "hostile writer"}).Invite,
		read:    mustInvite(t, d, doc, api.RoleRead, inviteOpts{label: "hostile reader"}).Invite,
		expired: mustInvite(t, d, doc, api.RoleWrite, inviteOpts{label: "expiring", expires: 1}).Invite,
	}
}

// startHostile starts the helper against daemon d and document doc and
// waits until d knows both of its devices (their announcements).
func startHostile(t *testing.T, d *daemon, doc string, seed int64, inv hostileInvites) *hostile {
	t.Helper()
	cmd := exec.Command(hostileBin, "-peer", d.multiaddr(), "-doc", doc, "-seed", strconv.FormatUint(uint64(seed), 10),
		"-invite", inv.write, "-read-invite", inv.read, "-expired-invite", inv.expired)
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
	// Gossip is lossy: the helper announces again (fresh bytes) while d
	// does not know its devices.
	last := time.Now()
	waitFor(t, 10*time.Second*slow, d.name+" to know the helper's devices", func() (bool, string) {
		if time.Since(last) > 2*time.Second {
			h.do(t, "announce")
			last = time.Now()
		}
		ctx, cancel := ctxT()
		defer cancel()
		ms, err := d.members(ctx, doc)
		if err != nil {
			return false, err.Error()
		}
		roles := map[string]string{}
		for _, m := range ms {
			roles[m.Device] = m.Role
		}
		return roles[h.ready.Writer] == api.RoleWrite && roles[h.ready.Reader] == api.RoleRead, fmt.Sprint(roles)
	})
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
	ignored  map[string]uint64 // increments of the node's gossip messages ignored (no blame), by reason
	replica  map[string]uint64 // increments of the replica's rejections, by reason
	buffered int               // increment of the document's buffered transactions
	adds     map[string]uint64 // version components it adds (the well-formed controls)
	recv     uint64            // increment of the envelopes delivered (gossip) or received (catch-up)
	detail   string            // what the helper must have seen the daemon answer
	forbid   []string          // what it must not have seen (e.g. "hello" before a proof)
}

// observed is what the daemon reports of one document and its counters.
type observed struct {
	gossip, replica map[string]uint64
	ignored         map[string]uint64 // gossip dropped without blame
	version         map[string]uint64
	buffered        int
	docs            int
	// Envelopes that passed the topic's validator, and envelopes that
	// catch-up took in (a member's, signature checked or not yet).
	gossipRecv, syncRecv uint64
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
	rc := st.Counters.Replica
	return observed{gossip: st.Counters.GossipRejected, ignored: st.Counters.GossipIgnored, replica: rc.Rejected, version: ds.Version, buffered: ds.Buffered,
		docs: st.Docs, gossipRecv: rc.GossipReceived, syncRecv: rc.SyncReceived}, nil
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
// number of documents not at all. A case's recv counts on the gossip
// counter for topic cases and on the catch-up counter for the others.
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
			for _, f := range c.forbid {
				if strings.Contains(r.Detail, f) {
					t.Errorf("%s: the daemon answered %q: a %s to a peer that proved nothing", c.cmd, r.Detail, f)
				}
			}
			want := observed{gossip: plus(before.gossip, c.gossip), ignored: plus(before.ignored, c.ignored), replica: plus(before.replica, c.replica),
				version: plus(before.version, c.adds), buffered: before.buffered + c.buffered, docs: before.docs,
				gossipRecv: before.gossipRecv, syncRecv: before.syncRecv}
			if strings.HasPrefix(c.cmd, "topic ") {
				want.gossipRecv += c.recv
			} else {
				want.syncRecv += c.recv
			}
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
	return maps.Equal(nonZero(o.gossip), nonZero(w.gossip)) && maps.Equal(nonZero(o.ignored), nonZero(w.ignored)) &&
		maps.Equal(nonZero(o.replica), nonZero(w.replica)) &&
		maps.Equal(o.version, w.version) && o.buffered == w.buffered && o.docs == w.docs &&
		o.gossipRecv == w.gossipRecv && o.syncRecv == w.syncRecv
}

func (o observed) String() string {
	return fmt.Sprintf("gossip rejected %v, ignored %v, replica rejected %v, version %v, buffered %d, documents %d, received %d by gossip and %d by catch-up",
		nonZero(o.gossip), nonZero(o.ignored), nonZero(o.replica), o.version, o.buffered, o.docs, o.gossipRecv, o.syncRecv)
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

// Crafted gossip on a members-only document's topic, from a member (the
// helper joined with invites), is rejected by A's validator and counted
// by reason, never delivered, forwarded to B or stored; a well-formed
// transaction of the same member is, and its replay is ignored as a
// duplicate.
func TestHostileTopic(t *testing.T) {
	s := seed(t)
	c := newCluster(t, 2, "1s")
	id, text := hostileDoc(t, c)
	a, b := c.ds[0], c.ds[1]
	h := startHostile(t, a, id, s, newHostileInvites(t, a, id))
	bBefore, err := observe(b, id)
	if err != nil {
		t.Fatal(err)
	}
	// A message the topic's validator refuses is counted once, by the
	// network layer, under the validator's reason; the replica does not
	// count it again.
	topic := func(reason string) hostileCase { return hostileCase{gossip: one(reason)} }
	cases := []hostileCase{}
	add := func(cmd string, c hostileCase) {
		c.cmd = cmd
		cases = append(cases, c)
	}
	// The seal (route key, topic as associated data) and the size.
	add("topic unsealed", topic("version"))     // a plaintext envelope: not the sealed form
	add("topic other-topic", topic("decrypt"))  // sealed for another topic name
	add("topic oversized", topic("oversized"))  // refused before the replica's validator
	add("topic garbage", topic("malformed"))    // sealed, not CBOR
	add("topic truncated", topic("malformed"))  // a sealed envelope cut in half
	add("topic unknown-kind", topic("version")) // [6, …]
	add("topic old-envelope", topic("version")) // envelope format 1 (before issue 10), sealed
	// Envelopes of a writer that are wrong.
	add("topic wrong-doc", topic("wrong-document"))
	add("topic header-mismatch", topic("header-mismatch")) // another payload under a signed header
	add("topic decrypt", topic("decrypt"))                 // sealed under another secret, hash and signature matching
	add("topic bad-payload", topic("bad-payload"))         // opens, is no transaction
	add("topic bad-sig", topic("signature"))               // one bit of the signature flipped
	add("topic forged-agent", topic("signature"))          // A's agent, signed with the helper's key
	// Authors who may not write.
	add("topic stranger", topic("capability")) // a key no chain names
	add("topic reader", topic("capability"))   // the helper's read member
	// Announcements of chains that grant nothing.
	add("topic forged-chain", topic("capability")) // a writer making itself an admin
	add("topic bad-link-sig", topic("signature"))
	add("topic expired", topic("expired"))
	// Well formed and signed, made on an op nobody has: it waits, unstored.
	add("topic unknown-parents", hostileCase{buffered: 1, recv: 1})
	controlAgent := h.ready.Writer + ".topic"
	add("topic valid", hostileCase{adds: map[string]uint64{controlAgent: 4}, recv: 1})
	// The control again, new bytes to GossipSub (another nonce), the same
	// envelope: dropped by the validator as a duplicate (Ignore: counted,
	// not forwarded, not delivered, its sender not penalised).
	add("topic replay", hostileCase{ignored: one(vocab.ReasonDuplicate)}) // dropped without blame, not rejected
	runHostile(t, h, a, id, cases)
	if t.Failed() {
		return
	}

	if got := a.mustText(t, id); strings.Replace(got, "«ok»", "", 1) != text {
		t.Fatalf("A's text is %q; want %q with «ok» inserted once", got, text)
	}
	// B got the control through A, and none of what A rejected.
	waitFor(t, 10*time.Second*slow, "B to have the control message", func() (bool, string) {
		o, err := observe(b, id)
		return err == nil && o.version[controlAgent] == 4, fmt.Sprint(o, err)
	})
	bAfter, err := observe(b, id)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(nonZero(bAfter.gossip), nonZero(bBefore.gossip)) {
		t.Errorf("B's gossip rejections went from %v to %v: A forwarded what it rejected", nonZero(bBefore.gossip), nonZero(bAfter.gossip))
	}
	if !maps.Equal(nonZero(bAfter.replica), nonZero(bBefore.replica)) {
		t.Errorf("B's replica rejections went from %v to %v", nonZero(bBefore.replica), nonZero(bAfter.replica))
	}
	if got, want := b.mustText(t, id), a.mustText(t, id); got != want {
		t.Errorf("B reads %q, A %q", got, want)
	}
	afterHostile(t, c, a, id)
}

// Crafted catch-up exchanges, on streams A accepts (from the helper's
// reader device) and on streams A opens (to its writer device), are
// refused and counted by reason at the step they are about — the
// membership handshake, the frames, the messages, the envelopes —;
// nothing is stored, no document is created, A keeps running and takes
// the well-formed transactions once.
func TestHostileSync(t *testing.T) {
	s := seed(t)
	c := newCluster(t, 1, "1s")
	id, text := hostileDoc(t, c)
	a := c.ds[0]
	h := startHostile(t, a, id, s, newHostileInvites(t, a, id))
	cases := []hostileCase{}
	add := func(cmd string, c hostileCase) {
		c.cmd = cmd
		cases = append(cases, c)
	}
	rej := func(reason string) hostileCase { return hostileCase{replica: one(reason)} }
	unknown := "fail(unknown document) EOF"
	// Membership before data: a refused open gets no proof, a refused
	// proof no hello, and neither any transactions.
	beforeOpen := func(c hostileCase) hostileCase {
		c.forbid = []string{"prove", "hello", "txns"}
		return c
	}
	beforeProof := func(c hostileCase) hostileCase {
		c.forbid = []string{"hello", "txns"}
		return c
	}
	// The first message of a stream A accepts.
	add("sync garbage", beforeOpen(rej("malformed")))
	add("sync version", beforeOpen(rej("version")))
	add("sync truncated", beforeOpen(rej("truncated")))
	add("sync oversized", beforeOpen(rej("oversized")))
	add("sync hello-first", beforeOpen(rej("malformed"))) // the exchange before issue 10: no open
	// The open: A answers a wrong MAC and an unknown topic alike.
	add("sync wrong-mac", beforeOpen(hostileCase{replica: one("capability"), detail: unknown}))
	add("sync reflected-mac", beforeOpen(hostileCase{replica: one("capability"), detail: unknown}))
	add("sync unknown-topic", beforeOpen(hostileCase{detail: unknown}))
	// The opener's proof, after A's.
	add("sync other-chain", beforeProof(rej("capability"))) // the writer's chain over the reader's connection
	add("sync forged-chain", beforeProof(rej("capability")))
	add("sync bad-link-sig", beforeProof(rej("signature")))
	add("sync expired", beforeProof(rej("expired")))
	add("sync no-prove", beforeProof(rej("malformed"))) // a hello where the proof is due
	add("sync txns-before-hello", beforeProof(rej("malformed")))
	// Envelopes in a txns message after a proper handshake and hello.
	add("sync env-garbage", rej("malformed"))
	add("sync env-truncated", rej("malformed"))
	add("sync old-envelope", rej("malformed"))
	add("sync wrong-doc", rej("wrong-document"))
	add("sync header-mismatch", rej("header-mismatch"))
	add("sync bad-sig", rej("signature"))
	add("sync forged-agent", rej("signature"))
	add("sync stranger", rej("capability"))
	add("sync reader", rej("capability"))
	// Signed by a writer, taken in, refused when opened.
	add("sync decrypt", hostileCase{replica: one("decrypt"), recv: 1})
	add("sync bad-payload", hostileCase{replica: one("bad-payload"), recv: 1})
	add("sync unknown-parents", hostileCase{buffered: 1, recv: 1})
	add("sync valid", hostileCase{adds: map[string]uint64{h.ready.Writer + ".sync": 4}, recv: 1})
	add("sync replay", hostileCase{recv: 1}) // the same envelope again: a duplicate, kept once
	// Bad messages after a proper hello.
	add("sync msg-version", rej("version"))
	add("sync msg-kind", rej("malformed"))
	add("sync msg-truncated", rej("truncated"))
	add("sync msg-oversized", rej("oversized"))
	// Replies to the catch-up requests A makes itself (every second).
	add("serve garbage", beforeOpen(rej("malformed")))
	add("serve version", beforeOpen(rej("version")))
	add("serve wrong-mac", beforeOpen(rej("capability")))
	add("serve other-chain", beforeOpen(rej("capability"))) // the reader's chain over the writer's connection
	add("serve stranger", rej("capability"))
	add("serve valid", hostileCase{adds: map[string]uint64{h.ready.Writer + ".serve": 4}, recv: 1})
	runHostile(t, h, a, id, cases)

	got := a.mustText(t, id)
	if strings.Count(got, "«ok»") != 2 || strings.ReplaceAll(got, "«ok»", "") != text {
		t.Errorf("A's text is %q; want %q with two «ok» inserted", got, text)
	}
	afterHostile(t, c, a, id)
}
