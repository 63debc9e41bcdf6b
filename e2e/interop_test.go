package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
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

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pb "github.com/libp2p/go-libp2p-pubsub/pb"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/crypto/chacha20poly1305"

	"weft/api"
	"weft/crdt"
	"weft/internal/child"
	"weft/member"
	"weft/vocab"
)

// TestInterop checks weft's networking and members-only formats against an
// independent libp2p implementation: the js-libp2p peer in e2e/interop
// (TCP, Noise, yamux, identify, GossipSub with StrictSign and the SHA-256
// message ID), which reads and writes invites, chains, signed headers,
// sealed payloads and route-sealed gossip with its own code, written from
// docs/members-only.md. With a real daemon it checks that:
//
//   - a document made through the API is members-only (this daemon is its
//     admin) and the daemon makes a write invite for it through the API;
//     the JS peer, given only the invite and the daemon's address, derives
//     the document ID, the topic (not the ID's text) and the read keys,
//     redeems the invite for its own libp2p key (Join) and announces the
//     chain ([3, chain]); Go verifies that chain (role write, leaf = the JS
//     peer's libp2p key) and the daemon lists the JS device as a member;
//   - a transaction the daemon publishes after an edit through the API
//     reaches the JS peer signed by the daemon's peer ID (JS message ID =
//     SHA-256 of the data); the JS peer opens the route seal, verifies the
//     header's signature against the agent's device key (the daemon's),
//     opens the payload, and decodes what Go decodes from the same bytes,
//     and what the edit must produce;
//   - a transaction the JS peer builds (agent = its device ID, seq 0,
//     prev zero, sealed and signed) verifies and opens in Go, its payload
//     is Go's encoding of the same transaction, and the daemon integrates
//     it: its text ends with the JS text, its version vector has the JS
//     device, one more remote transaction;
//   - a route-sealed message with a cut-off header is rejected and
//     counted, changes nothing, and the daemon stays up: its next edit,
//     which builds on the JS transaction, reaches the JS peer and chains to
//     the daemon's previous header (prev);
//   - a second JS peer that knows only the topic name (no invite) receives
//     the same messages and sees ciphertext only: a sealed form of purpose
//     route, epoch 0, no plaintext in it.
//
// The topic and the route seal are computed here from the text of
// docs/members-only.md (interopTopic, interopRouteOpen), as the JS peer
// does; member's test vectors pin both sides to the same bytes.
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
	t.Logf("JS peer %s (device %s), versions %v", ready.Peer, ready.Device, ready.Versions)
	jsKey, err := member.DeviceOf(ready.Device)
	if err != nil || ready.Device != member.AgentOf(jsKey) {
		t.Fatalf("the JS peer's device ID %q: %v", ready.Device, err)
	}
	checkPeerKey(t, ready.Peer, jsKey)

	// A members-only document typed into through the API before the JS
	// peer is there; the daemon's agent belongs to its device.
	node := d.mustStatus(t)
	daemonKey, err := member.DeviceOf(node.Device)
	if err != nil {
		t.Fatalf("the daemon's device ID %q: %v", node.Device, err)
	}
	checkPeerKey(t, d.id(), daemonKey)
	doc := createDocs(t, d, 1, "interop")[0]
	docID, err := vocab.ParseDocID(doc)
	if err != nil {
		t.Fatal(err)
	}
	if st := d.mustDocStatus(t, doc); st.Role != api.RoleAdmin {
		t.Fatalf("a new document's role is %q; want %q (members-only, made here)", st.Role, api.RoleAdmin)
	}
	res := d.mustEdit(t, doc, api.Edit{Pos: 0, Ins: "hello"})
	agent := d.mustDocStatus(t, doc).Agent
	// Six seqs: the title the document was made with, then five letters.
	if !member.OwnsAgent(daemonKey, agent) || res.Version[agent] != 6 {
		t.Fatalf("after typing hello the daemon's agent is %q (device %s) and its version %v", agent, node.Device, res.Version)
	}

	// A write invite, made through the API; Go reads it as the JS peer must.
	var info api.InviteInfo
	ctx, cancel := ctxT()
	err = d.call(ctx, "POST", "/api/docs/"+doc+"/invites", api.InviteRequest{Role: api.RoleWrite, Label: "js peer"}, &info)
	cancel()
	if err != nil {
		t.Fatalf("making an invite: %v", err)
	}
	inv, err := member.ParseInvite(info.Invite)
	if err != nil {
		t.Fatalf("the daemon's invite does not parse: %v\n%s", err, info.Invite)
	}
	if info.Doc != doc || info.Role != api.RoleWrite || inv.Doc() != docID || inv.Role() != member.RoleWrite || inv.Secret == nil {
		t.Fatalf("invite for %s (%s), parsed as %s, role %v, secret %v; want %s, write, a secret", info.Doc, info.Role, inv.Doc(), inv.Role(), inv.Secret != nil, doc)
	}
	ring := member.NewKeyring(docID)
	if err := ring.Add(inv.Epoch, inv.Secret); err != nil {
		t.Fatal(err)
	}
	topic := interopTopic(docID)

	// The JS peer joins with the invite alone.
	js.send(t, map[string]string{"cmd": "join", "addr": d.multiaddr(), "invite": info.Invite})
	joined := js.reply(t, "joined")
	if joined.Remote != d.id() || joined.Mode != "member" || joined.Doc != doc || joined.Topic != topic || joined.Device != ready.Device || joined.Role != api.RoleWrite {
		t.Fatalf("the JS peer joined %s as %s for %s on %q as %s (%s); want %s, member, %s, %q, %s, write",
			joined.Remote, joined.Mode, joined.Doc, joined.Topic, joined.Device, joined.Role, d.id(), doc, topic, ready.Device)
	}
	if !slices.ContainsFunc(joined.Protocols, func(p string) bool { return strings.HasPrefix(p, "/meshsub/") }) {
		t.Fatalf("no GossipSub stream between the JS peer and the daemon; protocols %v", joined.Protocols)
	}
	if joined.Announced == nil || !slices.Contains(joined.Announced.Recipients, d.id()) {
		t.Fatalf("the JS peer's chain announcement did not go to the daemon: %+v", joined.Announced)
	}
	t.Logf("connected; streams %v", joined.Protocols)
	checkJoinedChain(t, joined, inv, jsKey)
	checkAnnouncement(t, joined.Announced.Data, docID, topic, joined.Chain)
	waitFor(t, interopTimeout*slow, "the daemon to see the JS peer on the topic and list it as a writer", func() (bool, string) {
		st := d.mustDocStatus(t, doc)
		var ms []api.MemberInfo
		ctx, cancel := ctxT()
		err := d.call(ctx, "GET", "/api/docs/"+doc+"/members", nil, &ms)
		cancel()
		listed := slices.ContainsFunc(ms, func(m api.MemberInfo) bool {
			return m.Device == ready.Device && m.Role == api.RoleWrite && !m.Invite && !m.Removed
		})
		return slices.Contains(st.Peers, ready.Peer) && listed, fmt.Sprintf("topic peers %v, members %+v (%v)", st.Peers, ms, err)
	})

	// A stranger: a second JS peer that knows the topic name only.
	stranger := startInteropPeer(t, nodeBin, dir)
	sready := stranger.reply(t, "ready")
	stranger.send(t, map[string]string{"cmd": "join", "addr": d.multiaddr(), "topic": topic})
	if sj := stranger.reply(t, "joined"); sj.Mode != "observer" || sj.Remote != d.id() {
		t.Fatalf("the stranger joined %s as %s", sj.Remote, sj.Mode)
	}
	waitFor(t, interopTimeout*slow, "the daemon to see the stranger on the topic", func() (bool, string) {
		st := d.mustDocStatus(t, doc)
		return slices.Contains(st.Peers, sready.Peer), fmt.Sprintf("topic peers %v", st.Peers)
	})

	// The daemon's transaction, as the JS peer verified and opened it.
	d.mustEdit(t, doc, api.Edit{Pos: 5, Ins: " world"})
	m := js.message(t, func(e interopEvent) bool {
		return e.Header != nil && e.Header.Agent == agent && e.Header.Seq == 6
	})
	self := &interopID{Agent: agent, Seq: 5}
	daemonHeader := checkInteropMessage(t, m, d.id(), docID, topic, ring, interopTxn{
		Agent: agent, Seq: 6, Parents: []interopID{*self},
		Ops: []interopOp{{Kind: "insert", Text: " world", Left: self}},
	})
	// The stranger got the same bytes and could read nothing.
	sm := stranger.message(t, func(e interopEvent) bool { return e.MsgID == m.MsgID })
	checkCiphertextOnly(t, sm, m.Data, " world", agent)

	// The JS peer's transaction: an insert at the end, on the daemon's
	// version, which the daemon integrates.
	before := counters(t, d)
	jsText := " from js 🚀"
	js.send(t, map[string]string{"cmd": "append", "text": jsText})
	pub := js.reply(t, "published")
	if !slices.Contains(pub.Recipients, d.id()) {
		t.Fatalf("the JS peer published to %v, not to the daemon %s", pub.Recipients, d.id())
	}
	top := &interopID{Agent: agent, Seq: 11}
	want := interopTxn{Agent: ready.Device, Seq: 0, Parents: []interopID{*top}, Ops: []interopOp{{Kind: "insert", Text: jsText, Left: top}}}
	if got, w := interopJSON(pub.Txn), interopJSON(&want); got != w {
		t.Fatalf("the JS peer built\n %s\nwant\n %s", got, w)
	}
	checkJSTransaction(t, pub, docID, topic, ring)
	n := uint64(utf8.RuneCountInString(jsText))
	waitFor(t, interopTimeout*slow, "the daemon to integrate the JS peer's transaction", func() (bool, string) {
		st, text := d.mustDocStatus(t, doc), d.mustText(t, doc)
		return text == "hello world"+jsText && st.Version[ready.Device] == n && st.Buffered == 0,
			fmt.Sprintf("text %q, version %v, %d buffered", text, st.Version, st.Buffered)
	})
	if after := counters(t, d); after.Replica.RemoteTxns != before.Replica.RemoteTxns+1 {
		t.Errorf("remote transactions went from %d to %d; want one more", before.Replica.RemoteTxns, after.Replica.RemoteTxns)
	}

	// A signed, route-sealed message whose header is cut off: rejected,
	// counted once (by the network layer, under the validator's reason),
	// nothing changes.
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
	// peer's transaction, reaches the JS peer and names the daemon's
	// previous header as prev.
	d.mustEdit(t, doc, api.Edit{Pos: 11 + int(n), Ins: "!"})
	m = js.message(t, func(e interopEvent) bool {
		return e.Header != nil && e.Header.Agent == agent && e.Header.Seq == 12
	})
	jsTop := &interopID{Agent: ready.Device, Seq: n - 1}
	next := checkInteropMessage(t, m, d.id(), docID, topic, ring, interopTxn{
		Agent: agent, Seq: 12, Parents: []interopID{*jsTop},
		Ops: []interopOp{{Kind: "insert", Text: "!", Left: jsTop}},
	})
	if next.Prev != daemonHeader.Hash() || !m.PrevChecked {
		t.Fatalf("the daemon's header at 11 names prev %x (checked by the JS peer: %v); its header at 5 hashes to %x", next.Prev, m.PrevChecked, daemonHeader.Hash())
	}

	js.quit(t)
	stranger.quit(t)
	if !d.isRunning() {
		t.Fatal("the daemon exited")
	}
	t.Logf("the exchange took %s", time.Since(start).Round(time.Millisecond))
}

