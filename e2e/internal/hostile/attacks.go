package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/libp2p/go-libp2p/p2p/protocol/circuitv2/client"

	"google.golang.org/protobuf/proto"

	"weft/crdt"
	"weft/member"
	"weft/vocab"
	"weft/wire"
)

// The floods of the hostile-bounds suite (e2e/hostile_bounds_test.go):
// each runs for a given time, as fast as this process can send, and
// counts the bytes it sent. They are kept apart from the crafted single
// cases (main.go, craft.go, sync.go) and use the document's one topic as
// main.go names it.
//
//	attack overlap-seed N      publish one transaction of N code points
//	                           by agent <writer>.ovl (the run the overlap
//	                           flood contradicts); detail: the agent
//	attack overlap MS N        for MS ms, transactions {<writer>.ovl,
//	                           seq 0, delete <writer>.ovl/0 len N-k}, k = 0,
//	                           1, …: each repeats the known run with a
//	                           contradicting delete, each a new message
//	attack invalid MS          for MS ms, invalid gossip: random bytes
//	                           (unsealed, undecodable), sealed garbage and
//	                           envelopes with a flipped signature bit
//	attack forged MS           for MS ms, from a fresh libp2p host,
//	                           GossipSub messages on the document's topic
//	                           whose author signature is random bytes
//	                           (raw RPCs: GossipSub refuses them before
//	                           weft's validator sees them)
//	attack corpus MS DIR…      for MS ms, every []byte and string input of
//	                           the Go fuzz corpus files under the DIRs
//	                           (the committed corpora of weft's decoder
//	                           fuzzers), in turn: as gossip (route-sealed
//	                           with a fresh nonce, so the validator's
//	                           decoders get it), as a writer's signed,
//	                           sealed transaction payload (so the
//	                           transaction decoder gets it), and as the
//	                           first frame of a catch-up stream
//	attack probe NAME          publish one valid transaction by agent
//	                           <writer>.NAME (is the helper still heard?)
//	attack sync MS K           for MS ms, K catch-up streams of each kind
//	                           held open: a full handshake and hello{}
//	                           whose answer is never read, an open stream
//	                           that stays silent, and a frame header
//	                           announcing 4 MiB followed by a byte every
//	                           100 ms
//	attack pending MS          for MS ms, transactions made on an
//	                           operation nobody has (orphans)
//	attack subs MS N           from a fresh libp2p host, N subscriptions
//	                           to random topic names (raw GossipSub RPCs),
//	                           held for MS ms
//	attack presence MS         for MS ms, presence records of agent
//	                           <writer>.pres on the document's topic
//	                           (kind 8), each with the next seq
//	attack reserve ADDR N      N fresh libp2p hosts (strangers) each ask
//	                           the relay at ADDR for a circuit reservation;
//	                           detail: how many were granted. The hosts
//	                           stay up until "attack release".
//	attack release             close the reserve hosts
//
// Every answer's bytes is what the flood wrote (the payloads it handed to
// GossipSub or the stream bytes it wrote; libp2p's own framing and
// encryption are not counted); detail is "key=value" pairs.

