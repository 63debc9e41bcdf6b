package p2p

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

const echoProto = "/weft/test-echo/1.0.0"

// echo reads frames until EOF and writes each back, then half-closes.
func echo(_ string, s Stream) {
	for {
		m, err := s.ReadMsg()
		if err != nil {
			break
		}
		if err := s.WriteMsg(m); err != nil {
			return
		}
	}
	_ = s.CloseWrite()
}

func connectedPair(t *testing.T, modB func(*Options)) (a, b *Node) {
	t.Helper()
	a = startNode(t, nil)
	b = startNode(t, func(o *Options) {
		bootstrapTo(a)(o)
		if modB != nil {
			modB(o)
		}
	})
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	return a, b
}

func openStream(t *testing.T, from, to *Node, proto string) Stream {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := from.Open(ctx, to.ID(), proto)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Reset() })
	return s
}

// Frames round trip in order, including an empty one and one at the size
// limit; the half-close ends the exchange with io.EOF on both sides.
func TestStreamRoundTrip(t *testing.T) {
	a, b := connectedPair(t, nil)
	peerSeen := make(chan string, 1)
	a.Handle(echoProto, func(p string, s Stream) {
		peerSeen <- p
		if s.Peer() != p {
			t.Errorf("Stream.Peer() = %s, handler got %s", s.Peer(), p)
		}
		echo(p, s)
	})
	s := openStream(t, b, a, echoProto)
	if s.Peer() != a.ID() {
		t.Fatalf("Stream.Peer() = %s, want A %s", s.Peer(), a.ID())
	}
	big := bytes.Repeat([]byte{0xab}, b.opts.MaxMessageBytes)
	frames := [][]byte{[]byte("hello"), {}, big, []byte("bye")}
	if err := s.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() {
		for _, f := range frames {
			if err := s.WriteMsg(f); err != nil {
				t.Errorf("WriteMsg: %v", err)
				return
			}
		}
		if err := s.CloseWrite(); err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
	}()
	for i, want := range frames {
		got, err := s.ReadMsg()
		if err != nil {
			t.Fatalf("ReadMsg %d: %v", i, err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("frame %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}
	if _, err := s.ReadMsg(); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
	if p := <-peerSeen; p != b.ID() {
		t.Fatalf("handler saw peer %s, want B %s", p, b.ID())
	}
}

// A frame over the reader's limit is ErrTooLarge and resets the stream; the
// writer refuses to send a frame over its own limit.
func TestStreamOversizedFrame(t *testing.T) {
	a := startNode(t, func(o *Options) { o.MaxMessageBytes = 1024 })
	b := startNode(t, bootstrapTo(a))
	waitFor(t, 15*time.Second, "B connected to A", func() bool { return connectedTo(a, b.ID()) })
	res := make(chan error, 1)
	a.Handle(echoProto, func(_ string, s Stream) {
		_, err := s.ReadMsg()
		res <- err
	})
	s := openStream(t, b, a, echoProto)
	if err := s.WriteMsg(make([]byte, 2048)); err != nil {
		t.Fatalf("B may send 2 KiB (its limit is %d): %v", b.opts.MaxMessageBytes, err)
	}
	if err := recvErr(t, res, 15*time.Second, "the handler"); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("reader's error: %v, want ErrTooLarge", err)
	}
	// The stream was reset: B's read fails with an error that is not a
	// clean io.EOF.
	_ = s.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := s.ReadMsg(); err == nil || err == io.EOF {
		t.Fatalf("B's read after A's reset: %v, want a reset error", err)
	}

	s2 := openStream(t, b, a, echoProto)
	if err := s2.WriteMsg(make([]byte, b.opts.MaxMessageBytes+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("WriteMsg over the limit: %v, want ErrTooLarge", err)
	}
}

// Malformed frames from a peer that bypasses the framing: a header cut short,
// a frame cut short, a varint longer than 64 bits.
func TestStreamMalformedFrames(t *testing.T) {
	a, b := connectedPair(t, nil)
	res := make(chan error, 1)
	a.Handle(echoProto, func(_ string, s Stream) {
		_, err := s.ReadMsg()
		res <- err
	})
	cases := []struct {
		name string
		raw  []byte
	}{
		{"truncated header", []byte{0x80}},
		{"truncated frame", append([]byte{100}, make([]byte, 10)...)},
		{"varint overflow", bytes.Repeat([]byte{0xff}, 11)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			raw, err := b.host.NewStream(ctx, peer.ID(mustDecode(t, a.ID())), protocol.ID(echoProto))
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Reset()
			if _, err := raw.Write(c.raw); err != nil {
				t.Fatal(err)
			}
			_ = raw.CloseWrite()
			if err := recvErr(t, res, 15*time.Second, "the handler"); !errors.Is(err, ErrBadFrame) {
				t.Fatalf("reader's error: %v, want ErrBadFrame", err)
			}
		})
	}
}

func mustDecode(t *testing.T, s string) peer.ID {
	t.Helper()
	id, err := peer.Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A read past the deadline fails with a timeout instead of blocking.
func TestStreamDeadline(t *testing.T) {
	a, b := connectedPair(t, nil)
	release := make(chan struct{})
	a.Handle(echoProto, func(_ string, s Stream) { <-release }) // never answers
	defer close(release)
	s := openStream(t, b, a, echoProto)
	if err := s.WriteMsg([]byte("anyone?")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.ReadMsg()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("ReadMsg past the deadline: %v, want a timeout error", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("deadline of 100ms took %v to fire", d)
	}
}

// Open's argument checks and an unsupported protocol.
func TestOpenErrors(t *testing.T) {
	a, b := connectedPair(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := b.Open(ctx, "not-a-peer-id", echoProto); !errors.Is(err, ErrBadPeer) {
		t.Fatalf("bad peer ID: %v", err)
	}
	if _, err := b.Open(ctx, a.ID(), ""); !errors.Is(err, ErrBadProtocol) {
		t.Fatalf("empty protocol: %v", err)
	}
	if _, err := b.Open(ctx, a.ID(), "/weft/nobody-serves-this/1.0.0"); err == nil {
		t.Fatal("Open of a protocol A does not serve succeeded")
	}
}

// A frame's buffer grows as its bytes arrive: a peer that announces a
// frame at the limit and sends ten bytes makes the reader allocate about
// one chunk, not the announced size; frames of every size still read
// whole.
func TestStreamFrameBufferGrowsAsBytesArrive(t *testing.T) {
	const limit = 4 << 20
	header := binary.AppendUvarint(nil, limit)
	f := &frameStream{r: bufio.NewReader(io.MultiReader(bytes.NewReader(header), bytes.NewReader(make([]byte, 10)))), max: limit}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := f.ReadMsg()
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrBadFrame) {
		t.Fatalf("a frame cut short: %v, want ErrBadFrame", err)
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Fatalf("reading 10 bytes of an announced %d-byte frame allocated %d bytes", limit, n)
	}
	for _, size := range []int{0, 1, frameChunk - 1, frameChunk, frameChunk + 1, 3*frameChunk + 7, limit} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(i * 7)
		}
		f := &frameStream{r: bufio.NewReader(bytes.NewReader(append(binary.AppendUvarint(nil, uint64(size)), data...))), max: limit}
		got, err := f.ReadMsg()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("frame of %d bytes: %d bytes back, %v", size, len(got), err)
		}
	}
}