// TestInteropMemberFormats checks the JS peer's members-only codec and
// plumbing against Go's member package over go-libp2p, without a daemon:
// the Go side here plays the document's writer with member's own code
// (NewDocument, NewInvite, Issue, SealPayload, Header.Sign), and seals
// gossip with the route seal as docs/members-only.md writes it. It runs
// before the replica is wired for members-only documents, and keeps
// checking the formats (not the replica) after. It checks that the JS
// peer, given only the invite and the Go host's address:
//
//   - finds the topic, redeems the invite for its libp2p key, and
//     announces a chain that Go verifies (received over gossip);
//   - verifies and opens Go's announcement and Go's signed, sealed
//     transactions (the second chained to the first by prev);
//   - builds a transaction that Go verifies and opens, and the same bytes
//     arrive through go-libp2p's GossipSub;
//   - while a peer with the topic name only gets ciphertext.
func TestInteropMemberFormats(t *testing.T) {
	nodeBin := interopNode(t)
	dir, err := filepath.Abs("interop")
	if err != nil {
		t.Fatal(err)
	}
	interopNpmCI(t, dir)

	// The document, its writer (this host's key) and a write invite.
	d, err := member.NewDocument(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dev, err := member.DeviceFrom(priv)
	if err != nil {
		t.Fatal(err)
	}
	wl, err := member.Issue(d.Key, d.ID, nil, member.Grant{Role: member.RoleWrite, Subject: dev.Public(), Box: dev.BoxPublic(), Label: "go host"})
	if err != nil {
		t.Fatal(err)
	}
	writerChain := member.Chain{wl}
	inv, err := member.NewInvite(rand.Reader, d.Key, nil, d.Public, member.InviteGrant{Role: member.RoleWrite, Label: "js peer", NotAfter: time.Now().Add(time.Hour).Unix()}, 0, &d.Secret)
	if err != nil {
		t.Fatal(err)
	}
	ring := member.NewKeyring(d.ID)
	if err := ring.Add(0, &d.Secret); err != nil {
		t.Fatal(err)
	}
	topicName := interopTopic(d.ID)

	// The Go host: GossipSub as weft's p2p runs it.
	lkey, err := lcrypto.UnmarshalEd25519PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	h, err := libp2p.New(libp2p.Identity(lkey), libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithMessageIdFn(func(m *pb.Message) string { s := sha256.Sum256(m.Data); return string(s[:]) }),
		pubsub.WithFloodPublish(true))
	if err != nil {
		t.Fatal(err)
	}
	topic, err := ps.Join(topicName)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := topic.Subscribe()
	if err != nil {
		t.Fatal(err)
	}
	received := make(chan *pubsub.Message, 16)
	go func() {
		for {
			m, err := sub.Next(ctx)
			if err != nil {
				return
			}
			if m.ReceivedFrom != h.ID() {
				received <- m
			}
		}
	}()
	next := func(what string) *pubsub.Message {
		t.Helper()
		select {
		case m := <-received:
			return m
		case <-time.After(interopTimeout * slow):
			t.Fatalf("no %s reached the Go host in %s", what, interopTimeout*slow)
		}
		panic("unreachable")
	}
	addr := h.Addrs()[0].String() + "/p2p/" + h.ID().String()
	routeSeal := func(plain []byte) []byte {
		key, err := hkdf.Key(sha256.New, d.ID[:], d.ID[:], "weft/member/v1/seal-keys/route/0", chacha20poly1305.KeySize)
		if err != nil {
			t.Fatal(err)
		}
		aead, err := chacha20poly1305.NewX(key)
		if err != nil {
			t.Fatal(err)
		}
		out := []byte{1, 5, 0}
		nonce := make([]byte, chacha20poly1305.NonceSizeX)
		_, _ = rand.Read(nonce)
		out = append(out, nonce...)
		return aead.Seal(out, nonce, plain, append([]byte{1, 5, 0}, topicName...))
	}
	publish := func(kind int, fields ...[]byte) []byte {
		t.Helper()
		w := []any{kind}
		for _, f := range fields {
			w = append(w, f)
		}
		plain, err := cbor.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		data := routeSeal(plain)
		if err := topic.Publish(ctx, data); err != nil {
			t.Fatal(err)
		}
		return data
	}
	agent := member.AgentOf(dev.Public())
	var prev [32]byte
	publishTxn := func(txn *crdt.Txn) ([]byte, *member.Header) {
		t.Helper()
		plain, err := crdt.EncodeTxn(txn)
		if err != nil {
			t.Fatal(err)
		}
		hd := &member.Header{Doc: d.ID, Header: vocab.Header{Agent: txn.Agent, Seq: txn.Seq, Len: uint64(txn.Count()), Parents: slices.Clone(txn.Parents)}, Prev: prev}
		if hd.Parents == nil {
			hd.Parents = []vocab.ID{}
		}
		sealed, err := member.SealPayload(ring, rand.Reader, hd, plain)
		if err != nil {
			t.Fatal(err)
		}
		if err := hd.Sign(dev.Sign); err != nil {
			t.Fatal(err)
		}
		prev = hd.Hash()
		return publish(2, hd.Marshal(), sealed), hd
	}

	// The JS peer joins with the invite alone; its announcement arrives.
	js := startInteropPeer(t, nodeBin, dir)
	ready := js.reply(t, "ready")
	jsKey, err := member.DeviceOf(ready.Device)
	if err != nil {
		t.Fatal(err)
	}
	checkPeerKey(t, ready.Peer, jsKey)
	js.send(t, map[string]string{"cmd": "join", "addr": addr, "invite": inv.String()})
	joined := js.reply(t, "joined")
	if joined.Mode != "member" || joined.Doc != d.ID.String() || joined.Topic != topicName || joined.Remote != h.ID().String() {
		t.Fatalf("the JS peer joined %s as %s for %s on %q; want %s, member, %s, %q", joined.Remote, joined.Mode, joined.Doc, joined.Topic, h.ID(), d.ID, topicName)
	}
	checkJoinedChain(t, joined, inv, jsKey)
	ann := next("announcement")
	if ann.ReceivedFrom.String() != ready.Peer || !bytes.Equal(ann.Data, joined.Announced.Data) {
		t.Fatalf("the Go host received %d bytes from %s; want the JS peer's announcement", len(ann.Data), ann.ReceivedFrom)
	}
	checkAnnouncement(t, ann.Data, d.ID, topicName, joined.Chain)
	waitFor(t, interopTimeout*slow, "the Go host to see the JS peer on the topic", func() (bool, string) {
		return slices.Contains(topic.ListPeers(), peer.ID(ann.ReceivedFrom)), fmt.Sprintf("topic peers %v", topic.ListPeers())
	})

	// A stranger that knows the topic name only.
	stranger := startInteropPeer(t, nodeBin, dir)
	sready := stranger.reply(t, "ready")
	stranger.send(t, map[string]string{"cmd": "join", "addr": addr, "topic": topicName})
	stranger.reply(t, "joined")
	sid, err := peer.Decode(sready.Peer)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, interopTimeout*slow, "the Go host to see the stranger on the topic", func() (bool, string) {
		return slices.Contains(topic.ListPeers(), sid), fmt.Sprintf("topic peers %v", topic.ListPeers())
	})

	// Go's announcement, then its first transaction: "hello".
	publish(3, writerChain.Marshal())
	m := js.message(t, func(e interopEvent) bool { return e.Kind == 3 })
	if m.Error != "" || m.Member == nil || m.Member.Device != agent || m.Member.Role != api.RoleWrite || m.Member.Label != "go host" {
		t.Fatalf("the JS peer read Go's announcement as %+v (%s)", m.Member, m.Error)
	}
	data, _ := publishTxn(&crdt.Txn{Agent: agent, Seq: 0, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "hello"}}})
	m = js.message(t, func(e interopEvent) bool { return e.Header != nil && e.Header.Seq == 0 })
	first := checkInteropMessage(t, m, h.ID().String(), d.ID, topicName, ring, interopTxn{
		Agent: agent, Seq: 0, Parents: []interopID{}, Ops: []interopOp{{Kind: "insert", Text: "hello"}},
	})
	if m.Writer != api.RoleWrite || m.PrevChecked {
		t.Fatalf("the JS peer took Go's first transaction as from a %q (prev checked: %v); want write, nothing to check", m.Writer, m.PrevChecked)
	}
	sm := stranger.message(t, func(e interopEvent) bool { return bytes.Equal(e.Data, data) })
	checkCiphertextOnly(t, sm, data, "hello", agent)

	// The JS peer's transaction, through go-libp2p to Go's member code.
	jsText := " from js 🚀"
	js.send(t, map[string]string{"cmd": "append", "text": jsText})
	pub := js.reply(t, "published")
	top := &interopID{Agent: agent, Seq: 4}
	want := interopTxn{Agent: ready.Device, Seq: 0, Parents: []interopID{*top}, Ops: []interopOp{{Kind: "insert", Text: jsText, Left: top}}}
	if got, w := interopJSON(pub.Txn), interopJSON(&want); got != w {
		t.Fatalf("the JS peer built\n %s\nwant\n %s", got, w)
	}
	got := next("JS transaction")
	if !bytes.Equal(got.Data, pub.Data) || got.ReceivedFrom.String() != ready.Peer {
		t.Fatalf("the Go host received other bytes than the JS peer published")
	}
	checkJSTransaction(t, pub, d.ID, topicName, ring)

	// Go's next transaction, on the JS one, chained to its first by prev.
	n := uint64(utf8.RuneCountInString(jsText))
	jsTop := crdt.ID{Agent: ready.Device, Seq: n - 1}
	publishTxn(&crdt.Txn{Agent: agent, Seq: 5, Parents: []crdt.ID{jsTop}, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "!", Left: jsTop}}})
	m = js.message(t, func(e interopEvent) bool { return e.Header != nil && e.Header.Seq == 5 })
	second := checkInteropMessage(t, m, h.ID().String(), d.ID, topicName, ring, interopTxn{
		Agent: agent, Seq: 5, Parents: []interopID{{Agent: ready.Device, Seq: n - 1}},
		Ops: []interopOp{{Kind: "insert", Text: "!", Left: &interopID{Agent: ready.Device, Seq: n - 1}}},
	})
	if second.Prev != first.Hash() || !m.PrevChecked {
		t.Fatalf("Go's second header: prev %x, checked by the JS peer: %v; want %x", second.Prev, m.PrevChecked, first.Hash())
	}

	js.quit(t)
	stranger.quit(t)
}

