package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"weft/api"
	"weft/crdt"
	"weft/internal/child"
	"weft/vocab"
	"weft/wire"
)

// TestInterop checks weft's networking and formats against an independent
// libp2p implementation: the js-libp2p peer in e2e/interop (TCP, Noise,
// yamux, identify, GossipSub with StrictSign and the SHA-256 message ID),
// which decodes and encodes envelopes and transactions with its own code,
// written from the format comments. With a real daemon it checks that:
//
//   - the JS peer dials the daemon and both see each other subscribed to the
//     document's topic;
//   - a transaction the daemon publishes after an edit through the API
//     reaches the JS peer signed by the daemon's peer ID, with the JS
//     router's message ID equal to the SHA-256 of the data (p2p's message
//     ID); the JS decoding of envelope and transaction equals Go's, and is
//     what the edit must produce (agent, seq span, parents, originLeft);
//   - a transaction the JS peer builds from what it decoded (an insert at
//     the end by agent "js-peer", astral code point included) is encoded
//     byte for byte as Go encodes the same transaction, and the daemon
//     integrates it: its text ends with the JS text, its version vector has
//     js-peer, its counters show one more remote transaction;
//   - a signed but malformed message from the JS peer is rejected and
//     counted (gossip and replica counters, reason "malformed"), changes
//     nothing, and the daemon stays up: its next edit, which builds on the
//     JS peer's transaction, still reaches the JS peer.
//
// It needs Node.js (>= 20) and npm: it runs `npm ci` in e2e/interop when
// node_modules is missing. Without them it is skipped, loudly, except in CI
// (CI set), where it fails.
func TestInterop(t *testing.T) {
	start := time.Now()
	nodeBin := interopNode(t)
	dir, err := filepath.Abs("interop")
	if err != nil {
		t.Fatal(err)
	}
	interopNpmCI(t, dir)
	t.Logf("set-up (tools, npm) took %s", time.Since(start).Round(time.Millisecond))

	start = time.Now()
	d := newDaemon(t, "D", filepath.Join(t.TempDir(), "D"), "")
	d.flags = []string{"--log-level", "debug"}
	d.start(t, nil)
	js := startInteropPeer(t, nodeBin, dir)
	ready := js.reply(t, "ready")
	t.Logf("JS peer %s, versions %v", ready.Peer, ready.Versions)

	// A document typed into through the API before the JS peer is there.
	doc := createDocs(t, d, 1, "interop")[0]
	res := d.mustEdit(t, doc, api.Edit{Pos: 0, Ins: "hello"})
	agent := d.mustDocStatus(t, doc).Agent
	if agent == "" || res.Version[agent] != 5 {
		t.Fatalf("after typing hello the daemon's agent is %q and its version %v", agent, res.Version)
	}

	// The JS peer dials the daemon and joins the topic; the daemon must see
	// its subscription before it publishes, or the JS peer would not get
	// the next transaction.
	topic := "weft/doc/" + doc
	js.send(t, map[string]string{"cmd": "join", "addr": d.multiaddr(), "topic": topic, "doc": doc})
	joined := js.reply(t, "joined")
	if joined.Remote != d.id() {
		t.Fatalf("the JS peer joined %s; the daemon is %s", joined.Remote, d.id())
	}
	if !slices.ContainsFunc(joined.Protocols, func(p string) bool { return strings.HasPrefix(p, "/meshsub/") }) {
		t.Fatalf("no GossipSub stream between the JS peer and the daemon; protocols %v", joined.Protocols)
	}
	t.Logf("connected; streams %v", joined.Protocols)
	waitFor(t, interopTimeout*slow, "the daemon to see the JS peer on the topic", func() (bool, string) {
		st := d.mustDocStatus(t, doc)
		return slices.Contains(st.Peers, ready.Peer), fmt.Sprintf("topic peers %v", st.Peers)
	})

	// The daemon's transaction, as the JS peer decoded it.
	d.mustEdit(t, doc, api.Edit{Pos: 5, Ins: " world"})
	m := js.message(t, func(e interopEvent) bool {
		return e.Envelope != nil && e.Envelope.Agent == agent && e.Envelope.Seq == 5
	})
	self := &interopID{Agent: agent, Seq: 4}
	checkInteropMessage(t, m, d.id(), doc, interopTxn{
		Agent: agent, Seq: 5, Parents: []interopID{*self},
		Ops: []interopOp{{Kind: "insert", Text: " world", Left: self}},
	})

	// The JS peer's transaction: an insert at the end, on the daemon's
	// version, which the daemon integrates.
	before := counters(t, d)
	jsText := " from js 🚀"
	js.send(t, map[string]string{"cmd": "append", "text": jsText})
	pub := js.reply(t, "published")
	if !slices.Contains(pub.Recipients, d.id()) {
		t.Fatalf("the JS peer published to %v, not to the daemon %s", pub.Recipients, d.id())
	}
	top := &interopID{Agent: agent, Seq: 10}
	want := interopTxn{Agent: "js-peer", Seq: 0, Parents: []interopID{*top}, Ops: []interopOp{{Kind: "insert", Text: jsText, Left: top}}}
	if got, w := interopJSON(pub.Txn), interopJSON(&want); got != w {
		t.Fatalf("the JS peer built\n %s\nwant\n %s", got, w)
	}
	checkSameEncoding(t, pub.Data, doc)
	n := uint64(utf8.RuneCountInString(jsText))
	waitFor(t, interopTimeout*slow, "the daemon to integrate the JS peer's transaction", func() (bool, string) {
		st, text := d.mustDocStatus(t, doc), d.mustText(t, doc)
		return text == "hello world"+jsText && st.Version["js-peer"] == n && st.Buffered == 0,
			fmt.Sprintf("text %q, version %v, %d buffered", text, st.Version, st.Buffered)
	})
	if after := counters(t, d); after.Replica.RemoteTxns != before.Replica.RemoteTxns+1 {
		t.Errorf("remote transactions went from %d to %d; want one more", before.Replica.RemoteTxns, after.Replica.RemoteTxns)
	}

	// A signed message whose data is a cut-off envelope: rejected, counted
	// once (by the network layer, under the validator's reason), nothing
	// changes.
	before = counters(t, d)
	version := d.mustDocStatus(t, doc).Version
	js.send(t, map[string]string{"cmd": "malformed"})
	pub = js.reply(t, "published")
	if !slices.Contains(pub.Recipients, d.id()) {
		t.Fatalf("the JS peer published the malformed message to %v, not to the daemon %s", pub.Recipients, d.id())
	}
	waitFor(t, interopTimeout*slow, "the daemon to count the malformed message", func() (bool, string) {
		c := counters(t, d)
		return c.GossipRejected["malformed"] == before.GossipRejected["malformed"]+1 &&
				maps.Equal(c.Replica.Rejected, before.Replica.Rejected),
			fmt.Sprintf("gossip rejected %v, replica rejected %v (before: %v, %v)", c.GossipRejected, c.Replica.Rejected, before.GossipRejected, before.Replica.Rejected)
	})
	if !d.isRunning() {
		t.Fatal("the daemon exited after the malformed message")
	}
	if st, text := d.mustDocStatus(t, doc), d.mustText(t, doc); text != "hello world"+jsText || !maps.Equal(st.Version, version) || st.Buffered != 0 {
		t.Fatalf("after the malformed message the daemon has %q at %v with %d buffered; want it unchanged", text, st.Version, st.Buffered)
	}

	// Still connected both ways: the daemon's next edit, made on the JS
	// peer's transaction, reaches the JS peer.
	d.mustEdit(t, doc, api.Edit{Pos: 11 + int(n), Ins: "!"})
	m = js.message(t, func(e interopEvent) bool {
		return e.Envelope != nil && e.Envelope.Agent == agent && e.Envelope.Seq == 11
	})
	jsTop := &interopID{Agent: "js-peer", Seq: n - 1}
	checkInteropMessage(t, m, d.id(), doc, interopTxn{
		Agent: agent, Seq: 11, Parents: []interopID{*jsTop},
		Ops: []interopOp{{Kind: "insert", Text: "!", Left: jsTop}},
	})

	js.quit(t)
	if !d.isRunning() {
		t.Fatal("the daemon exited")
	}
	t.Logf("the exchange took %s", time.Since(start).Round(time.Millisecond))
}

