package p2p

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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