// interopTopic is a document's transaction topic as docs/members-only.md
// writes it: "weft/doc/" and the hex of the first 16 bytes of
// SHA-256("weft/member/v1/topic\0" ‖ ID).
func interopTopic(doc vocab.DocID) string {
	sum := sha256.Sum256(append([]byte("weft/member/v1/topic\x00"), doc[:]...))
	return "weft/doc/" + hex.EncodeToString(sum[:16])
}

// interopRouteOpen opens a route-sealed gossip message as
// docs/members-only.md writes it: the sealed form, purpose 5 (route),
// epoch 0, XChaCha20-Poly1305 under HKDF-SHA256(ID, salt ID,
// "weft/member/v1/seal-keys/route/0"), associated data the form's prefix
// and the topic name.
func interopRouteOpen(t *testing.T, doc vocab.DocID, topic string, data []byte) []byte {
	t.Helper()
	prefix := []byte{1, 5, 0}
	if len(data) < len(prefix)+chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead || !bytes.Equal(data[:3], prefix) {
		t.Fatalf("gossip data is not a route-sealed form (version 1, purpose 5, epoch 0): %x…", data[:min(len(data), 8)])
	}
	key, err := hkdf.Key(sha256.New, doc[:], doc[:], "weft/member/v1/seal-keys/route/0", chacha20poly1305.KeySize)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		t.Fatal(err)
	}
	nonce := data[3 : 3+chacha20poly1305.NonceSizeX]
	plain, err := aead.Open(nil, nonce, data[3+chacha20poly1305.NonceSizeX:], append(slices.Clone(prefix), topic...))
	if err != nil {
		t.Fatalf("the route seal does not open with the document's route key on topic %s: %v", topic, err)
	}
	return plain
}