// checkInteropMessage checks a message the JS peer received from the
// daemon: signed by the daemon, the JS router's message ID is SHA-256 of the
// data, and the JS decoding equals Go's decoding and want.
func checkInteropMessage(t *testing.T, m interopEvent, daemonID, doc string, want interopTxn) {
	t.Helper()
	if m.Error != "" {
		t.Fatalf("the JS peer could not decode the daemon's message: %s", m.Error)
	}
	if !m.Signed || m.From != daemonID {
		t.Fatalf("the daemon's message reached the JS peer signed=%v from %q; want signed by %s", m.Signed, m.From, daemonID)
	}
	if sum := sha256.Sum256(m.Data); m.MsgID != hex.EncodeToString(sum[:]) {
		t.Fatalf("the JS router's message ID is %s; weft's is SHA-256 of the data, %x", m.MsgID, sum)
	}
	// Go's decoding of the same bytes.
	e, err := wire.ParseEnvelope(m.Data, vocab.DocID{})
	if err != nil {
		t.Fatalf("Go cannot parse what the JS peer received: %v", err)
	}
	txn, err := e.Open()
	if err != nil {
		t.Fatalf("Go cannot open what the JS peer received: %v", err)
	}
	goEnv := interopEnvelope{Doc: e.Doc.String(), Agent: e.Header.Agent, Seq: e.Header.Seq, Len: e.Header.Len, PayloadBytes: len(e.Payload)}
	for _, p := range e.Header.Parents {
		goEnv.Parents = append(goEnv.Parents, interopID{Agent: p.Agent, Seq: p.Seq})
	}
	if got, w := interopJSON(m.Envelope), interopJSON(&goEnv); got != w {
		t.Fatalf("the JS peer decoded the envelope as\n %s\nGo as\n %s", got, w)
	}
	if got, w := interopJSON(m.Txn), interopJSON(interopTxnOf(txn)); got != w {
		t.Fatalf("the JS peer decoded the transaction as\n %s\nGo as\n %s", got, w)
	}
	if m.Envelope.Doc != doc || m.Envelope.Len != uint64(txn.Count()) {
		t.Fatalf("envelope for %s of %d ops; want %s, %d", m.Envelope.Doc, m.Envelope.Len, doc, txn.Count())
	}
	if got, w := interopJSON(m.Txn), interopJSON(&want); got != w {
		t.Fatalf("the daemon published\n %s\nwant\n %s", got, w)
	}
}

