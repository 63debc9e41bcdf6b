package replica

import (
	"context"
	"fmt"

	"weft/api"
	"weft/member"
)

// askRelaysToDrop asks the relays hosting a document to drop it, when
// this device may: it is the document's admin, or its last member
// (lastMember). It says why it asked or did not, and what each relay
// answered.
func (m *Manager) askRelaysToDrop(ctx context.Context, d *docState) (string, []api.RelayDrop) {
	ms := d.mem
	role := ms.role()
	ms.mu.Lock()
	last, others := lastMember(ms.book, m.dev.Public(), m.opts.Now())
	ms.mu.Unlock()
	var why string
	switch {
	case role == member.RoleAdmin:
		why = "admin"
	case last:
		why = "last member"
	default:
		return fmt.Sprintf("not asked: this device is not an admin and %d other members read the document", others), []api.RelayDrop{}
	}
	return why, m.sendDrops(ctx, d, why)
}