// interopGossip decodes a route-opened gossip message: [2, header,
// payload] or [3, chain].
func interopGossip(t *testing.T, plain []byte) (kind uint64, fields [][]byte) {
	t.Helper()
	var w []cbor.RawMessage
	if err := cbor.Unmarshal(plain, &w); err != nil || len(w) < 2 {
		t.Fatalf("gossip message %x is not a CBOR array of a kind and fields: %v", plain, err)
	}
	if err := cbor.Unmarshal(w[0], &kind); err != nil {
		t.Fatalf("gossip message kind: %v", err)
	}
	for _, raw := range w[1:] {
		var b []byte
		if err := cbor.Unmarshal(raw, &b); err != nil {
			t.Fatalf("gossip message field: %v", err)
		}
		fields = append(fields, b)
	}
	return kind, fields
}

// checkPeerKey checks that a libp2p peer ID is the Ed25519 key pub: the
// device key is the libp2p identity key.
func checkPeerKey(t *testing.T, peerID string, pub ed25519.PublicKey) {
	t.Helper()
	id, err := peer.Decode(peerID)
	if err != nil {
		t.Fatalf("peer ID %q: %v", peerID, err)
	}
	k, err := id.ExtractPublicKey()
	if err != nil {
		t.Fatalf("peer ID %q carries no key: %v", peerID, err)
	}
	raw, err := k.Raw()
	if err != nil || k.Type() != lcrypto.Ed25519 || !bytes.Equal(raw, pub) {
		t.Fatalf("peer %s's key is %v %x; its device key is %x", peerID, k.Type(), raw, []byte(pub))
	}
}