// attack runs one flood command (the words after "attack").
func (h *helper) attack(args []string) (int, string, error) {
	if len(args) == 0 {
		return 0, "", errors.New("attack needs a kind")
	}
	num := func(i int) (int, error) {
		if len(args) <= i {
			return 0, fmt.Errorf("attack %s needs %d arguments", args[0], i)
		}
		n, err := strconv.Atoi(args[i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("attack %s: argument %q is not a count", args[0], args[i])
		}
		return n, nil
	}
	dur := func() (time.Duration, error) {
		n, err := num(1)
		return time.Duration(n) * time.Millisecond, err
	}
	switch args[0] {
	case "overlap-seed":
		n, err := num(1)
		if err != nil {
			return 0, "", err
		}
		return h.overlapSeed(n)
	case "overlap":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		n, err := num(2)
		if err != nil {
			return 0, "", err
		}
		return h.overlapFlood(d, n)
	case "invalid":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		return h.invalidFlood(d)
	case "forged":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		return h.forgedFlood(d)
	case "corpus":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		if len(args) < 3 {
			return 0, "", errors.New("attack corpus needs corpus directories")
		}
		return h.corpusFlood(d, args[2:])
	case "probe":
		if len(args) < 2 {
			return 0, "", errors.New("attack probe needs a name")
		}
		return h.probe(args[1])
	case "sync":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		k, err := num(2)
		if err != nil {
			return 0, "", err
		}
		return h.syncFlood(d, k)
	case "pending":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		return h.pendingFlood(d)
	case "subs":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		n, err := num(2)
		if err != nil {
			return 0, "", err
		}
		return h.subsFlood(d, n)
	case "presence":
		d, err := dur()
		if err != nil {
			return 0, "", err
		}
		return h.presenceFlood(d)
	case "reserve":
		if len(args) < 3 {
			return 0, "", errors.New("attack reserve needs a relay address and a count")
		}
		n, err := num(2)
		if err != nil {
			return 0, "", err
		}
		return h.reserve(args[1], n)
	case "release":
		for _, r := range h.reservers {
			_ = r.Close()
		}
		h.reservers = nil
		return 0, "", nil
	}
	return 0, "", fmt.Errorf("unknown attack %q", args[0])
}

// sealedTxn builds a writer's envelope of t, route-sealed for the topic.
func (h *helper) sealedTxn(t *crdt.Txn) ([]byte, error) {
	payload, err := crdt.EncodeTxn(t)
	if err != nil {
		return nil, err
	}
	hd := member.Header{Doc: h.doc, Header: wire.HeaderOf(t)}
	e, err := sealAndSign(h.keys, h.w, &hd, payload)
	if err != nil {
		return nil, err
	}
	return h.route.Seal(h.topicName, e.Raw)
}

func (h *helper) overlapSeed(n int) (int, string, error) {
	if n < 1 {
		return 0, "", errors.New("overlap-seed needs at least one code point")
	}
	ag := h.w.agent("ovl")
	b, err := h.sealedTxn(&crdt.Txn{Agent: ag, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: strings.Repeat("o", n)}}})
	if err != nil {
		return 0, "", err
	}
	return len(b), "agent=" + ag, h.publishRaw(b)
}

// flood calls send until d has passed and sums the bytes it sent.
func flood(d time.Duration, send func(i int) (int, error)) (int, int, error) {
	end := time.Now().Add(d)
	total, i := 0, 0
	for ; time.Now().Before(end); i++ {
		n, err := send(i)
		if err != nil {
			return total, i, err
		}
		total += n
	}
	return total, i, nil
}

func (h *helper) overlapFlood(d time.Duration, n int) (int, string, error) {
	ag := h.w.agent("ovl")
	total, msgs, err := flood(d, func(i int) (int, error) {
		l := n - i%n
		b, err := h.sealedTxn(&crdt.Txn{Agent: ag, Ops: []crdt.Op{{Kind: crdt.OpDelete, Target: vocab.ID{Agent: ag, Seq: 0}, Len: l}}})
		if err != nil {
			return 0, err
		}
		return len(b), h.publishRaw(b)
	})
	return total, fmt.Sprintf("msgs=%d", msgs), err
}

func (h *helper) invalidFlood(d time.Duration) (int, string, error) {
	spec := txnSpec{agent: h.w.agent("inv"), text: "x"}
	env, err := envelope(h.doc, h.keys, h.w, spec)
	if err != nil {
		return 0, "", err
	}
	kinds := [3]int{}
	total, msgs, err := flood(d, func(i int) (int, error) {
		var b []byte
		switch i % 3 {
		case 0: // undecodable: random bytes, not even sealed
			b = make([]byte, 200)
			_, _ = crand.Read(b)
		case 1: // sealed, not CBOR
			g := make([]byte, 200)
			_, _ = crand.Read(g)
			g[0] = 0xff
			var err error
			if b, err = routeSealNonce(h.doc, h.topicName, g); err != nil {
				return 0, err
			}
		case 2: // a writer's envelope with one signature bit flipped
			hd := *env.Header
			hd.Sig = append([]byte(nil), hd.Sig...)
			hd.Sig[i%len(hd.Sig)] ^= 1 << (i % 8)
			var err error
			if b, err = routeSealNonce(h.doc, h.topicName, rawEnvelope(hd.Marshal(), env.Payload)); err != nil {
				return 0, err
			}
		}
		kinds[i%3]++
		return len(b), h.publishRaw(b)
	})
	return total, fmt.Sprintf("msgs=%d undecodable=%d garbage=%d bad-sig=%d", msgs, kinds[0], kinds[1], kinds[2]), err
}

func (h *helper) probe(name string) (int, string, error) {
	ag := h.w.agent(name)
	b, err := h.sealedTxn(&crdt.Txn{Agent: ag, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: "p"}}})
	if err != nil {
		return 0, "", err
	}
	return len(b), "agent=" + ag, h.publishRaw(b)
}