// checkSameEncoding decodes the envelope the JS peer encoded and encodes
// its transaction again in Go: the bytes must be the same.
func checkSameEncoding(t *testing.T, data []byte, doc string) {
	t.Helper()
	id, err := vocab.ParseDocID(doc)
	if err != nil {
		t.Fatal(err)
	}
	e, err := wire.ParseEnvelope(data, id)
	if err != nil {
		t.Fatalf("the JS peer's envelope: %v", err)
	}
	txn, err := e.Open()
	if err != nil {
		t.Fatalf("the JS peer's transaction: %v", err)
	}
	_, again, err := wire.Seal(id, txn)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again, data) {
		t.Fatalf("the JS peer encoded\n %x\nGo encodes the same transaction as\n %x", data, again)
	}
}

// The JS peer's JSON.

type interopID struct {
	Agent string `json:"agent"`
	Seq   uint64 `json:"seq"`
}

type interopOp struct {
	Kind   string     `json:"kind"`
	Text   string     `json:"text,omitempty"`
	Left   *interopID `json:"left"`
	Right  *interopID `json:"right"`
	Target *interopID `json:"target,omitempty"`
	Len    int        `json:"len,omitempty"`
	Rev    bool       `json:"rev,omitempty"`
}

type interopTxn struct {
	Agent   string      `json:"agent"`
	Seq     uint64      `json:"seq"`
	Parents []interopID `json:"parents"`
	Ops     []interopOp `json:"ops"`
}