// checkJoinedChain verifies, in Go, the chain the JS peer made by
// redeeming the invite: the invite's chain and one link to the JS peer's
// key (its libp2p key), of the invite's role.
func checkJoinedChain(t *testing.T, joined interopEvent, inv *member.Invite, jsKey ed25519.PublicKey) {
	t.Helper()
	c, err := member.ParseChain(joined.Chain)
	if err != nil {
		t.Fatalf("the JS peer's chain does not parse: %v", err)
	}
	m, err := member.Verify(c, inv.DocKey, time.Now().Unix())
	if err != nil {
		t.Fatalf("the JS peer's chain does not verify: %v", err)
	}
	if len(c) != len(inv.Chain)+1 || !bytes.Equal(c[:len(inv.Chain)].Marshal(), inv.Chain.Marshal()) {
		t.Fatalf("the JS peer's chain of %d links is not the invite's %d and one", len(c), len(inv.Chain))
	}
	if m.Role != member.RoleWrite || !m.Subject.Equal(jsKey) || m.Label != "js-peer" || len(m.Box) != member.PublicKeySize {
		t.Fatalf("the JS peer's chain grants %v to %x (%q, box %x); want write to %x", m.Role, []byte(m.Subject), m.Label, m.Box, []byte(jsKey))
	}
}

