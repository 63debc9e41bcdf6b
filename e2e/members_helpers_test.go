package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"

	"weft/api"
	"weft/p2p"
	"weft/store"
	"weft/vocab"
)

// Members-only documents (issue 10): a document is shared by invite, and
// a relay hosts it only once a member grants it the pull role. These are
// the only ways the tests share a document; joining by bare ID is refused
// (TestJoinByIDRefused).
//
// WEFT_E2E_LEGACY=1 is for side-by-side benchmark runs only (with
// WEFT_E2E_WEFT naming a binary from before members-only documents, which
// has neither invites nor grants): an "invite" is then the bare document
// ID, joining with it is POST /api/docs/{id}/join, and host does nothing
// (such a relay stores every document). Roles are not checked then: the
// old binary has none. Tests of members-only behaviour fail under it.
var legacy = os.Getenv("WEFT_E2E_LEGACY") == "1"

// inviteOpts are the optional fields of an invite request.
type inviteOpts struct {
	label   string
	expires int64 // seconds from now; 0: never
}

func (d *daemon) invite(ctx context.Context, id string, req api.InviteRequest) (api.InviteInfo, error) {
	if legacy {
		return api.InviteInfo{Invite: id, Doc: id}, nil
	}
	var info api.InviteInfo
	err := d.call(ctx, "POST", "/api/docs/"+id+"/invites", req, &info)
	return info, err
}

func (d *daemon) joinInvite(ctx context.Context, invite string) (api.DocInfo, error) {
	var info api.DocInfo
	if legacy {
		err := d.call(ctx, "POST", "/api/docs/"+invite+"/join", nil, &info)
		return info, err
	}
	err := d.call(ctx, "POST", "/api/join", map[string]string{"invite": invite}, &info)
	return info, err
}

// mustInvite makes an invite to document id with role on d and checks
// what d says it made.
func mustInvite(t testing.TB, d *daemon, id, role string, o inviteOpts) api.InviteInfo {
	t.Helper()
	inv := must(t, d, "invite to "+id, func(ctx context.Context) (api.InviteInfo, error) {
		return d.invite(ctx, id, api.InviteRequest{Role: role, Label: o.label, Expires: o.expires})
	})
	if legacy {
		return inv
	}
	if !strings.HasPrefix(inv.Invite, "weft:invite/") || inv.Doc != id || inv.Role != role {
		t.Fatalf("daemon %s: an invite to %s as %s came back as %+v", d.name, id, role, inv)
	}
	return inv
}

// mustJoin joins d to the document of invite inv (made with
// mustInvite) and checks that d holds it with the invite's role.
func mustJoin(t testing.TB, d *daemon, inv api.InviteInfo) api.DocInfo {
	t.Helper()
	info := must(t, d, "join with an invite to "+inv.Doc, func(ctx context.Context) (api.DocInfo, error) {
		return d.joinInvite(ctx, inv.Invite)
	})
	if info.ID != inv.Doc || (!legacy && info.Role != inv.Role) {
		t.Fatalf("daemon %s joined with an invite to %s as %s and holds %s as %q", d.name, inv.Doc, inv.Role, info.ID, info.Role)
	}
	return info
}

// share gives to the role in document id: from (a member allowed to
// invite) makes an invite, to joins with it.
func share(t testing.TB, from, to *daemon, id, role string) {
	t.Helper()
	mustJoin(t, to, mustInvite(t, from, id, role, inviteOpts{label: to.name}))
}

// shareCLI is share with the joining side through the command line
// (`weft doc join INVITE`).
func shareCLI(t testing.TB, from, to *daemon, id, role string) {
	t.Helper()
	inv := mustInvite(t, from, id, role, inviteOpts{label: to.name})
	to.mustCLI(t, []string{"doc", "join"}, inv.Invite)
	for _, doc := range to.mustListDocs(t) {
		if doc.ID == id {
			if !legacy && doc.Role != role {
				t.Fatalf("daemon %s joined %s as %s through the CLI and holds it as %q", to.name, id, role, doc.Role)
			}
			return
		}
	}
	t.Fatalf("daemon %s joined %s through the CLI and does not list it", to.name, id)
}

