package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"weft/member"
	"weft/p2p"
	"weft/wire"
)

// rawStream writes and reads the length-prefixed frames of weft's stream
// protocols by hand.
type rawStream struct {
	s network.Stream
	r *bufio.Reader
}

func (r *rawStream) write(b []byte) error {
	_, err := r.s.Write(b)
	return err
}

func (r *rawStream) writeFrame(b []byte) error {
	return r.write(append(binary.AppendUvarint(nil, uint64(len(b))), b...))
}

func (r *rawStream) readFrame() ([]byte, error) {
	n, err := binary.ReadUvarint(r.r)
	if err != nil {
		return nil, err
	}
	if n > 16<<20 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	b := make([]byte, n)
	_, err = io.ReadFull(r.r, b)
	return b, err
}

// drain reads the daemon's messages until the stream ends and describes
// them, e.g. "hello txns(3) done EOF" or "fail(unknown document) EOF".
func (r *rawStream) drain() string { return drainWith(r.readFrame) }

// drainWith is drain over any reader of messages.
func drainWith(read func() ([]byte, error)) string {
	var parts []string
	for {
		b, err := read()
		if err != nil {
			if errors.Is(err, io.EOF) {
				parts = append(parts, "EOF")
			} else {
				parts = append(parts, "error("+err.Error()+")")
			}
			return strings.Join(parts, " ")
		}
		parts = append(parts, describe(b))
	}
}

func describe(b []byte) string {
	m, err := wire.ParseSync(b)
	if err != nil {
		return "undecodable"
	}
	switch m.Kind {
	case wire.MsgHello:
		return "hello"
	case wire.MsgTxns:
		return fmt.Sprintf("txns(%d)", len(m.Envs))
	case wire.MsgDone:
		return "done"
	case wire.MsgFail:
		return "fail(" + m.Reason + ")"
	case wire.MsgOpen:
		return "open"
	case wire.MsgProve:
		return "prove"
	}
	return fmt.Sprintf("kind(%d)", m.Kind)
}

func marshalSync(m wire.SyncMsg) []byte {
	b, err := wire.MarshalSync(m)
	if err != nil {
		panic(err)
	}
	return b
}

// withVersion encodes m as sync format v (wire writes only its own).
func withVersion(v uint64, m wire.SyncMsg) []byte {
	m.V = v
	return mustMarshal(m)
}

func txns(envs ...[]byte) []byte { return marshalSync(wire.SyncMsg{Kind: wire.MsgTxns, Envs: envs}) }

func done() []byte { return marshalSync(wire.SyncMsg{Kind: wire.MsgDone}) }

func (h *helper) hello() []byte {
	return marshalSync(wire.SyncMsg{Kind: wire.MsgHello, Doc: h.doc[:], Version: map[string]uint64{}})
}

func (h *helper) garbage() []byte {
	b, err := h.crafted("sync", "garbage")
	if err != nil {
		panic(err)
	}
	return b
}

// truncatedFrame announces 100 bytes and sends 10.
func truncatedFrame() []byte {
	return append(binary.AppendUvarint(nil, 100), make([]byte, 10)...)
}

// oversizedFrame announces 5 MiB (the daemon reads at most 4) and sends
// the start of it.
func oversizedFrame() []byte {
	return append(binary.AppendUvarint(nil, 5<<20), make([]byte, 1024)...)
}

// prove is a member's proof in the handshake: the MAC over the sender
// and the receiver, its chain, and the chains it knows.
func (h *helper) prove(from, to string, c member.Chain) wire.SyncMsg {
	return wire.SyncMsg{Kind: wire.MsgProve, MAC: member.OpenMAC(h.doc, []byte(from), []byte(to)), Chain: c.Marshal(),
		Roster: [][]byte{h.wChain.Marshal(), h.rChain.Marshal()}}
}