type interopEnvelope struct {
	Doc          string      `json:"doc"`
	Agent        string      `json:"agent"`
	Seq          uint64      `json:"seq"`
	Len          uint64      `json:"len"`
	Parents      []interopID `json:"parents"`
	PayloadBytes int         `json:"payloadBytes"`
}

type interopEvent struct {
	Event      string            `json:"event"`
	Peer       string            `json:"peer"`
	Versions   map[string]string `json:"versions"`
	Remote     string            `json:"remote"`
	Protocols  []string          `json:"protocols"`
	From       string            `json:"from"`
	Signed     bool              `json:"signed"`
	MsgID      string            `json:"msgId"`
	Data       []byte            `json:"data"` // base64 in the JSON
	Envelope   *interopEnvelope  `json:"envelope"`
	Txn        *interopTxn       `json:"txn"`
	Recipients []string          `json:"recipients"`
	Cmd        string            `json:"cmd"`
	Error      string            `json:"error"`
}

func interopTxnOf(t *crdt.Txn) *interopTxn {
	id := func(x crdt.ID) *interopID {
		if x.IsZero() {
			return nil
		}
		return &interopID{Agent: x.Agent, Seq: x.Seq}
	}
	out := &interopTxn{Agent: t.Agent, Seq: t.Seq}
	for _, p := range t.Parents {
		out.Parents = append(out.Parents, interopID{Agent: p.Agent, Seq: p.Seq})
	}
	for _, o := range t.Ops {
		if o.Kind == crdt.OpInsert {
			out.Ops = append(out.Ops, interopOp{Kind: "insert", Text: o.Text, Left: id(o.Left), Right: id(o.Right)})
		} else {
			out.Ops = append(out.Ops, interopOp{Kind: "delete", Target: id(o.Target), Len: o.Len, Rev: o.Rev})
		}
	}
	return out
}

// interopJSON is v as JSON, for comparisons that print readably.
func interopJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	return string(b)
}

// interopTimeout bounds every wait of the test.
const interopTimeout = 20 * time.Second

// Tools.

// interopCI reports whether the test runs in CI, where missing tools fail
// the test instead of skipping it.
func interopCI() bool {
	v := strings.ToLower(os.Getenv("CI"))
	return v != "" && v != "0" && v != "false"
}

func interopMissing(t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if interopCI() {
		t.Fatalf("%s (CI is set: the interop test must run)", msg)
	}
	t.Logf("\n*** TestInterop SKIPPED: %s ***\n*** the js-libp2p interop check did not run; install Node.js >= 20 and npm ***", msg)
	t.Skip(msg)
}

// interopNode returns the path of node (>= 20), after checking npm is there.
func interopNode(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		interopMissing(t, "node is not installed")
	}
	if _, err := exec.LookPath("npm"); err != nil {
		interopMissing(t, "npm is not installed")
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		interopMissing(t, "node --version: %v", err)
	}
	v := strings.TrimPrefix(strings.TrimSpace(string(out)), "v")
	major, err := strconv.Atoi(strings.SplitN(v, ".", 2)[0])
	if err != nil || major < 20 {
		interopMissing(t, "node %s is too old (need 20 or later)", v)
	}
	return node
}

// interopNpmCI installs the JS peer's locked dependencies when
// node_modules is missing.
func interopNpmCI(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(filepath.Join(dir, "node_modules")); err == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
	cmd.Dir = dir
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	t.Logf("npm ci in e2e/interop took %s", time.Since(start).Round(time.Millisecond))
}

// counters returns d's counters, failing the test when its status has
// none.
func counters(t *testing.T, d *daemon) *api.Counters {
	t.Helper()
	st := d.mustStatus(t)
	if st.Counters == nil {
		t.Fatalf("daemon %s's status has no counters", d.name)
	}
	return st.Counters
}

