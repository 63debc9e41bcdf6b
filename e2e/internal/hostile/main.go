package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p"
	lcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"weft/member"
	"weft/p2p"
	"weft/vocab"
)

// syncProtocol is catch-up's stream protocol (replica.SyncProtocol).
const syncProtocol = "/weft/sync/2.0.0"

func main() {
	peerAddr := flag.String("peer", "", "the daemon's multiaddr, with /p2p/<id>")
	docID := flag.String("doc", "", "the document's ID (32 hex digits)")
	seed := flag.Uint64("seed", 1, "seed of the random bytes")
	invite := flag.String("invite", "", "a write invite to the document: the helper's gossip node joins with it")
	readInvite := flag.String("read-invite", "", "a read invite to the document: the helper's stream host joins with it")
	expiredInvite := flag.String("expired-invite", "", "an invite that expires within seconds (optional): the stream host joins with it just before, for the expired cases")
	flag.Parse()
	if err := run(*peerAddr, *docID, *seed, *invite, *readInvite, *expiredInvite); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

// reply is the JSON line answering one command.
type reply struct {
	Ready     bool   `json:"ready,omitempty"`
	TopicPeer string `json:"topic_peer,omitempty"`
	SyncPeer  string `json:"sync_peer,omitempty"`
	Writer    string `json:"writer,omitempty"` // the gossip node's device ID (write member)
	Reader    string `json:"reader,omitempty"` // the stream host's device ID (read member)
	Cmd       string `json:"cmd,omitempty"`
	OK        bool   `json:"ok"`
	Bytes     int    `json:"bytes,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Err       string `json:"err,omitempty"`
}

type helper struct {
	doc, other  vocab.DocID
	daemon      peer.AddrInfo
	daemonAgent string // the daemon's device ID: an agent of its own
	rng         *rand.Rand
	out         *json.Encoder

	topicName string
	route     *member.RouteKey
	keys      *member.Keyring // the document's read secret (from the invites)
	foreign   *member.Keyring // a secret of the same epoch the document never had

	w        signer       // the gossip node's device: a writer
	wChain   member.Chain // root → write invite → w
	r        signer       // the stream host's device: a reader
	rDev     *member.Device
	rChain   member.Chain // root → read invite → r
	expired  member.Chain // root → short invite → r, expired once expiresAt has passed
	expires  int64
	stranger signer // a device no chain names

	node  *p2p.Node
	topic *p2p.Topic
	raw   host.Host
	serve chan serveReq
	valid map[string][]byte // the control envelope sent in each place (for replay)

	// The floods' state (attacks.go).
	presenceSeq uint64
	reservers   []host.Host
}

func run(peerAddr, docID string, seed uint64, invite, readInvite, expiredInvite string) error {
	doc, err := vocab.ParseDocID(docID)
	if err != nil {
		return fmt.Errorf("-doc %q: %v", docID, err)
	}
	ai, err := peer.AddrInfoFromString(peerAddr)
	if err != nil {
		return fmt.Errorf("-peer %q: %v", peerAddr, err)
	}
	h := &helper{doc: doc, daemon: *ai, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		out: json.NewEncoder(os.Stdout), serve: make(chan serveReq), valid: map[string][]byte{}}
	for i := range h.other {
		h.other[i] = byte(h.rng.UintN(256))
	}
	var strangerSeed [ed25519.SeedSize]byte
	for i := range strangerSeed {
		strangerSeed[i] = byte(h.rng.UintN(256))
	}
	h.stranger = newSigner(ed25519.NewKeyFromSeed(strangerSeed[:]))
	dk, err := p2p.PeerKey(ai.ID.String())
	if err != nil {
		return err
	}
	h.daemonAgent = member.AgentOf(dk)
	h.topicName = "weft/doc/" + member.TopicHex(doc)
	if h.route, err = member.NewRouteKey(doc); err != nil {
		return err
	}
	wInv, err := parseInvite("-invite", invite, doc, member.RoleWrite)
	if err != nil {
		return err
	}
	rInv, err := parseInvite("-read-invite", readInvite, doc, member.RoleRead)
	if err != nil {
		return err
	}
	h.keys = member.NewKeyring(doc)
	if err := h.keys.Add(wInv.Epoch, wInv.Secret); err != nil {
		return err
	}
	other, err := member.NewSecret(crand.Reader)
	if err != nil {
		return err
	}
	h.foreign = member.NewKeyring(doc)
	if err := h.foreign.Add(wInv.Epoch, other); err != nil {
		return err
	}

	dir, err := os.MkdirTemp("", "weft-hostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The gossip side: weft's own p2p node, allowed to send big messages.
	// Its identity key is the writer's device key.
	o := p2p.DefaultOptions()
	o.IdentityFile = filepath.Join(dir, "identity.key")
	o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	o.MDNS, o.DHT, o.NATTraversal = false, false, false
	o.MaxMessageBytes = 8 << 20
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if h.node, err = p2p.New(ctx, o); err != nil {
		return err
	}
	defer h.node.Close()
	wKey, err := h.node.DeviceKey()
	if err != nil {
		return err
	}
	h.w = newSigner(wKey)
	wDev, err := member.DeviceFrom(wKey)
	if err != nil {
		return err
	}
	now := time.Now().Unix()
	if h.wChain, err = member.Join(wInv, wDev, member.RoleNone, "hostile writer", now); err != nil {
		return fmt.Errorf("joining with -invite: %v", err)
	}

	// The stream side: a plain libp2p host, to write frames byte by byte.
	// Its identity key is the reader's device key.
	_, rKey, err := ed25519.GenerateKey(crand.Reader)
	if err != nil {
		return err
	}
	h.r = newSigner(rKey)
	if h.rDev, err = member.DeviceFrom(rKey); err != nil {
		return err
	}
	if h.rChain, err = member.Join(rInv, h.rDev, member.RoleNone, "hostile reader", now); err != nil {
		return fmt.Errorf("joining with -read-invite: %v", err)
	}
	if expiredInvite != "" {
		eInv, err := parseInvite("-expired-invite", expiredInvite, doc, member.RoleNone)
		if err != nil {
			return err
		}
		for _, l := range eInv.Chain {
			if l.NotAfter != 0 && (h.expires == 0 || l.NotAfter < h.expires) {
				h.expires = l.NotAfter
			}
		}
		if h.expires == 0 {
			return errors.New("-expired-invite never expires")
		}
		// Joined as of its last valid second: the chain is well made and
		// expires with the invite.
		if h.expired, err = member.Join(eInv, h.rDev, member.RoleNone, "expiring", h.expires); err != nil {
			return fmt.Errorf("joining with -expired-invite: %v", err)
		}
	}

	h.node.Handle(syncProtocol, h.handleSync)
	if err := h.node.Connect(ctx, peerAddr); err != nil {
		return err
	}
	if h.topic, err = h.node.Join(h.topicName, func(string, []byte) (any, error) { return nil, nil }); err != nil {
		return err
	}
	for !slices.Contains(h.topic.Peers(), ai.ID.String()) {
		if ctx.Err() != nil {
			return errors.New("the daemon never appeared on the document's topic")
		}
		time.Sleep(20 * time.Millisecond)
	}
	lk, err := lcrypto.UnmarshalEd25519PrivateKey(rKey)
	if err != nil {
		return err
	}
	if h.raw, err = libp2p.New(libp2p.Identity(lk), libp2p.NoListenAddrs, libp2p.DisableRelay()); err != nil {
		return err
	}
	defer h.raw.Close()
	if err := h.raw.Connect(ctx, *ai); err != nil {
		return err
	}
	if err := h.announce(false); err != nil {
		return err
	}

	if err := h.out.Encode(reply{Ready: true, OK: true, TopicPeer: h.node.ID(), SyncPeer: h.raw.ID().String(), Writer: h.w.id, Reader: h.r.id}); err != nil {
		return err
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		if f[0] == "quit" {
			return nil
		}
		r := reply{Cmd: strings.Join(f, " ")}
		var detail string
		var n int
		switch {
		case f[0] == "announce":
			err = h.announce(true)
		case f[0] == "attack":
			n, detail, err = h.attack(f[1:])
		case len(f) < 2:
			err = fmt.Errorf("command %q needs a case", f[0])
		case f[0] == "topic":
			n, err = h.publish(f[1])
		case f[0] == "sync":
			detail, err = h.syncCase(f[1])
		case f[0] == "serve":
			detail, err = h.serveCase(f[1])
		default:
			err = fmt.Errorf("unknown command %q", f[0])
		}
		r.OK, r.Bytes, r.Detail = err == nil, n, detail
		if err != nil {
			r.Err = err.Error()
		}
		if err := h.out.Encode(r); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// parseInvite reads an invite flag: an invite to doc of role (RoleNone:
// any role).
func parseInvite(flagName, s string, doc vocab.DocID, role member.Role) (*member.Invite, error) {
	if s == "" {
		return nil, fmt.Errorf("%s is required", flagName)
	}
	inv, err := member.ParseInvite(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", flagName, err)
	}
	if inv.Doc() != doc {
		return nil, fmt.Errorf("%s is an invite to %s, not %s", flagName, inv.Doc(), doc)
	}
	if role != member.RoleNone && inv.Role() != role {
		return nil, fmt.Errorf("%s is a %v invite; want %v", flagName, inv.Role(), role)
	}
	if inv.Secret == nil && role.CanRead() {
		return nil, fmt.Errorf("%s carries no read secret", flagName)
	}
	return inv, nil
}

// waitExpired waits until the expiring chain has expired (a chain counts
// through its last second).
func (h *helper) waitExpired() error {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Unix() <= h.expires {
		if time.Now().After(deadline) {
			return fmt.Errorf("the expiring invite has not expired by %v (it expires at %d)", deadline, h.expires)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// announce publishes the writer's and the reader's chains on the topic
// ([3, chain], route-sealed), as members do when they join it. Sealed
// with member's synthetic nonce, an announcement is the same bytes every
// time, which GossipSub drops as seen; again (the announce command) seals
// them with fresh nonces, so that they reach a daemon that lost them.
func (h *helper) announce(again bool) error {
	for _, c := range []member.Chain{h.wChain, h.rChain} {
		var b []byte
		var err error
		if again {
			b, err = routeSealNonce(h.doc, h.topicName, member.Announce(c))
		} else {
			b, err = h.route.Seal(h.topicName, member.Announce(c))
		}
		if err == nil {
			err = h.publishRaw(b)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (h *helper) publishRaw(b []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return h.topic.Publish(ctx, b)
}

// publish sends one crafted message on the document's topic: route-sealed
// unless the case is about the seal.
func (h *helper) publish(name string) (int, error) {
	var b []byte
	var err error
	switch name {
	case "oversized":
		// Just over the daemon's 4 MiB limit, inside GossipSub's wire
		// slack, so the size check (not the RPC reader) refuses it.
		b = bytes.Repeat([]byte{'x'}, 4<<20+1024)
	case "unsealed":
		// A valid envelope in clear.
		b, err = h.crafted("topic", "valid-unsealed")
	case "other-topic":
		// Sealed with the right key for another topic name (the presence
		// topic documents had before they had one topic).
		var pt []byte
		if pt, err = h.crafted("topic", "valid-moved"); err == nil {
			b, err = h.route.Seal("weft/presence/"+member.TopicHex(h.doc), pt)
		}
	case "replay":
		// The control again, sealed with a fresh nonce: new bytes to
		// GossipSub (which drops bytes it has seen), the same envelope to
		// the daemon.
		var pt []byte
		if pt, err = h.crafted("topic", "replay"); err == nil {
			b, err = routeSealNonce(h.doc, h.topicName, pt)
		}
	case "forged-chain", "bad-link-sig", "expired":
		var c member.Chain
		if c, err = h.chainCase(name); err == nil {
			b, err = h.route.Seal(h.topicName, member.Announce(c))
		}
	default:
		var pt []byte
		if pt, err = h.crafted("topic", name); err == nil {
			b, err = h.route.Seal(h.topicName, pt)
		}
	}
	if err != nil {
		return 0, err
	}
	return len(b), h.publishRaw(b)
}