// checkAnnouncement opens the JS peer's announcement: [3, its chain].
func checkAnnouncement(t *testing.T, data []byte, doc vocab.DocID, topic string, chain []byte) {
	t.Helper()
	kind, f := interopGossip(t, interopRouteOpen(t, doc, topic, data))
	if kind != 3 || len(f) != 1 || !bytes.Equal(f[0], chain) {
		t.Fatalf("the JS peer announced kind %d with %d fields; want [3, its chain]", kind, len(f))
	}
}

// checkInteropMessage checks a transaction the JS peer received from the
// daemon: signed by the daemon, the JS router's message ID is SHA-256 of the
// data, the JS peer verified it, and its reading equals Go's reading of the
// same bytes and want. It returns the header as Go read it.
func checkInteropMessage(t *testing.T, m interopEvent, daemonID string, doc vocab.DocID, topic string, ring *member.Keyring, want interopTxn) *member.Header {
	t.Helper()
	if m.Error != "" || !m.Verified || m.Kind != 2 {
		t.Fatalf("the JS peer did not verify and open the daemon's message (kind %d, verified %v): %s", m.Kind, m.Verified, m.Error)
	}
	if !m.Signed || m.From != daemonID {
		t.Fatalf("the daemon's message reached the JS peer signed=%v from %q; want signed by %s", m.Signed, m.From, daemonID)
	}
	if sum := sha256.Sum256(m.Data); m.MsgID != hex.EncodeToString(sum[:]) {
		t.Fatalf("the JS router's message ID is %s; weft's is SHA-256 of the data, %x", m.MsgID, sum)
	}
	// Go's reading of the same bytes.
	kind, f := interopGossip(t, interopRouteOpen(t, doc, topic, m.Data))
	if kind != 2 || len(f) != 2 {
		t.Fatalf("the daemon published kind %d with %d fields; want [2, header, payload]", kind, len(f))
	}
	h, txn := interopOpen(t, "the daemon's", f[0], f[1], doc, ring)
	if got, w := interopJSON(m.Header), interopJSON(interopHeaderOf(h)); got != w {
		t.Fatalf("the JS peer read the header as\n %s\nGo as\n %s", got, w)
	}
	if got, w := interopJSON(m.Txn), interopJSON(interopTxnOf(txn)); got != w {
		t.Fatalf("the JS peer decoded the transaction as\n %s\nGo as\n %s", got, w)
	}
	if got, w := interopJSON(m.Txn), interopJSON(&want); got != w {
		t.Fatalf("the daemon published\n %s\nwant\n %s", got, w)
	}
	return h
}