// syncCase opens a catch-up stream to the daemon from the stream host
// (the reader's device) and runs the crafted exchange name; it describes
// what the daemon answered. The handshake (open → prove → prove → hello)
// is run properly up to the step the case is about.
func (h *helper) syncCase(name string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := h.raw.NewStream(ctx, h.daemon.ID, syncProtocol)
	if err != nil {
		return "", err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	rs := &rawStream{s: s, r: bufio.NewReader(s)}
	me, them := h.raw.ID().String(), h.daemon.ID.String()

	// finish sends a last frame (raw: bytes as they are, not framed),
	// half-closes and describes what the daemon answered.
	finish := func(b []byte, raw bool) (string, error) {
		if raw {
			err = rs.write(b)
		} else {
			err = rs.writeFrame(b)
		}
		if err != nil {
			return "", err
		}
		_ = s.CloseWrite()
		return rs.drain(), nil
	}
	topic := member.TopicID(h.doc)
	open := wire.SyncMsg{Kind: wire.MsgOpen, Topic: topic[:], MAC: member.OpenMAC(h.doc, []byte(me), []byte(them))}
	// The first message of the stream.
	switch name {
	case "garbage":
		return finish(h.garbage(), false)
	case "version":
		return finish(withVersion(2, open), false)
	case "truncated":
		return finish(truncatedFrame(), true)
	case "oversized":
		return finish(oversizedFrame(), true)
	case "hello-first":
		// The pre-issue-10 exchange: a hello naming the document.
		return finish(h.hello(), false)
	case "wrong-mac":
		// Keyed with another document's ID: the opener does not know this one.
		open.MAC = member.OpenMAC(h.other, []byte(me), []byte(them))
		return finish(marshalSync(open), false)
	case "reflected-mac":
		// The daemon's own MAC for this pair (responder ‖ opener): bound
		// to the direction, it does not open.
		open.MAC = member.OpenMAC(h.doc, []byte(them), []byte(me))
		return finish(marshalSync(open), false)
	case "unknown-topic":
		ot := member.TopicID(h.other)
		open.Topic = ot[:]
		return finish(marshalSync(open), false)
	}
	if err := rs.writeFrame(marshalSync(open)); err != nil {
		return "", err
	}
	b, err := rs.readFrame()
	if err != nil {
		return "", fmt.Errorf("reading the daemon's answer to an open: %v", err)
	}
	theirs, err := wire.ParseSync(b)
	if err != nil || theirs.Kind != wire.MsgProve {
		return "", fmt.Errorf("the daemon answered %s to an open", describe(b))
	}
	if err := member.CheckOpenMAC(h.doc, []byte(them), []byte(me), theirs.MAC); err != nil {
		return "", fmt.Errorf("the daemon's proof: %v", err)
	}

	// The stream host's proof.
	prove := h.prove(me, them, h.rChain)
	switch name {
	case "other-chain":
		// The writer's valid chain, over the reader's connection.
		prove.Chain = h.wChain.Marshal()
		return finish(marshalSync(prove), false)
	case "forged-chain", "bad-link-sig", "expired":
		c, err := h.chainCase(name)
		if err != nil {
			return "", err
		}
		prove.Chain = c.Marshal()
		return finish(marshalSync(prove), false)
	case "no-prove":
		return finish(h.hello(), false)
	}
	if err := rs.writeFrame(marshalSync(prove)); err != nil {
		return "", err
	}
	if name == "txns-before-hello" {
		env, err := h.crafted("sync", "valid-moved")
		if err != nil {
			return "", err
		}
		return finish(txns(env), false)
	}

	// Hello, then the case's transactions.
	if err := rs.writeFrame(h.hello()); err != nil {
		return "", err
	}
	if b, err = rs.readFrame(); err != nil {
		return "", fmt.Errorf("reading the daemon's hello: %v", err)
	}
	if d := describe(b); d != "hello" {
		return "", fmt.Errorf("the daemon answered %s to a hello", d)
	}
	got := make(chan string, 1)
	go func() { got <- "hello " + rs.drain() }()
	var frame []byte
	raw := false
	switch name {
	case "msg-version":
		env, err := h.crafted("sync", "valid-moved")
		if err != nil {
			return "", err
		}
		frame = withVersion(2, wire.SyncMsg{Kind: wire.MsgTxns, Envs: [][]byte{env}})
	case "msg-kind":
		frame = withVersion(1, wire.SyncMsg{Kind: 11})
	case "msg-truncated":
		frame, raw = truncatedFrame(), true
	case "msg-oversized":
		frame, raw = oversizedFrame(), true
	default:
		env, err := h.crafted("sync", name)
		if err != nil {
			return "", err
		}
		frame = txns(env)
	}
	if raw {
		err = rs.write(frame)
	} else {
		err = rs.writeFrame(frame)
	}
	if err == nil && !raw {
		err = rs.writeFrame(done())
	}
	_ = s.CloseWrite()
	if err != nil {
		return "", err
	}
	return <-got, nil
}

// serveReq asks handleSync to answer the daemon's next catch-up request
// with a crafted case.
type serveReq struct {
	name   string
	result chan serveResult
}

type serveResult struct {
	detail string
	err    error
}

// serveCase waits for the daemon's next catch-up request (it opens one
// with every peer on the topic every anti-entropy round) and answers it
// with the crafted case name.
func (h *helper) serveCase(name string) (string, error) {
	r := serveReq{name: name, result: make(chan serveResult, 1)}
	select {
	case h.serve <- r:
	case <-time.After(30 * time.Second):
		return "", errors.New("the daemon sent no catch-up request within 30s")
	}
	res := <-r.result
	return res.detail, res.err
}

// handleSync answers the daemon's catch-up requests to the gossip node
// (the writer's device): with a crafted case when one is waiting, else as
// a peer without the document.
func (h *helper) handleSync(peer string, s p2p.Stream) {
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	b, err := s.ReadMsg()
	if err != nil {
		return
	}
	var req serveReq
	select {
	case req = <-h.serve:
	default:
		_ = s.WriteMsg(marshalSync(wire.SyncMsg{Kind: wire.MsgFail, Reason: "unknown document"}))
		_ = s.CloseWrite()
		return
	}
	me := h.node.ID()
	res := serveResult{detail: "request " + describe(b)}
	defer func() { req.result <- res }()
	// The daemon must have opened properly: this document, its MAC.
	topic := member.TopicID(h.doc)
	open, err := wire.ParseSync(b)
	if err != nil || open.Kind != wire.MsgOpen || string(open.Topic) != string(topic[:]) {
		res.err = fmt.Errorf("the daemon's catch-up request is not an open for the document: %s", describe(b))
		_ = s.Reset()
		return
	}
	if err := member.CheckOpenMAC(h.doc, []byte(peer), []byte(me), open.MAC); err != nil {
		res.err = fmt.Errorf("the daemon's open: %v", err)
		_ = s.Reset()
		return
	}
	prove := h.prove(me, peer, h.wChain)
	var werr error
	switch req.name {
	case "garbage":
		werr = s.WriteMsg(h.garbage())
	case "version":
		werr = s.WriteMsg(withVersion(2, prove))
	case "wrong-mac":
		prove.MAC = member.OpenMAC(h.other, []byte(me), []byte(peer))
		werr = s.WriteMsg(marshalSync(prove))
	case "other-chain":
		// The reader's valid chain, over the writer's connection.
		prove.Chain = h.rChain.Marshal()
		werr = s.WriteMsg(marshalSync(prove))
	default:
		env, err := h.crafted("serve", req.name)
		if err != nil {
			res.err = err
			_ = s.Reset()
			return
		}
		if werr = s.WriteMsg(marshalSync(prove)); werr != nil {
			break
		}
		var parts []string
		for _, want := range []string{"prove", "hello"} {
			b, err := s.ReadMsg()
			if err != nil {
				res.err = fmt.Errorf("waiting for the daemon's %s: %v", want, err)
				_ = s.Reset()
				return
			}
			if d := describe(b); d != want {
				res.err = fmt.Errorf("the daemon sent %s where its %s was due", d, want)
				_ = s.Reset()
				return
			}
			parts = append(parts, want)
		}
		res.detail += " " + strings.Join(parts, " ")
		werr = errors.Join(s.WriteMsg(h.hello()), s.WriteMsg(txns(env)), s.WriteMsg(done()))
	}
	_ = s.CloseWrite()
	rest := drainWith(s.ReadMsg)
	if werr != nil {
		res.detail += " write error(" + werr.Error() + ")"
	}
	res.detail += " then " + rest
}