// host has member d grant relay r the pull role in each document (POST
// /api/docs/{id}/host with the relay's multiaddr): only then does the
// relay store, acknowledge and serve it.
func host(t testing.TB, d *daemon, r *relayProc, ids ...string) {
	t.Helper()
	if legacy {
		return
	}
	for _, id := range ids {
		must(t, d, "host "+id+" on relay "+r.name, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, d.call(ctx, "POST", "/api/docs/"+id+"/host", api.HostRequest{Relay: r.multiaddr()}, nil)
		})
	}
}

func (d *daemon) members(ctx context.Context, id string) ([]api.MemberInfo, error) {
	var ms []api.MemberInfo
	err := d.call(ctx, "GET", "/api/docs/"+id+"/members", nil, &ms)
	return ms, err
}

func (d *daemon) mustMembers(t testing.TB, id string) []api.MemberInfo {
	t.Helper()
	return must(t, d, "members of "+id, func(ctx context.Context) ([]api.MemberInfo, error) { return d.members(ctx, id) })
}

// mustRemove has d remove device from document id (DELETE
// /api/docs/{id}/members/{device}: a revocation and a new epoch).
func mustRemove(t testing.TB, d *daemon, id, device string) {
	t.Helper()
	must(t, d, "remove "+device+" from "+id, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, d.call(ctx, "DELETE", "/api/docs/"+id+"/members/"+device, nil, nil)
	})
}

// Markers: a unique string typed into a document, to look for in bytes
// that must hold only ciphertext.

// newMarker returns a marker unique to this run (derived from the test's
// seed: printed on failure): 32 random letters and digits, then what.
// Markers share no prefix: badger compresses its tables (Snappy), and a
// run that repeats earlier bytes would be stored as a back-reference, not
// as the marker's bytes.
func newMarker(rng *rand.Rand, what string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 32, 33+len(what))
	for i := range b {
		b[i] = alphabet[rng.IntN(len(alphabet))]
	}
	return string(append(append(b, '-'), what...))
}

// findMarkers reports every marker found in b, as "where: marker".
func findMarkers(where string, b []byte, markers []string) []string {
	var found []string
	for _, m := range markers {
		if bytes.Contains(b, []byte(m)) {
			found = append(found, fmt.Sprintf("%s: %q", where, m))
		}
	}
	return found
}

// scanTree reads every regular file under root (a data directory, a
// backup directory, an S3 server's bucket directory) and reports where
// a marker appears. Files are read in chunks that overlap by the longest
// marker, so a marker across a chunk boundary is found too, and badger's
// large preallocated files are not held in memory at once.
func scanTree(t testing.TB, root string, markers []string) []string {
	t.Helper()
	longest := 0
	for _, m := range markers {
		longest = max(longest, len(m))
	}
	var found []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || !e.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		buf := make([]byte, 4<<20)
		keep := 0
		seen := map[string]bool{}
		for {
			n, err := io.ReadFull(f, buf[keep:])
			for _, hit := range findMarkers(p, buf[:keep+n], markers) {
				if !seen[hit] {
					seen[hit] = true
					found = append(found, hit)
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return nil
			}
			if err != nil {
				return err
			}
			keep = min(longest-1, keep+n)
			copy(buf, buf[len(buf)-keep:])
		}
	})
	if err != nil {
		t.Fatalf("scanning %s: %v", root, err)
	}
	return found
}

// scanLog reports the markers in p's log.
func scanLog(t testing.TB, p *proc, markers []string) []string {
	t.Helper()
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		t.Fatalf("reading %s's log: %v", p.name, err)
	}
	return findMarkers(p.kind+" "+p.name+"'s log", b, markers)
}

// A raw libp2p peer: weft's own p2p node driven by the test, holding no
// capability. It joins a document's topics (it may know the ID: the ID
// is no capability) and takes every catch-up stream a daemon opens to it,
// keeping every byte it receives; it never answers.

type rawPeer struct {
	node   *p2p.Node
	mu     sync.Mutex
	topics []*p2p.Topic
	got    []byte // every gossip message and stream frame received, concatenated
	msgs   int
	gossip int // of msgs, gossip messages
}

func (r *rawPeer) keep(b []byte, gossip bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs++
	if gossip {
		r.gossip++
	}
	if len(r.got) < 64<<20 {
		r.got = append(r.got, b...)
	}
}

// topicPeers lists the peers the raw peer sees on its topics.
func (r *rawPeer) topicPeers() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, tp := range r.topics {
		out = append(out, tp.Peers()...)
	}
	return out
}