// interopOpen reads a signed header and its sealed payload in Go: for doc,
// signed by its agent's device, the payload the header names, opened with
// the invite's secret, a transaction that agrees with the header.
func interopOpen(t *testing.T, whose string, header, payload []byte, doc vocab.DocID, ring *member.Keyring) (*member.Header, *crdt.Txn) {
	t.Helper()
	h, err := member.ParseHeader(header, doc)
	if err != nil {
		t.Fatalf("%s header does not parse in Go: %v", whose, err)
	}
	if err := h.Verify(); err != nil {
		t.Fatalf("%s header does not verify in Go: %v", whose, err)
	}
	plain, err := member.OpenPayload(ring, h, payload)
	if err != nil {
		t.Fatalf("%s payload does not open in Go: %v", whose, err)
	}
	txn, err := crdt.DecodeTxn(plain)
	if err != nil {
		t.Fatalf("%s transaction does not decode in Go: %v", whose, err)
	}
	if txn.Agent != h.Agent || txn.Seq != h.Seq || uint64(txn.Count()) != h.Len {
		t.Fatalf("%s header %s/%d+%d disagrees with its transaction %s/%d+%d", whose, h.Agent, h.Seq, h.Len, txn.Agent, txn.Seq, txn.Count())
	}
	again, err := crdt.EncodeTxn(txn)
	if err != nil || !bytes.Equal(again, plain) {
		t.Fatalf("%s transaction encodes in Go as\n %x\nnot as sealed\n %x (%v)", whose, again, plain, err)
	}
	return h, txn
}

// checkJSTransaction reads the JS peer's transaction in Go: the published
// data opens to [2, header, payload], the header is the first of the JS
// device's agent (seq 0, prev zero) and verifies, and the payload opens
// to Go's encoding of the transaction the JS peer says it built.
func checkJSTransaction(t *testing.T, pub interopEvent, doc vocab.DocID, topic string, ring *member.Keyring) {
	t.Helper()
	kind, f := interopGossip(t, interopRouteOpen(t, doc, topic, pub.Data))
	if kind != 2 || len(f) != 2 || !bytes.Equal(f[0], pub.HeaderBytes) || !bytes.Equal(f[1], pub.Payload) {
		t.Fatalf("the JS peer published kind %d with %d fields; want [2, its header, its payload]", kind, len(f))
	}
	h, txn := interopOpen(t, "the JS peer's", f[0], f[1], doc, ring)
	if h.Seq != 0 || h.Prev != ([32]byte{}) || h.Epoch != 0 {
		t.Fatalf("the JS peer's first header: seq %d, prev %x, epoch %d", h.Seq, h.Prev, h.Epoch)
	}
	if got, w := interopJSON(pub.Header), interopJSON(interopHeaderOf(h)); got != w {
		t.Fatalf("the JS peer reports its header as\n %s\nGo reads\n %s", got, w)
	}
	if got, w := interopJSON(pub.Txn), interopJSON(interopTxnOf(txn)); got != w {
		t.Fatalf("the JS peer built\n %s\nGo opens\n %s", got, w)
	}
}

