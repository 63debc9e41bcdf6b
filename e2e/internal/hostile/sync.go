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

	"github.com/fxamacker/cbor/v2"
	"github.com/libp2p/go-libp2p/core/network"

	"weft/p2p"
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

func decodeMsg(b []byte) (syncMsg, error) {
	var m syncMsg
	err := cbor.Unmarshal(b, &m)
	return m, err
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
	m, err := decodeMsg(b)
	if err != nil {
		return "undecodable"
	}
	switch m.Kind {
	case msgHello:
		return "hello"
	case msgTxns:
		return fmt.Sprintf("txns(%d)", len(m.Envs))
	case msgDone:
		return "done"
	case msgFail:
		return "fail(" + m.Reason + ")"
	}
	return fmt.Sprintf("kind(%d)", m.Kind)
}

func hello(v uint64, doc []byte) []byte {
	return mustMarshal(syncMsg{V: v, Kind: msgHello, Doc: doc, Version: map[string]uint64{}, Envs: [][]byte{}})
}

func txns(v uint64, envs ...[]byte) []byte {
	return mustMarshal(syncMsg{V: v, Kind: msgTxns, Envs: envs, Version: map[string]uint64{}})
}

func done() []byte {
	return mustMarshal(syncMsg{V: 1, Kind: msgDone, Envs: [][]byte{}, Version: map[string]uint64{}})
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

// syncCase opens a catch-up stream to the daemon and runs the crafted
// exchange name; it describes what the daemon answered.
func (h *helper) syncCase(name, agent string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	s, err := h.raw.NewStream(ctx, h.daemon.ID, syncProtocol)
	if err != nil {
		return "", err
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	rs := &rawStream{s: s, r: bufio.NewReader(s)}
	first := func(frame []byte, raw bool) (string, error) {
		var err error
		if raw {
			err = rs.write(frame)
		} else {
			err = rs.writeFrame(frame)
		}
		if err != nil {
			return "", err
		}
		_ = s.CloseWrite()
		return rs.drain(), nil
	}
	switch name {
	case "garbage":
		b, _ := crafted("garbage", h.doc, h.other, "", h.rng)
		return first(b, false)
	case "version":
		return first(hello(2, h.doc), false)
	case "truncated":
		return first(truncatedFrame(), true)
	case "oversized":
		return first(oversizedFrame(), true)
	case "unknown-doc":
		return first(hello(1, h.other), false)
	}

	// The other cases follow a proper hello exchange.
	if err := rs.writeFrame(hello(1, h.doc)); err != nil {
		return "", err
	}
	b, err := rs.readFrame()
	if err != nil {
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
		env, _ := crafted("valid-sync", h.doc, h.other, "", h.rng)
		frame = txns(2, env)
	case "msg-kind":
		frame = mustMarshal(syncMsg{V: 1, Kind: 9, Envs: [][]byte{}, Version: map[string]uint64{}})
	case "msg-truncated":
		frame, raw = truncatedFrame(), true
	case "msg-oversized":
		frame, raw = oversizedFrame(), true
	default:
		env, err := crafted(name, h.doc, h.other, agent, h.rng)
		if err != nil {
			return "", err
		}
		frame = txns(1, env)
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

// serveReq asks handleSync to answer the daemon's next request with a
// crafted case.
type serveReq struct {
	name, agent string
	result      chan string
}

// serveCase waits for the daemon's next catch-up request and answers it
// with the crafted case name.
func (h *helper) serveCase(name, agent string) (string, error) {
	r := serveReq{name: name, agent: agent, result: make(chan string, 1)}
	select {
	case h.serve <- r:
	case <-time.After(30 * time.Second):
		return "", errors.New("the daemon sent no catch-up request within 30s")
	}
	return <-r.result, nil
}

// handleSync answers the daemon's catch-up requests: with a crafted case
// when one is waiting, else as a peer without the document.
func (h *helper) handleSync(_ string, s p2p.Stream) {
	_ = s.SetDeadline(time.Now().Add(15 * time.Second))
	b, err := s.ReadMsg()
	if err != nil {
		return
	}
	var req serveReq
	select {
	case req = <-h.serve:
	default:
		_ = s.WriteMsg(mustMarshal(syncMsg{V: 1, Kind: msgFail, Doc: h.doc, Reason: "unknown document", Envs: [][]byte{}, Version: map[string]uint64{}}))
		_ = s.CloseWrite()
		return
	}
	detail := "request " + describe(b)
	var werr error
	switch req.name {
	case "version":
		werr = s.WriteMsg(hello(2, h.doc))
	default:
		env, err := crafted(req.name, h.doc, h.other, req.agent, h.rng)
		if err != nil {
			req.result <- "error: " + err.Error()
			return
		}
		werr = errors.Join(s.WriteMsg(hello(1, h.doc)), s.WriteMsg(txns(1, env)), s.WriteMsg(done()))
	}
	_ = s.CloseWrite()
	rest := drainWith(s.ReadMsg)
	if werr != nil {
		detail += " write error(" + werr.Error() + ")"
	}
	req.result <- detail + " then " + rest
}
