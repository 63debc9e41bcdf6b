package replica

import (
	"context"
	"errors"
	"slices"

	"weft/store"
)

// HostPolicy says which documents a relay keeps: all it hears of, or a
// list. A daemon hosts nothing it was not asked to join.
type HostPolicy struct {
	All  bool
	Docs []store.DocID
}

// hosts reports whether a peer's catch-up for an unknown document should
// make this replica keep it.
func (m *Manager) hosts(id store.DocID) bool {
	return m.opts.Host.All || slices.Contains(m.opts.Host.Docs, id)
}

// host creates (if needed) and joins a document a relay keeps.
func (m *Manager) host(ctx context.Context, id store.DocID) (*docState, error) {
	if err := m.opts.Store.CreateDoc(ctx, id, ""); err != nil && !errors.Is(err, store.ErrExists) {
		return nil, err
	}
	return m.join(id)
}