func (h *helper) pendingFlood(d time.Duration) (int, string, error) {
	ghost := h.stranger.agent("ghost")
	text := strings.Repeat("q", 64)
	total, msgs, err := flood(d, func(i int) (int, error) {
		// Each a new agent of the writer at seq 0, made on an operation of
		// a device nobody knows: it can only wait.
		t := &crdt.Txn{Agent: h.w.agent("o" + strconv.Itoa(i)), Parents: []vocab.ID{{Agent: ghost, Seq: uint64(i)}},
			Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: text}}}
		b, err := h.sealedTxn(t)
		if err != nil {
			return 0, err
		}
		return len(b), h.publishRaw(b)
	})
	return total, fmt.Sprintf("msgs=%d", msgs), err
}

func (h *helper) presenceFlood(d time.Duration) (int, string, error) {
	// Presence travels on the document's topic (kind 8), sealed with the
	// presence key under the topic's name, then route-sealed like every
	// message there.
	name := h.topicName
	ag := h.w.agent("pres")
	total, msgs, err := flood(d, func(i int) (int, error) {
		h.presenceSeq++
		rec, err := wire.MarshalPresence(wire.Presence{Doc: h.doc[:], Agent: ag, Name: "flood", Color: "#ff0000", Seq: h.presenceSeq})
		if err != nil {
			return 0, err
		}
		sealed, err := h.keys.Seal(crand.Reader, member.PurposePresence, rec, []byte(name))
		if err != nil {
			return 0, err
		}
		b, err := h.route.Seal(name, member.PresenceMsg(sealed))
		if err != nil {
			return 0, err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return len(b), h.topic.Publish(ctx, b)
	})
	return total, fmt.Sprintf("msgs=%d", msgs), err
}

func containsPeer(ps []string, id peer.ID) bool {
	for _, p := range ps {
		if p == id.String() {
			return true
		}
	}
	return false
}

// syncFlood holds k catch-up streams of each kind open for d.
func (h *helper) syncFlood(d time.Duration, k int) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var mu sync.Mutex
	total := 0
	count := map[string]int{}
	add := func(kind string, n int) {
		mu.Lock()
		defer mu.Unlock()
		total += n
		if kind != "" {
			count[kind]++
		}
	}
	var streams []network.Stream
	keep := func(s network.Stream) {
		mu.Lock()
		defer mu.Unlock()
		streams = append(streams, s)
	}
	var wg sync.WaitGroup
	for i := range 3 * k {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := h.raw.NewStream(ctx, h.daemon.ID, syncProtocol)
			if err != nil {
				add("refused", 0)
				return
			}
			keep(s)
			rs := &rawStream{s: s, r: bufio.NewReader(s)}
			switch i % 3 {
			case 0: // a full handshake and hello{}; the answer is never read
				n, err := h.handshake(rs)
				add("", n)
				if err != nil {
					add("hello-failed", 0)
					return
				}
				add("hello", 0)
			case 1: // opened, then silent
				add("silent", 0)
			case 2: // a header announcing 4 MiB, then a byte every 100 ms
				hdr := binary.AppendUvarint(nil, 4<<20)
				if rs.write(hdr) != nil {
					add("trickle-failed", 0)
					return
				}
				add("trickle", len(hdr))
				t := time.NewTicker(100 * time.Millisecond)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						if rs.write([]byte{0}) != nil {
							add("trickle-cut", 0)
							return
						}
						add("", 1)
					}
				}
			}
		}()
	}
	wg.Wait()
	<-ctx.Done()
	for _, s := range streams {
		_ = s.Reset()
	}
	mu.Lock()
	defer mu.Unlock()
	var parts []string
	for _, kind := range []string{"hello", "hello-failed", "silent", "trickle", "trickle-failed", "trickle-cut", "refused"} {
		parts = append(parts, fmt.Sprintf("%s=%d", kind, count[kind]))
	}
	return total, strings.Join(parts, " "), nil
}

// handshake runs open → prove → prove → hello{} on rs as the reader
// device and returns the bytes it wrote.
func (h *helper) handshake(rs *rawStream) (int, error) {
	me, them := h.raw.ID().String(), h.daemon.ID.String()
	topic := member.TopicID(h.doc)
	sent := 0
	write := func(b []byte) error {
		sent += len(b) + len(binary.AppendUvarint(nil, uint64(len(b))))
		return rs.writeFrame(b)
	}
	_ = rs.s.SetDeadline(time.Now().Add(15 * time.Second))
	defer func() { _ = rs.s.SetDeadline(time.Time{}) }()
	if err := write(marshalSync(wire.SyncMsg{Kind: wire.MsgOpen, Topic: topic[:], MAC: member.OpenMAC(h.doc, []byte(me), []byte(them))})); err != nil {
		return sent, err
	}
	b, err := rs.readFrame()
	if err != nil {
		return sent, err
	}
	if d := describe(b); d != "prove" {
		return sent, fmt.Errorf("the daemon answered %s to an open", d)
	}
	if err := write(marshalSync(h.prove(me, them, h.rChain))); err != nil {
		return sent, err
	}
	return sent, write(h.hello())
}

