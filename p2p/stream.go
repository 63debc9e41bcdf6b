package p2p

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// Stream is a bidirectional protocol stream carrying length-prefixed frames:
// each frame is its length as a uvarint followed by that many bytes, at most
// Options.MaxMessageBytes. One goroutine may read while another writes; two
// concurrent readers or two concurrent writers are not allowed.
type Stream interface {
	// ReadMsg returns the next frame. It returns io.EOF when the other side
	// closed its write half cleanly between frames. A frame larger than
	// MaxMessageBytes (ErrTooLarge) resets the stream; a malformed or
	// truncated frame returns ErrBadFrame.
	ReadMsg() ([]byte, error)
	// WriteMsg sends one frame; data larger than MaxMessageBytes is refused
	// with ErrTooLarge and nothing is written.
	WriteMsg(data []byte) error
	// CloseWrite half-closes: the other side's ReadMsg returns io.EOF after
	// the frames already sent.
	CloseWrite() error
	// Close closes both directions gracefully.
	Close() error
	// Reset aborts the stream in both directions.
	Reset() error
	// SetDeadline sets the read and write deadline; a read or write past it
	// fails. The zero time clears it.
	SetDeadline(t time.Time) error
	// Peer returns the remote peer's ID.
	Peer() string
}

// frameStream implements Stream over a libp2p stream.
type frameStream struct {
	s   network.Stream
	r   *bufio.Reader
	max int
}

func (n *Node) wrap(s network.Stream) *frameStream {
	return &frameStream{s: s, r: bufio.NewReader(s), max: n.opts.MaxMessageBytes}
}

func (f *frameStream) ReadMsg() ([]byte, error) {
	size, err := binary.ReadUvarint(f.r)
	if err != nil {
		if err == io.EOF {
			return nil, io.EOF // clean end between frames
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w: stream ended inside a frame header", ErrBadFrame)
		}
		if isOverflow(err) {
			_ = f.s.Reset()
			return nil, fmt.Errorf("%w: frame length overflows 64 bits", ErrBadFrame)
		}
		return nil, fmt.Errorf("p2p: read frame header: %w", err)
	}
	if size > uint64(f.max) {
		_ = f.s.Reset()
		return nil, fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, size, f.max)
	}
	// The buffer grows as the bytes arrive, doubling, so a peer that
	// announces a large frame and sends little costs little; copying stays
	// linear in what was sent.
	buf := make([]byte, 0, min(size, frameChunk))
	for uint64(len(buf)) < size {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, int(min(size-uint64(len(buf)), uint64(len(buf)))))
		}
		n, err := io.ReadFull(f.r, buf[len(buf):min(cap(buf), int(size))])
		buf = buf[:len(buf)+n]
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return nil, fmt.Errorf("%w: stream ended inside a %d-byte frame", ErrBadFrame, size)
			}
			return nil, fmt.Errorf("p2p: read frame: %w", err)
		}
	}
	return buf, nil
}

// frameChunk is how much a frame's buffer holds before its bytes arrive.
const frameChunk = 64 << 10

// isOverflow reports binary.ReadUvarint's overflow error (not exported).
func isOverflow(err error) bool {
	return err != nil && err.Error() == "binary: varint overflows a 64-bit integer"
}

// smallFrame is the size up to which header and data go out in one write.
const smallFrame = 16 << 10

func (f *frameStream) WriteMsg(data []byte) error {
	if len(data) > f.max {
		return fmt.Errorf("%w: frame of %d bytes, limit %d", ErrTooLarge, len(data), f.max)
	}
	var hdr [binary.MaxVarintLen64]byte
	h := binary.PutUvarint(hdr[:], uint64(len(data)))
	if len(data) <= smallFrame {
		buf := make([]byte, 0, h+len(data))
		buf = append(append(buf, hdr[:h]...), data...)
		if _, err := f.s.Write(buf); err != nil {
			return fmt.Errorf("p2p: write frame: %w", err)
		}
		return nil
	}
	if _, err := f.s.Write(hdr[:h]); err != nil {
		return fmt.Errorf("p2p: write frame: %w", err)
	}
	if _, err := f.s.Write(data); err != nil {
		return fmt.Errorf("p2p: write frame: %w", err)
	}
	return nil
}

func (f *frameStream) CloseWrite() error             { return f.s.CloseWrite() }
func (f *frameStream) Close() error                  { return f.s.Close() }
func (f *frameStream) Reset() error                  { return f.s.Reset() }
func (f *frameStream) SetDeadline(t time.Time) error { return f.s.SetDeadline(t) }
func (f *frameStream) Peer() string                  { return f.s.Conn().RemotePeer().String() }

func checkProtocol(proto string) error {
	if proto == "" || len(proto) > maxProtocolLen {
		return fmt.Errorf("%w: %d bytes (need 1..%d)", ErrBadProtocol, len(proto), maxProtocolLen)
	}
	return nil
}

// Handle serves proto: h runs in its own goroutine for each incoming stream,
// with the remote peer's ID. The stream is closed when h returns, so h must
// not keep it. Handling a protocol again replaces the handler. An invalid
// protocol ID or a nil h is logged and ignored.
func (n *Node) Handle(proto string, h func(peer string, s Stream)) {
	if err := checkProtocol(proto); err != nil || h == nil {
		n.log.Error("p2p: Handle called with a bad protocol or nil handler", "protocol", proto)
		return
	}
	n.host.SetStreamHandler(protocol.ID(proto), func(s network.Stream) {
		fs := n.wrap(s)
		defer fs.Close()
		h(s.Conn().RemotePeer().String(), fs)
	})
}

// Open opens a stream for proto to peer, dialling it if needed from the
// addresses we know (peerstore, DHT). ctx bounds the dial and protocol
// negotiation only; use SetDeadline for the exchange itself.
func (n *Node) Open(ctx context.Context, peerID string, proto string) (Stream, error) {
	if err := checkProtocol(proto); err != nil {
		return nil, err
	}
	id, err := peer.Decode(peerID)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %v", ErrBadPeer, peerID, err)
	}
	if n.isClosed() {
		return nil, ErrClosed
	}
	s, err := n.host.NewStream(ctx, id, protocol.ID(proto))
	if err != nil {
		return nil, fmt.Errorf("p2p: open %s to %s: %w", proto, id, err)
	}
	return n.wrap(s), nil
}
