//go:build !unix

package store

// On systems without flock the store relies on badger's own directory lock,
// which cannot name the holder.
type dirLock struct{}

func lockDir(dir string) (*dirLock, error) { return &dirLock{}, nil }
func (l *dirLock) unlock() error           { return nil }