// The JS peer.

type interopPeer struct {
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	replies  chan interopEvent // everything but "message"
	messages chan interopEvent
	done     chan struct{} // closed when the process has exited
	stderr   string        // the file the JS peer's stderr goes to
}

// stderrText is what the JS peer has written to its stderr so far.
func (p *interopPeer) stderrText() string {
	b, err := os.ReadFile(p.stderr)
	if err != nil {
		return fmt.Sprintf("(no stderr of the JS peer: %v)", err)
	}
	return string(b)
}

func startInteropPeer(t *testing.T, nodeBin, dir string) *interopPeer {
	t.Helper()
	p := &interopPeer{
		cmd:      exec.Command(nodeBin, "peer.mjs"),
		replies:  make(chan interopEvent, 16),
		messages: make(chan interopEvent, 64),
		done:     make(chan struct{}),
		stderr:   filepath.Join(t.TempDir(), "js-peer.stderr"),
	}
	p.cmd.Dir = dir
	errf, err := os.Create(p.stderr)
	if err != nil {
		t.Fatal(err)
	}
	defer errf.Close() // the child holds its own copy
	p.cmd.Stderr = errf
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(p.cmd); err != nil {
		t.Fatal(err)
	}
	lines := make(chan struct{})
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 8<<20)
		for sc.Scan() {
			var e interopEvent
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				e = interopEvent{Event: "error", Error: fmt.Sprintf("the JS peer printed %q: %v", sc.Text(), err)}
			}
			if e.Event == "message" {
				p.messages <- e
			} else {
				p.replies <- e
			}
		}
	}()
	go func() {
		<-lines // Wait must not run before stdout is read to the end
		_ = p.cmd.Wait()
		child.Forget(p.cmd)
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.stdin.Close()
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("--- JS peer's stderr ---\n%s--- end of JS peer's stderr ---", p.stderrText())
		}
	})
	return p
}

func (p *interopPeer) send(t *testing.T, cmd any) {
	t.Helper()
	b, err := json.Marshal(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("writing to the JS peer: %v", err)
	}
}

// reply waits for the JS peer's next answer, which must be event.
func (p *interopPeer) reply(t *testing.T, event string) interopEvent {
	t.Helper()
	select {
	case e := <-p.replies:
		if e.Event != event {
			t.Fatalf("the JS peer answered %s (%s%s); want %s", e.Event, e.Cmd, e.Error, event)
		}
		return e
	case <-p.done:
		t.Fatalf("the JS peer exited (%v) before %s\n%s", p.cmd.ProcessState, event, p.stderrText())
	case <-time.After(interopTimeout):
		t.Fatalf("no %s from the JS peer in %s", event, interopTimeout)
	}
	panic("unreachable")
}

// message waits for a message the JS peer received for which match holds;
// messages before it must decode too.
func (p *interopPeer) message(t *testing.T, match func(interopEvent) bool) interopEvent {
	t.Helper()
	deadline := time.After(interopTimeout)
	for {
		select {
		case e := <-p.messages:
			if match(e) {
				return e
			}
			if e.Error != "" {
				t.Fatalf("the JS peer could not decode a message from %s: %s", e.From, e.Error)
			}
			if e.Envelope != nil {
				t.Logf("the JS peer also received %s/%d", e.Envelope.Agent, e.Envelope.Seq)
			}
		case <-p.done:
			t.Fatalf("the JS peer exited (%v) while waiting for a message\n%s", p.cmd.ProcessState, p.stderrText())
		case <-deadline:
			t.Fatalf("the JS peer received no matching message in %s", interopTimeout)
		}
	}
}

// quit stops the JS peer, which must exit 0.
func (p *interopPeer) quit(t *testing.T) {
	t.Helper()
	p.send(t, map[string]string{"cmd": "quit"})
	select {
	case <-p.done:
	case <-time.After(interopTimeout):
		t.Fatalf("the JS peer did not exit in %s after quit", interopTimeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("the JS peer exited with %d\n%s", code, p.stderrText())
	}
}