// checkCiphertextOnly checks what a peer knowing only the topic saw of a
// message: the same bytes, a route-sealed form it cannot open, with none
// of the plaintext (text, agent) in clear.
func checkCiphertextOnly(t *testing.T, m interopEvent, data []byte, text, agent string) {
	t.Helper()
	if !bytes.Equal(m.Data, data) {
		t.Fatal("the stranger received other bytes than the member")
	}
	if m.Sealed == nil || m.Sealed.Purpose != 5 || m.Sealed.Epoch != 0 || !strings.Contains(m.Error, "no route key") {
		t.Fatalf("the stranger saw sealed=%+v, error %q; want a route-sealed form it cannot open", m.Sealed, m.Error)
	}
	if bytes.Contains(data, []byte(text)) || bytes.Contains(data, []byte(agent)) {
		t.Fatalf("the gossip data shows %q or the agent %q in clear", text, agent)
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

type interopHeader struct {
	Doc         string      `json:"doc"`
	Agent       string      `json:"agent"`
	Seq         uint64      `json:"seq"`
	Len         uint64      `json:"len"`
	Parents     []interopID `json:"parents"`
	Epoch       uint64      `json:"epoch"`
	PayloadHash string      `json:"payloadHash"`
	Prev        string      `json:"prev"`
	Signed      bool        `json:"signed"`
}

type interopMember struct {
	Device string `json:"device"`
	Role   string `json:"role"`
	Label  string `json:"label"`
	Links  int    `json:"links"`
}

type interopSealed struct {
	Purpose int    `json:"purpose"`
	Epoch   uint64 `json:"epoch"`
	Bytes   int    `json:"bytes"`
}

type interopPublished struct {
	MsgID      string   `json:"msgId"`
	Data       []byte   `json:"data"` // base64 in the JSON
	Recipients []string `json:"recipients"`
}

// interopEvent is any line the JS peer prints (README.md lists them).
type interopEvent struct {
	Event    string            `json:"event"`
	Peer     string            `json:"peer"`
	Device   string            `json:"device"`
	Versions map[string]string `json:"versions"`
	// joined
	Mode      string            `json:"mode"`
	Remote    string            `json:"remote"`
	Topic     string            `json:"topic"`
	Protocols []string          `json:"protocols"`
	Doc       string            `json:"doc"`
	Role      string            `json:"role"`
	Chain     []byte            `json:"chain"`
	Announced *interopPublished `json:"announced"`
	// message
	From        string         `json:"from"`
	Signed      bool           `json:"signed"`
	Kind        int            `json:"kind"`
	Header      *interopHeader `json:"header"`
	Member      *interopMember `json:"member"`
	Writer      string         `json:"writer"`
	Verified    bool           `json:"verified"`
	PrevChecked bool           `json:"prevChecked"`
	Sealed      *interopSealed `json:"sealed"`
	Txn         *interopTxn    `json:"txn"`
	// message and published
	MsgID string `json:"msgId"`
	Data  []byte `json:"data"` // base64 in the JSON
	// published
	Recipients  []string `json:"recipients"`
	HeaderBytes []byte   `json:"headerBytes"`
	Payload     []byte   `json:"payload"`
	// error
	Cmd   string `json:"cmd"`
	Error string `json:"error"`
}

func interopHeaderOf(h *member.Header) *interopHeader {
	out := &interopHeader{Doc: h.Doc.String(), Agent: h.Agent, Seq: h.Seq, Len: h.Len, Parents: make([]interopID, 0, len(h.Parents)),
		Epoch: h.Epoch, PayloadHash: hex.EncodeToString(h.PayloadHash[:]), Prev: hex.EncodeToString(h.Prev[:]), Signed: len(h.Sig) == ed25519.SignatureSize}
	for _, p := range h.Parents {
		out.Parents = append(out.Parents, interopID{Agent: p.Agent, Seq: p.Seq})
	}
	return out
}

func interopTxnOf(t *crdt.Txn) *interopTxn {
	id := func(x crdt.ID) *interopID {
		if x.IsZero() {
			return nil
		}
		return &interopID{Agent: x.Agent, Seq: x.Seq}
	}
	out := &interopTxn{Agent: t.Agent, Seq: t.Seq, Parents: make([]interopID, 0, len(t.Parents))}
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
// messages before it must decode too (except for an observer, which
// decodes nothing).
func (p *interopPeer) message(t *testing.T, match func(interopEvent) bool) interopEvent {
	t.Helper()
	deadline := time.After(interopTimeout)
	for {
		select {
		case e := <-p.messages:
			if match(e) {
				return e
			}
			if e.Error != "" && e.Mode != "observer" {
				t.Fatalf("the JS peer could not read a message from %s: %s", e.From, e.Error)
			}
			switch {
			case e.Header != nil:
				t.Logf("the JS peer also received %s/%d", e.Header.Agent, e.Header.Seq)
			case e.Member != nil:
				t.Logf("the JS peer also received the announcement of %s (%s, %q)", e.Member.Device, e.Member.Role, e.Member.Label)
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
