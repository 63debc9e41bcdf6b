package replica

import (
	"context"
	"fmt"

	"weft/api"
)

// Members-only documents (issue 10): the API is declared; the wiring lands
// next. Until then each call says so.
var errMembersPending = fmt.Errorf("%w: members-only documents are not wired yet", api.ErrBadInput)

// Invite makes an invite to document id.
func (m *Manager) Invite(ctx context.Context, id string, req api.InviteRequest) (api.InviteInfo, error) {
	return api.InviteInfo{}, errMembersPending
}

// JoinInvite joins the document an invite is for.
func (m *Manager) JoinInvite(ctx context.Context, invite string) (api.DocInfo, error) {
	return api.DocInfo{}, errMembersPending
}

// Members lists the members of document id.
func (m *Manager) Members(ctx context.Context, id string) ([]api.MemberInfo, error) {
	return nil, errMembersPending
}

// RemoveMember revokes a device and rotates the document's read secret.
func (m *Manager) RemoveMember(ctx context.Context, id, device string) error {
	return errMembersPending
}

// Host grants a relay the pull role for document id.
func (m *Manager) Host(ctx context.Context, id string, req api.HostRequest) error {
	return errMembersPending
}

// Upgrade makes a members-only copy of a legacy document.
func (m *Manager) Upgrade(ctx context.Context, id string) (api.DocInfo, error) {
	return api.DocInfo{}, errMembersPending
}
