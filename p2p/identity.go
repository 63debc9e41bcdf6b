package p2p

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	pb "github.com/libp2p/go-libp2p/core/crypto/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/libp2p/go-libp2p/core/crypto"
)

// maxIdentityBytes bounds what loadIdentity reads: a marshalled Ed25519 key is
// 68 bytes; anything much larger is not ours.
const maxIdentityBytes = 4096

// loadIdentity reads the private key at path, or creates an Ed25519 key there
// (mode 0600, written to a temporary file and renamed into place, so a crash
// never leaves a half-written identity) when the file does not exist. A file
// that exists but does not hold a valid key is an error, never overwritten:
// the peer ID is how other peers know this node.
func loadIdentity(path string) (crypto.PrivKey, error) {
	f, err := os.Open(path)
	switch {
	case err == nil:
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxIdentityBytes+1))
		if err != nil {
			return nil, fmt.Errorf("%w: read %s: %v", ErrIdentity, path, err)
		}
		if len(b) > maxIdentityBytes {
			return nil, fmt.Errorf("%w: %s is larger than %d bytes; not a key", ErrIdentity, path, maxIdentityBytes)
		}
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("%w: %s does not hold a private key: %v", ErrIdentity, path, err)
		}
		return k, nil
	case errors.Is(err, fs.ErrNotExist):
		return createIdentity(path)
	default:
		return nil, fmt.Errorf("%w: open %s: %v", ErrIdentity, path, err)
	}
}

func createIdentity(path string) (crypto.PrivKey, error) {
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("%w: generate key: %v", ErrIdentity, err)
	}
	b, err := crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: encode key: %v", ErrIdentity, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: create directory %s: %v", ErrIdentity, dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".identity-*")
	if err != nil {
		return nil, fmt.Errorf("%w: create temporary file in %s: %v", ErrIdentity, dir, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: chmod %s: %v", ErrIdentity, tmp.Name(), err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: write %s: %v", ErrIdentity, tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("%w: sync %s: %v", ErrIdentity, tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("%w: close %s: %v", ErrIdentity, tmp.Name(), err)
	}
	// Link rather than rename: if another process created the file meanwhile,
	// keep theirs and use it.
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadIdentity(path)
		}
		// A file system without hard links: rename (may replace a racing
		// writer's file, which nobody has used yet).
		if err := os.Rename(tmp.Name(), path); err != nil {
			return nil, fmt.Errorf("%w: install %s: %v", ErrIdentity, path, err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return k, nil
}

// DeviceKey is the node's Ed25519 identity key: weft's device key, which
// signs transactions and capabilities (package member).
func (n *Node) DeviceKey() (ed25519.PrivateKey, error) {
	priv := n.host.Peerstore().PrivKey(n.host.ID())
	if priv == nil || priv.Type() != pb.KeyType_Ed25519 {
		return nil, errors.New("p2p: the node's identity is not an Ed25519 key")
	}
	raw, err := priv.Raw()
	if err != nil || len(raw) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("p2p: reading the identity key: %v", err)
	}
	return ed25519.PrivateKey(raw), nil
}

// PeerKey returns the Ed25519 public key a peer ID names (Ed25519 peer IDs
// embed their key); other key types are refused.
func PeerKey(id string) (ed25519.PublicKey, error) {
	pid, err := peer.Decode(id)
	if err != nil {
		return nil, fmt.Errorf("p2p: peer ID %q: %w", id, err)
	}
	pub, err := pid.ExtractPublicKey()
	if err != nil {
		return nil, fmt.Errorf("p2p: peer ID %q names no key: %w", id, err)
	}
	if pub.Type() != pb.KeyType_Ed25519 {
		return nil, fmt.Errorf("p2p: peer %q has a %v key, not Ed25519", id, pub.Type())
	}
	raw, err := pub.Raw()
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("p2p: peer %q: reading its key: %v", id, err)
	}
	return ed25519.PublicKey(raw), nil
}