// gossipReceived is how many gossip messages the raw peer received.
func (r *rawPeer) gossipReceived() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gossip
}

// await gives the raw peer a chance to be where the traffic is before the
// markers are typed: it polls ok until it holds or a deadline passes.
// Members may rightly keep a stranger out of their topics' meshes, so a
// miss is logged, not a failure (the stranger was then shown less).
func (r *rawPeer) await(t testing.TB, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second * slow)
	for !ok() {
		if time.Now().After(deadline) {
			t.Logf("the raw peer did not see %s within %s; the test goes on", what, 10*time.Second*slow)
			return
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

// received returns a copy of the bytes received so far and how many
// messages and frames they came in.
func (r *rawPeer) received() ([]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got), r.msgs
}

// The catch-up protocol a daemon answers.
var syncProtocols = []string{"/weft/sync/2.0.0"}

// startRawPeer starts a raw peer connected to each process (daemons,
// relays).
func startRawPeer(t testing.TB, ps ...*proc) *rawPeer {
	t.Helper()
	o := p2p.DefaultOptions()
	o.IdentityFile = filepath.Join(t.TempDir(), "identity.key")
	o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	o.MDNS, o.DHT, o.NATTraversal = false, false, false
	o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx, cancel := ctxT()
	defer cancel()
	node, err := p2p.New(ctx, o)
	if err != nil {
		t.Fatalf("raw peer: %v", err)
	}
	t.Cleanup(func() { _ = node.Close() })
	r := &rawPeer{node: node}
	for _, proto := range syncProtocols {
		node.Handle(proto, func(_ string, s p2p.Stream) {
			// What the daemon sends unprompted, then silence: the stream
			// is reset after a few seconds, so a daemon waiting for an
			// answer is not held for long.
			defer s.Reset()
			_ = s.SetDeadline(time.Now().Add(5 * time.Second * slow))
			for {
				b, err := s.ReadMsg()
				if err != nil {
					return
				}
				r.keep(b, false)
			}
		})
	}
	for _, p := range ps {
		if err := node.Connect(ctx, p.multiaddr()); err != nil {
			t.Fatalf("raw peer connecting to %s %s: %v", p.kind, p.name, err)
		}
	}
	return r
}

// memberTopic is a document's topic name of kind ("doc", "presence",
// "durable") as docs/members-only.md fixes it: the lowercase hex of the
// first 16 bytes of SHA-256("weft/member/v1/topic\0" ‖ the ID's 16 bytes).
func memberTopic(t testing.TB, kind, id string) string {
	t.Helper()
	raw, err := hex.DecodeString(id)
	if err != nil || len(raw) != 16 {
		t.Fatalf("document ID %q: not 32 hex digits", id)
	}
	h := sha256.Sum256(append([]byte("weft/member/v1/topic\x00"), raw...))
	return "weft/" + kind + "/" + hex.EncodeToString(h[:16])
}

// joinTopics subscribes the raw peer to every topic of document id, the
// members-only names and the legacy ones (named by the ID), keeping what
// arrives.
func (r *rawPeer) joinTopics(t testing.TB, id string) {
	t.Helper()
	for _, kind := range []string{"doc", "presence", "durable"} {
		for _, name := range []string{memberTopic(t, kind, id), "weft/" + kind + "/" + id} {
			tp, err := r.node.Join(name, func(_ string, data []byte) (any, error) {
				r.keep(data, true)
				return nil, nil
			})
			if err != nil {
				t.Fatalf("raw peer joining %s: %v", name, err)
			}
			r.mu.Lock()
			r.topics = append(r.topics, tp)
			r.mu.Unlock()
		}
	}
}

// Backups rewritten with valid checksums (store/BACKUP.md): what a
// restore must refuse then is what the signatures refuse, not the
// format's checksums.

type bkEntry struct {
	_     struct{} `cbor:",toarray"`
	Key   string
	Value []byte
}

type bkEnd struct {
	_       struct{} `cbor:",toarray"`
	Entries uint64
	Bytes   uint64
	SHA256  []byte
}

// bkRecord is a stored value: [format, kind, body, CRC-32C of format,
// kind and body] (store/record.go).
type bkRecord struct {
	_       struct{} `cbor:",toarray"`
	Version uint64
	Kind    uint64
	Body    []byte
	Sum     uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// rewriteBackup returns the backup b with each stored value passed
// through edit (which returns the new value, or nil to keep it), every
// checksum (record, frame, end) made right again. It reports how many
// values edit changed.
func rewriteBackup(b []byte, edit func(key string, value []byte) []byte) ([]byte, int, error) {
	const magic = "WEFTBKUP"
	if !bytes.HasPrefix(b, []byte(magic)) {
		return nil, 0, errors.New("no backup magic")
	}
	enc, err := cbor.CoreDetEncOptions().EncMode()
	if err != nil {
		return nil, 0, err
	}
	out := []byte(magic)
	frame := func(kind byte, payload []byte) {
		hdr := binary.AppendUvarint([]byte{kind}, uint64(len(payload)))
		crc := crc32.Update(crc32.Update(0, castagnoli, hdr), castagnoli, payload)
		out = append(append(append(out, hdr...), payload...), binary.BigEndian.AppendUint32(nil, crc)...)
	}
	var entries, total uint64
	changed := 0
	rest := b[len(magic):]
	for len(rest) > 0 {
		kind := rest[0]
		n, k := binary.Uvarint(rest[1:])
		if k <= 0 || uint64(len(rest)) < 1+uint64(k)+n+4 {
			return nil, 0, errors.New("truncated frame")
		}
		payload := rest[1+k : 1+k+int(n)]
		rest = rest[1+k+int(n)+4:]
		switch kind {
		case 'H':
			frame(kind, payload)
		case 'D':
			var es []bkEntry
			if err := cbor.Unmarshal(payload, &es); err != nil {
				return nil, 0, fmt.Errorf("data frame: %v", err)
			}
			for i := range es {
				if v := edit(es[i].Key, es[i].Value); v != nil {
					es[i].Value = v
					changed++
				}
				entries++
				total += uint64(len(es[i].Key) + len(es[i].Value))
			}
			p, err := enc.Marshal(es)
			if err != nil {
				return nil, 0, err
			}
			frame(kind, p)
		case 'E':
			if len(rest) != 0 {
				return nil, 0, errors.New("bytes after the end frame")
			}
			sum := sha256.Sum256(out)
			p, err := enc.Marshal(bkEnd{Entries: entries, Bytes: total, SHA256: sum[:]})
			if err != nil {
				return nil, 0, err
			}
			frame(kind, p)
			return out, changed, nil
		default:
			return nil, 0, fmt.Errorf("frame kind %q", kind)
		}
	}
	return nil, 0, errors.New("no end frame")
}

// envelopeIn finds a format-2 transaction envelope [2, header, sealed
// payload] (docs/members-only.md) stored as a byte string field of a
// record's body, and returns the envelope's bytes and its header's.
func envelopeIn(body []byte) (env, header []byte, ok bool) {
	var fields []cbor.RawMessage
	if cbor.Unmarshal(body, &fields) != nil {
		return nil, nil, false
	}
	for _, f := range fields {
		var bs []byte
		if cbor.Unmarshal(f, &bs) != nil {
			continue
		}
		var parts []cbor.RawMessage
		if cbor.Unmarshal(bs, &parts) != nil || len(parts) != 3 {
			continue
		}
		var format uint64
		var h, p []byte
		if cbor.Unmarshal(parts[0], &format) != nil || format != 2 ||
			cbor.Unmarshal(parts[1], &h) != nil || cbor.Unmarshal(parts[2], &p) != nil || len(h) == 0 || len(p) == 0 {
			continue
		}
		return bs, h, true
	}
	return nil, nil, false
}

// tamperEnvelope returns an edit for rewriteBackup that flips one bit of
// the first stored transaction envelope, at the byte pick chooses
// (given the envelope and its header, an index into the envelope), and
// re-checksums its record; other values are kept.
func tamperEnvelope(pick func(env, header []byte) int) func(string, []byte) []byte {
	done := false
	return func(_ string, value []byte) []byte {
		if done {
			return nil
		}
		var rec bkRecord
		if cbor.Unmarshal(value, &rec) != nil {
			return nil
		}
		env, header, ok := envelopeIn(rec.Body)
		if !ok {
			return nil
		}
		at := bytes.Index(rec.Body, env) + pick(env, header)
		body := slices.Clone(rec.Body)
		body[at] ^= 0x01 // same length: the CBOR around it stays valid
		rec.Body = body
		rec.Sum = crc32.Update(crc32.Update(0, castagnoli, []byte{byte(rec.Version), byte(rec.Kind)}), castagnoli, body)
		enc, err := cbor.CoreDetEncOptions().EncMode()
		if err != nil {
			panic(err)
		}
		out, err := enc.Marshal(rec)
		if err != nil {
			panic(err)
		}
		done = true
		return out
	}
}

// rewriteBackup and tamperEnvelope change exactly the bit they are asked
// to, in one stored value, and keep its record checksum right (the
// format's other checksums are checked by TestRelayHoldsCiphertextOnly,
// which restores a backup re-written unchanged). The envelope here is
// a stand-in with the format-2 shape, written to a store directly.
func TestTamperEnvelopeFlipsOneBit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	header := []byte{0x82, 0x01, 0x58, 0x40} // any bytes: the tamperer looks at the shape only
	header = append(header, bytes.Repeat([]byte{0xAA}, 64)...)
	sealed := bytes.Repeat([]byte{0x55}, 40)
	env, err := cbor.Marshal([]any{2, header, sealed})
	if err != nil {
		t.Fatal(err)
	}
	withStore(t, dir, func(s *store.Store, _ []store.DocID) {
		ctx := context.Background()
		id := store.NewDocID()
		if err := s.CreateDoc(ctx, id, "tamper"); err != nil {
			t.Fatal(err)
		}
		ack, err := s.Append(ctx, id, store.Immediate, store.TxnRecord{Header: vocab.Header{Agent: "e2e", Seq: 0, Len: 1}, Payload: env})
		if err == nil {
			err = ack.Wait(ctx)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	backups := filepath.Join(t.TempDir(), "backups")
	mustWeft(t, "backup", "create", "--data", dir, "--to", backups)
	es, err := os.ReadDir(backups)
	if err != nil || len(es) != 1 {
		t.Fatalf("backups: %v %v", es, err)
	}
	good, err := os.ReadFile(filepath.Join(backups, es[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	values := func(b []byte) map[string][]byte {
		out := map[string][]byte{}
		if _, _, err := rewriteBackup(b, func(k string, v []byte) []byte { out[k] = v; return nil }); err != nil {
			t.Fatal(err)
		}
		return out
	}
	before := values(good)
	for _, tc := range []struct {
		what string
		pick func(env, header []byte) int
		want int // index into env of the flipped byte
	}{
		{"payload", func(e, _ []byte) int { return len(e) - 1 }, len(env) - 1},
		{"signature", func(e, h []byte) int { return bytes.Index(e, h) + len(h) - 1 }, bytes.Index(env, header) + len(header) - 1},
	} {
		bad, changed, err := rewriteBackup(good, tamperEnvelope(tc.pick))
		if err != nil || changed != 1 {
			t.Fatalf("%s: %v, %d values changed; want 1", tc.what, err, changed)
		}
		after := values(bad)
		var diffs []string
		for k, v := range before {
			if bytes.Equal(v, after[k]) {
				continue
			}
			diffs = append(diffs, k)
			var r0, r1 bkRecord
			if cbor.Unmarshal(v, &r0) != nil || cbor.Unmarshal(after[k], &r1) != nil {
				t.Fatalf("%s: %s is no record", tc.what, k)
			}
			at := bytes.Index(r0.Body, env)
			if at < 0 || len(r0.Body) != len(r1.Body) {
				t.Fatalf("%s: %s: the envelope is not where it was", tc.what, k)
			}
			for i := range r0.Body {
				want := r0.Body[i]
				if i == at+tc.want {
					want ^= 1
				}
				if r1.Body[i] != want {
					t.Fatalf("%s: %s: byte %d is %#x, want %#x", tc.what, k, i, r1.Body[i], want)
				}
			}
			if sum := crc32.Update(crc32.Update(0, castagnoli, []byte{byte(r1.Version), byte(r1.Kind)}), castagnoli, r1.Body); sum != r1.Sum {
				t.Fatalf("%s: %s: record checksum %08x, want %08x", tc.what, k, r1.Sum, sum)
			}
		}
		if len(diffs) != 1 || len(after) != len(before) {
			t.Fatalf("%s: values changed: %v (of %d, now %d)", tc.what, diffs, len(before), len(after))
		}
	}
}