// rawGossip connects a fresh host to the daemon and opens a GossipSub
// stream to it; the host reads (and drops) whatever the daemon sends.
func (h *helper) rawGossip() (host.Host, network.Stream, error) {
	ho, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
	if err != nil {
		return nil, nil, err
	}
	// Speak GossipSub enough that the daemon keeps the peer: take its
	// stream and read whatever it sends.
	for _, p := range []string{"/meshsub/1.1.0", "/meshsub/1.2.0"} {
		ho.SetStreamHandler(protocol.ID(p), func(s network.Stream) { drainStream(s) })
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := ho.Connect(ctx, h.daemon); err != nil {
		ho.Close()
		return nil, nil, err
	}
	s, err := ho.NewStream(ctx, h.daemon.ID, "/meshsub/1.1.0")
	if err != nil {
		ho.Close()
		return nil, nil, err
	}
	return ho, s, nil
}

// writeRPC writes one length-prefixed GossipSub RPC and returns its bytes.
func writeRPC(w *bufio.Writer, rpc *pubsubpb.RPC) (int, error) {
	b, err := proto.Marshal(rpc)
	if err != nil {
		return 0, err
	}
	frame := append(binary.AppendUvarint(nil, uint64(len(b))), b...)
	_, err = w.Write(frame)
	return len(frame), err
}

func (h *helper) forgedFlood(d time.Duration) (int, string, error) {
	ho, s, err := h.rawGossip()
	if err != nil {
		return 0, "", err
	}
	defer ho.Close()
	defer s.Reset()
	w := bufio.NewWriter(s)
	topic, sub := h.topicName, true
	total, err := writeRPC(w, &pubsubpb.RPC{Subscriptions: []*pubsubpb.RPC_SubOpts{{Subscribe: &sub, Topicid: &topic}}})
	if err != nil {
		return total, "", err
	}
	from := []byte(ho.ID())
	cut := 0
	n, msgs, _ := flood(d, func(i int) (int, error) {
		if cut > 0 {
			time.Sleep(10 * time.Millisecond) // the daemon closed the stream: wait out the window
			return 0, nil
		}
		data, seqno, sig := make([]byte, 200), make([]byte, 8), make([]byte, 64)
		_, _ = crand.Read(data)
		_, _ = crand.Read(sig)
		binary.BigEndian.PutUint64(seqno, uint64(i)+1)
		n, err := writeRPC(w, &pubsubpb.RPC{Publish: []*pubsubpb.Message{{From: from, Data: data, Seqno: seqno, Topic: &topic, Signature: sig}}})
		if err == nil && i%64 == 63 {
			err = w.Flush()
		}
		if err != nil {
			cut = i
		}
		return n, nil
	})
	_ = w.Flush()
	return total + n, fmt.Sprintf("msgs=%d cut-at=%d", msgs, cut), nil
}

// subsFlood announces n subscriptions to random topic names from a fresh
// host, in RPCs of 1,000, and holds them for d.
func (h *helper) subsFlood(d time.Duration, n int) (int, string, error) {
	end := time.Now().Add(d)
	ho, s, err := h.rawGossip()
	if err != nil {
		return 0, "", err
	}
	defer ho.Close()
	defer s.Reset()
	w := bufio.NewWriter(s)
	total, sent := 0, 0
	name := make([]byte, 16)
	for sent < n {
		rpc := &pubsubpb.RPC{}
		for range min(1000, n-sent) {
			_, _ = crand.Read(name)
			sub := true
			topic := fmt.Sprintf("weft/doc/%x", name)
			rpc.Subscriptions = append(rpc.Subscriptions, &pubsubpb.RPC_SubOpts{Subscribe: &sub, Topicid: &topic})
		}
		n, err := writeRPC(w, rpc)
		total += n
		if err != nil {
			return total, fmt.Sprintf("subscriptions=%d cut=1", sent), nil
		}
		sent += len(rpc.Subscriptions)
	}
	if err := w.Flush(); err != nil {
		return total, fmt.Sprintf("subscriptions=%d cut=1", sent), nil
	}
	time.Sleep(time.Until(end)) // holding the subscriptions is the attack
	return total, fmt.Sprintf("subscriptions=%d", sent), nil
}

func drainStream(s network.Stream) {
	buf := make([]byte, 4096)
	for {
		if _, err := s.Read(buf); err != nil {
			_ = s.Reset()
			return
		}
	}
}

// reserve has n fresh hosts ask the relay at addr for a reservation each.
func (h *helper) reserve(addr string, n int) (int, string, error) {
	ai, err := peer.AddrInfoFromString(addr)
	if err != nil {
		return 0, "", fmt.Errorf("relay address %q: %v", addr, err)
	}
	granted, refused, failed := 0, 0, 0
	var firstErr string
	for range n {
		ho, err := libp2p.New(libp2p.NoListenAddrs, libp2p.DisableRelay())
		if err != nil {
			return 0, "", err
		}
		h.reservers = append(h.reservers, ho)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := ho.Connect(ctx, *ai); err != nil {
			failed++
			if firstErr == "" {
				firstErr = err.Error()
			}
			cancel()
			continue
		}
		_, err = client.Reserve(ctx, ho, *ai)
		cancel()
		var re client.ReservationError
		switch {
		case err == nil:
			granted++
		case errors.As(err, &re):
			refused++
			if firstErr == "" {
				firstErr = re.Status.String() + ":" + re.Reason
			}
		default:
			failed++
			if firstErr == "" {
				firstErr = err.Error()
			}
		}
	}
	detail := fmt.Sprintf("granted=%d refused=%d failed=%d", granted, refused, failed)
	if firstErr != "" {
		detail += " first-error=" + strings.ReplaceAll(firstErr, " ", "_")
	}
	return 0, detail, nil
}

// readCorpus reads the []byte and string inputs of the Go fuzz corpus
// files ("go test fuzz v1", then one Go literal per line) under dirs.
func readCorpus(dirs []string) ([][]byte, error) {
	var out [][]byte
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			lines := strings.Split(string(b), "\n")
			if len(lines) == 0 || lines[0] != "go test fuzz v1" {
				return nil
			}
			for _, l := range lines[1:] {
				for _, pre := range []string{"[]byte(", "string("} {
					if lit, ok := strings.CutPrefix(l, pre); ok && strings.HasSuffix(lit, ")") {
						if v, err := strconv.Unquote(strings.TrimSuffix(lit, ")")); err == nil {
							out = append(out, []byte(v))
						}
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("reading the corpus in %s: %v", dir, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no corpus inputs under %v", dirs)
	}
	return out, nil
}

func (h *helper) corpusFlood(d time.Duration, dirs []string) (int, string, error) {
	inputs, err := readCorpus(dirs)
	if err != nil {
		return 0, "", err
	}
	var ways [3]int
	total, msgs, err := flood(d, func(i int) (int, error) {
		in := inputs[(i/3)%len(inputs)]
		ways[i%3]++
		switch i % 3 {
		case 0: // gossip plaintext
			b, err := routeSealNonce(h.doc, h.topicName, in)
			if err != nil {
				return 0, err
			}
			return len(b), h.publishRaw(b)
		case 1: // a writer's transaction payload, signed and sealed
			hd := member.Header{Doc: h.doc, Header: vocab.Header{Agent: h.w.agent("fz" + strconv.Itoa(i)), Len: 1}}
			e, err := sealAndSign(h.keys, h.w, &hd, in)
			if err != nil {
				return 0, err
			}
			b, err := h.route.Seal(h.topicName, e.Raw)
			if err != nil {
				return 0, err
			}
			return len(b), h.publishRaw(b)
		default: // the first frame of a catch-up stream
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := h.raw.NewStream(ctx, h.daemon.ID, syncProtocol)
			if err != nil {
				return 0, nil // refused (a limit): counted as not sent
			}
			_ = s.SetDeadline(time.Now().Add(5 * time.Second))
			rs := &rawStream{s: s, r: bufio.NewReader(s)}
			err = rs.writeFrame(in)
			_ = s.CloseWrite()
			rs.drain()
			_ = s.Close()
			if err != nil {
				return 0, nil
			}
			return len(in) + len(binary.AppendUvarint(nil, uint64(len(in)))), nil
		}
	})
	return total, fmt.Sprintf("msgs=%d inputs=%d gossip=%d payload=%d stream=%d", msgs, len(inputs), ways[0], ways[1], ways[2]), err
}
