package main

import (
	"bufio"
	"context"
	"encoding/hex"
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
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"weft/p2p"
)

const syncProtocol = "/weft/sync/1.0.0"

func main() {
	peerAddr := flag.String("peer", "", "the daemon's multiaddr, with /p2p/<id>")
	docID := flag.String("doc", "", "the document's ID (32 hex digits)")
	seed := flag.Uint64("seed", 1, "seed of the random bytes")
	flag.Parse()
	if err := run(*peerAddr, *docID, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
}

// reply is the JSON line answering one command.
type reply struct {
	Ready     bool   `json:"ready,omitempty"`
	TopicPeer string `json:"topic_peer,omitempty"`
	SyncPeer  string `json:"sync_peer,omitempty"`
	Cmd       string `json:"cmd,omitempty"`
	OK        bool   `json:"ok"`
	Bytes     int    `json:"bytes,omitempty"`
	Detail    string `json:"detail,omitempty"`
	Err       string `json:"err,omitempty"`
}

type helper struct {
	doc, other []byte
	docHex     string
	daemon     peer.AddrInfo
	rng        *rand.Rand
	out        *json.Encoder
	topic      *p2p.Topic
	raw        host.Host
	serve      chan serveReq
}

func run(peerAddr, docID string, seed uint64) error {
	doc, err := hex.DecodeString(docID)
	if err != nil || len(doc) != 16 {
		return fmt.Errorf("-doc %q: want 32 hex digits", docID)
	}
	ai, err := peer.AddrInfoFromString(peerAddr)
	if err != nil {
		return fmt.Errorf("-peer %q: %v", peerAddr, err)
	}
	h := &helper{doc: doc, docHex: docID, daemon: *ai, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		out: json.NewEncoder(os.Stdout), serve: make(chan serveReq)}
	h.other = make([]byte, 16)
	for i := range h.other {
		h.other[i] = byte(h.rng.UintN(256))
	}

	dir, err := os.MkdirTemp("", "weft-hostile-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	// The gossip side: weft's own p2p node, allowed to send big messages.
	o := p2p.DefaultOptions()
	o.IdentityFile = filepath.Join(dir, "identity.key")
	o.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	o.MDNS, o.DHT, o.NATTraversal = false, false, false
	o.MaxMessageBytes = 8 << 20
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := p2p.New(ctx, o)
	if err != nil {
		return err
	}
	defer node.Close()
	node.Handle(syncProtocol, h.handleSync)
	if err := node.Connect(ctx, peerAddr); err != nil {
		return err
	}
	if h.topic, err = node.Join("weft/doc/"+docID, func(string, []byte) (any, error) { return nil, nil }); err != nil {
		return err
	}
	for !slices.Contains(h.topic.Peers(), ai.ID.String()) {
		if ctx.Err() != nil {
			return errors.New("the daemon never appeared on the document's topic")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The stream side: a plain libp2p host, to write frames byte by byte.
	if h.raw, err = libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay()); err != nil {
		return err
	}
	defer h.raw.Close()
	if err := h.raw.Connect(ctx, *ai); err != nil {
		return err
	}

	if err := h.out.Encode(reply{Ready: true, OK: true, TopicPeer: node.ID(), SyncPeer: h.raw.ID().String()}); err != nil {
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
		agent := ""
		if len(f) > 2 {
			agent = f[2]
		}
		r := reply{Cmd: strings.Join(f, " ")}
		var detail string
		var n int
		switch {
		case len(f) < 2:
			err = fmt.Errorf("command %q needs a case", f[0])
		case f[0] == "topic":
			n, err = h.publish(f[1], agent)
		case f[0] == "sync":
			detail, err = h.syncCase(f[1], agent)
		case f[0] == "serve":
			detail, err = h.serveCase(f[1], agent)
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

// publish sends one crafted message on the document's topic.
func (h *helper) publish(name, agent string) (int, error) {
	b, err := crafted(name, h.doc, h.other, agent, h.rng)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return len(b), h.topic.Publish(ctx, b)
}
