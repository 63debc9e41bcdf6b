package replica

import (
	"context"

	"weft/api"
)

func (m *Manager) sendDrops(ctx context.Context, d *docState, why string) []api.RelayDrop {
	return []api.RelayDrop{}
}
