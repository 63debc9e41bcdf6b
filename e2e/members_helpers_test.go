package e2e

import (
	"context"
	"strings"
	"testing"

	"weft/api"
)

// Members-only documents (issue 10): a document is shared by invite, and
// a relay hosts it only once a member grants it the pull role. These are
// the only ways the tests share a document; joining by bare ID is refused
// (TestJoinByIDRefused).

// inviteOpts are the optional fields of an invite request.
type inviteOpts struct {
	label   string
	expires int64 // seconds from now; 0: never
}

func (d *daemon) invite(ctx context.Context, id string, req api.InviteRequest) (api.InviteInfo, error) {
	var info api.InviteInfo
	err := d.call(ctx, "POST", "/api/docs/"+id+"/invites", req, &info)
	return info, err
}

func (d *daemon) joinInvite(ctx context.Context, invite string) (api.DocInfo, error) {
	var info api.DocInfo
	err := d.call(ctx, "POST", "/api/join", map[string]string{"invite": invite}, &info)
	return info, err
}

// mustInvite makes an invite to document id with role on d and checks
// what d says it made.
func mustInvite(t testing.TB, d *daemon, id, role string, o inviteOpts) api.InviteInfo {
	t.Helper()
	inv := must(t, d, "invite to "+id, func(ctx context.Context) (api.InviteInfo, error) {
		return d.invite(ctx, id, api.InviteRequest{Role: role, Label: o.label, Expires: o.expires})
	})
	if !strings.HasPrefix(inv.Invite, "weft:invite/") || inv.Doc != id || inv.Role != role {
		t.Fatalf("daemon %s: an invite to %s as %s came back as %+v", d.name, id, role, inv)
	}
	return inv
}

// mustJoin joins d to the document of invite inv (made with
// mustInvite) and checks that d holds it with the invite's role.
func mustJoin(t testing.TB, d *daemon, inv api.InviteInfo) api.DocInfo {
	t.Helper()
	info := must(t, d, "join with an invite to "+inv.Doc, func(ctx context.Context) (api.DocInfo, error) {
		return d.joinInvite(ctx, inv.Invite)
	})
	if info.ID != inv.Doc || info.Role != inv.Role {
		t.Fatalf("daemon %s joined with an invite to %s as %s and holds %s as %q", d.name, inv.Doc, inv.Role, info.ID, info.Role)
	}
	return info
}

// share gives to the role in document id: from (a member allowed to
// invite) makes an invite, to joins with it.
func share(t testing.TB, from, to *daemon, id, role string) {
	t.Helper()
	mustJoin(t, to, mustInvite(t, from, id, role, inviteOpts{label: to.name}))
}

// shareCLI is share with the joining side through the command line
// (`weft doc join INVITE`).
func shareCLI(t testing.TB, from, to *daemon, id, role string) {
	t.Helper()
	inv := mustInvite(t, from, id, role, inviteOpts{label: to.name})
	to.mustCLI(t, []string{"doc", "join"}, inv.Invite)
	for _, doc := range to.mustListDocs(t) {
		if doc.ID == id {
			if doc.Role != role {
				t.Fatalf("daemon %s joined %s as %s through the CLI and holds it as %q", to.name, id, role, doc.Role)
			}
			return
		}
	}
	t.Fatalf("daemon %s joined %s through the CLI and does not list it", to.name, id)
}

// host has member d grant relay r the pull role in each document (POST
// /api/docs/{id}/host with the relay's multiaddr): only then does the
// relay store, acknowledge and serve it.
func host(t testing.TB, d *daemon, r *relayProc, ids ...string) {
	t.Helper()
	for _, id := range ids {
		must(t, d, "host "+id+" on relay "+r.name, func(ctx context.Context) (struct{}, error) {
			return struct{}{}, d.call(ctx, "POST", "/api/docs/"+id+"/host", api.HostRequest{Relay: r.multiaddr()}, nil)
		})
	}
}

func (d *daemon) members(ctx context.Context, id string) ([]api.MemberInfo, error) {
	var ms []api.MemberInfo
	err := d.call(ctx, "GET", "/api/docs/"+id+"/members", nil, &ms)
	return ms, err
}

func (d *daemon) mustMembers(t testing.TB, id string) []api.MemberInfo {
	t.Helper()
	return must(t, d, "members of "+id, func(ctx context.Context) ([]api.MemberInfo, error) { return d.members(ctx, id) })
}

// mustRemove has d remove device from document id (DELETE
// /api/docs/{id}/members/{device}: a revocation and a new epoch).
func mustRemove(t testing.TB, d *daemon, id, device string) {
	t.Helper()
	must(t, d, "remove "+device+" from "+id, func(ctx context.Context) (struct{}, error) {
		return struct{}{}, d.call(ctx, "DELETE", "/api/docs/"+id+"/members/"+device, nil, nil)
	})
}
