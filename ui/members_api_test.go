package ui_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"weft/api"
	"weft/member"
	"weft/ui"
	"weft/ui/uitest"
)

const (
	relayAddr = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWRelayRelayRelay"
	// otherDevice is a well-formed device ID no document has.
	otherDevice = "YRTn309zC4crasfftfQfEsjm1sVLMUG4YNeUgswJZL8"
)

// The ui's own bounds must agree with the formats of package member.
func TestBoundsMatchMember(t *testing.T) {
	if ui.MaxInviteChars < member.MaxInviteChars {
		t.Errorf("ui.MaxInviteChars %d refuses invites member accepts (up to %d)", ui.MaxInviteChars, member.MaxInviteChars)
	}
	if err := ui.CheckDeviceID(uitest.Device); err != nil {
		t.Errorf("the fake's device ID: %v", err)
	}
	if err := ui.CheckLabel(strings.Repeat("é", member.MaxLabelBytes/2)); err != nil {
		t.Errorf("a label of %d bytes: %v", member.MaxLabelBytes, err)
	}
}

// newMembersDoc creates a document through the API; this device is its
// admin.
func newMembersDoc(t *testing.T, s http.Handler) string {
	t.Helper()
	info := decode[api.DocInfo](t, do(t, s, "POST", "/api/docs", `{"title":"shared"}`), http.StatusCreated)
	if info.Role != api.RoleAdmin {
		t.Fatalf("created %+v, want this device admin", info)
	}
	return info.ID
}

func members(t *testing.T, s http.Handler, id string) []api.MemberInfo {
	t.Helper()
	return decode[[]api.MemberInfo](t, do(t, s, "GET", "/api/docs/"+id+"/members", ""), http.StatusOK)
}

func TestInviteAndMembers(t *testing.T) {
	s, _ := newServer(t)
	id := newMembersDoc(t, s)
	w := do(t, s, "POST", "/api/docs/"+id+"/invites", `{"role":"write","label":"Bob's laptop","expires":3600}`)
	inv := decode[api.InviteInfo](t, w, http.StatusCreated)
	if !strings.HasPrefix(inv.Invite, "weft:invite/") || ui.CheckInvite(inv.Invite) != nil ||
		inv.Doc != id || inv.Role != api.RoleWrite || inv.Label != "Bob's laptop" || inv.Expires.IsZero() {
		t.Fatalf("invite %+v", inv)
	}
	// No label, no expiry: omitted from the reply.
	w = do(t, s, "POST", "/api/docs/"+id+"/invites", `{"role":"pull"}`)
	if w.Code != http.StatusCreated || strings.Contains(w.Body.String(), "expires") || strings.Contains(w.Body.String(), "label") {
		t.Fatalf("pull invite: %d %s", w.Code, w.Body)
	}
	ms := members(t, s, id)
	if len(ms) != 3 {
		t.Fatalf("members %+v, want self and two invites", ms)
	}
	if self := ms[0]; self.Device != uitest.Device || !self.Self || self.Role != api.RoleAdmin || self.Invite {
		t.Errorf("self %+v", self)
	}
	if bob := ms[1]; ui.CheckDeviceID(bob.Device) != nil || !bob.Invite || bob.Role != api.RoleWrite ||
		bob.Label != "Bob's laptop" || bob.InvitedBy != uitest.Device || !bob.Expires.Equal(inv.Expires) {
		t.Errorf("invite member %+v", bob)
	}
	st := decode[api.DocStatus](t, do(t, s, "GET", "/api/docs/"+id+"/status", ""), http.StatusOK)
	if st.Role != api.RoleAdmin || st.Members != 1 || st.Epoch != 0 || st.Forks != nil {
		t.Fatalf("status %+v: want admin, 1 member (invites do not count), epoch 0", st)
	}
	// Every role may be invited by an admin.
	for _, role := range []string{"read", "write", "admin", "pull"} {
		decode[api.InviteInfo](t, do(t, s, "POST", "/api/docs/"+id+"/invites", `{"role":"`+role+`"}`), http.StatusCreated)
	}
}

func TestJoinByInvite(t *testing.T) {
	s, fake := newServer(t)
	invite := fake.Offer(docA, "their notes", "hello", api.RoleRead)
	info := decode[api.DocInfo](t, do(t, s, "POST", "/api/join", `{"invite":"`+invite+`"}`), http.StatusOK)
	if info.ID != docA || info.Role != api.RoleRead || info.Title != "their notes" {
		t.Fatalf("joined %+v", info)
	}
	if got := do(t, s, "GET", "/api/docs/"+docA+"/text", "").Body.String(); got != "hello" {
		t.Fatalf("text %q", got)
	}
	// Joining again changes nothing; joining by ID is refused.
	decode[api.DocInfo](t, do(t, s, "POST", "/api/join", `{"invite":"`+invite+`"}`), http.StatusOK)
	wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/join", ""), http.StatusBadRequest, "need_invite", "ask a member")
	// A well-formed invite nobody made reaches the backend, which refuses it.
	wantError(t, do(t, s, "POST", "/api/join", `{"invite":"weft:invite/AAAA"}`), http.StatusBadRequest, "bad_input", "not an invite")
}

func TestExpiredInviteRefused(t *testing.T) {
	s, fake := newServer(t)
	id := newMembersDoc(t, s)
	inv := decode[api.InviteInfo](t, do(t, s, "POST", "/api/docs/"+id+"/invites", `{"role":"read","expires":60}`), http.StatusCreated)
	fake.Advance(time.Minute)
	wantError(t, do(t, s, "POST", "/api/join", `{"invite":"`+inv.Invite+`"}`), http.StatusBadRequest, "bad_input", "expired")
}

func TestRolesAreEnforced(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "abc")
	edit := `{"edits":[{"pos":0,"ins":"x"}]}`
	for _, role := range []string{api.RoleRead, api.RolePull} {
		fake.SetRole(docA, role)
		wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/edits", edit), http.StatusForbidden, "forbidden", "not allowed by this device's role", role+" member")
		wantError(t, do(t, s, "PATCH", "/api/docs/"+docA, `{"title":"x"}`), http.StatusForbidden, "forbidden", role)
	}
	wantError(t, do(t, s, "GET", "/api/docs/"+docA+"/text", ""), http.StatusForbidden, "forbidden", "pull member")
	for _, role := range []string{api.RoleRead, api.RoleWrite, api.RolePull} {
		fake.SetRole(docA, role)
		wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/invites", `{"role":"read"}`), http.StatusForbidden, "forbidden", "only an admin")
		wantError(t, do(t, s, "DELETE", "/api/docs/"+docA+"/members/"+otherDevice, ""), http.StatusForbidden, "forbidden", "only an admin")
		wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/host", `{"relay":"`+relayAddr+`"}`), http.StatusForbidden, "forbidden", "only an admin")
		members(t, s, docA) // every member may list the members
	}
	fake.SetRole(docA, api.RoleWrite)
	decode[api.EditResult](t, do(t, s, "POST", "/api/docs/"+docA+"/edits", edit), http.StatusOK)
	if got := do(t, s, "GET", "/api/docs/"+docA+"/text", "").Body.String(); got != "xabc" {
		t.Fatalf("text %q: only the writer's edit should be there", got)
	}
}

func TestRemoveMember(t *testing.T) {
	s, fake := newServer(t)
	id := newMembersDoc(t, s)
	fake.AddMember(id, api.MemberInfo{Device: otherDevice, Label: "carol", Role: api.RoleWrite, InvitedBy: uitest.Device})
	if st := decode[api.DocStatus](t, do(t, s, "GET", "/api/docs/"+id+"/status", ""), http.StatusOK); st.Members != 2 || st.Epoch != 0 {
		t.Fatalf("before: %+v", st)
	}
	w := do(t, s, "DELETE", "/api/docs/"+id+"/members/"+otherDevice, "")
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("remove: %d %q, want 204 and no body", w.Code, w.Body)
	}
	ms := members(t, s, id)
	if i := slices.IndexFunc(ms, func(m api.MemberInfo) bool { return m.Device == otherDevice }); i < 0 || !ms[i].Removed {
		t.Fatalf("members after removal %+v", ms)
	}
	if st := decode[api.DocStatus](t, do(t, s, "GET", "/api/docs/"+id+"/status", ""), http.StatusOK); st.Members != 1 || st.Epoch != 1 {
		t.Fatalf("after: %+v, want 1 member and a new epoch", st)
	}
	missing := strings.Repeat("A", 43)
	wantError(t, do(t, s, "DELETE", "/api/docs/"+id+"/members/"+missing, ""), http.StatusBadRequest, "bad_input", "has no member "+missing)
	wantError(t, do(t, s, "DELETE", "/api/docs/"+id+"/members/"+uitest.Device, ""), http.StatusBadRequest, "bad_input", "cannot remove itself")
}

func TestHost(t *testing.T) {
	s, fake := newServer(t)
	id := newMembersDoc(t, s)
	w := do(t, s, "POST", "/api/docs/"+id+"/host", `{"relay":"`+relayAddr+`"}`)
	if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
		t.Fatalf("host: %d %q, want 204", w.Code, w.Body)
	}
	if got := fake.Hosted(id); !slices.Equal(got, []string{relayAddr}) {
		t.Fatalf("hosted %q", got)
	}
	ms := members(t, s, id)
	if last := ms[len(ms)-1]; last.Role != api.RolePull || last.Label != "relay 12D3KooWRelayRelayRelay" {
		t.Fatalf("the relay's membership %+v", last)
	}
}

func TestUpgrade(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "old notes", "legacy text ✓")
	wantError(t, do(t, s, "GET", "/api/docs/"+docA+"/members", ""), http.StatusBadRequest, "bad_input", "legacy document", "weft doc upgrade "+docA)
	wantError(t, do(t, s, "POST", "/api/docs/"+docA+"/invites", `{"role":"read"}`), http.StatusBadRequest, "bad_input", "legacy document")
	w := do(t, s, "POST", "/api/docs/"+docA+"/upgrade", "")
	info := decode[api.DocInfo](t, w, http.StatusCreated)
	if info.ID == docA || info.Role != api.RoleAdmin || info.Title != "old notes" {
		t.Fatalf("upgraded %+v", info)
	}
	if loc := w.Header().Get("Location"); loc != "/api/docs/"+info.ID {
		t.Errorf("Location %q", loc)
	}
	if got := do(t, s, "GET", "/api/docs/"+info.ID+"/text", "").Body.String(); got != "legacy text ✓" {
		t.Fatalf("the copy holds %q", got)
	}
	// The legacy document stays as it was, readable and editable.
	decode[api.EditResult](t, do(t, s, "POST", "/api/docs/"+docA+"/edits", `{"edits":[{"pos":0,"ins":"still "}]}`), http.StatusOK)
	decode[api.InviteInfo](t, do(t, s, "POST", "/api/docs/"+info.ID+"/invites", `{"role":"write"}`), http.StatusCreated)
	wantError(t, do(t, s, "POST", "/api/docs/"+info.ID+"/upgrade", ""), http.StatusBadRequest, "bad_input", "members-only already")
}

func TestMembersBadInputIs400(t *testing.T) {
	s, fake := newServer(t)
	id := newMembersDoc(t, s)
	invites, join := "/api/docs/"+id+"/invites", "/api/join"
	remove, host := "/api/docs/"+id+"/members/", "/api/docs/"+id+"/host"
	cases := []struct {
		name, method, path, body, mention string
	}{
		{"unknown role", "POST", invites, `{"role":"owner"}`, `unknown role "owner" (allowed: read, write, admin, pull)`},
		{"role in capitals", "POST", invites, `{"role":"Write"}`, `unknown role "Write"`},
		{"no role", "POST", invites, `{"label":"x"}`, "a role is required: read, write, admin or pull"},
		{"label too long", "POST", invites, `{"role":"read","label":"` + strings.Repeat("x", 65) + `"}`, "label of 65 bytes; at most 64"},
		{"label with newline", "POST", invites, `{"role":"read","label":"a\nb"}`, "label has a control character"},
		{"label with NUL", "POST", invites, `{"role":"read","label":"a\u0000"}`, "control character"},
		{"label with C1 control", "POST", invites, `{"role":"read","label":"a\u0085"}`, "control character"},
		{"negative expires", "POST", invites, `{"role":"read","expires":-1}`, "expires -1 is negative"},
		{"expires too far", "POST", invites, `{"role":"read","expires":99999999999}`, "100 years"},
		{"fractional expires", "POST", invites, `{"role":"read","expires":1.5}`, `"expires" must be a whole number`},
		{"invite with extra field", "POST", invites, `{"role":"read","secret":"x"}`, `unknown field "secret"`},
		{"invite without body", "POST", invites, ``, "empty body"},
		{"invite bad doc ID", "POST", "/api/docs/xyz/invites", `{"role":"read"}`, `"xyz" is not a document ID`},
		{"join without invite", "POST", join, `{}`, `body needs an "invite"`},
		{"join empty body", "POST", join, ``, "empty body"},
		{"join a document ID", "POST", join, `{"invite":"` + docA + `"}`, "is not an invite (an invite starts \"weft:invite/\")"},
		{"join a link", "POST", join, `{"invite":"https://example.com/weft:invite/AAAA"}`, "is not an invite"},
		{"join empty invite", "POST", join, `{"invite":"weft:invite/"}`, "invite is empty"},
		{"join wrapped invite", "POST", join, `{"invite":"weft:invite/AAAA\nBBBB"}`, "base64url"},
		{"join padded invite", "POST", join, `{"invite":"weft:invite/AAA="}`, `"=" at character 15`},
		{"join huge invite", "POST", join, `{"invite":"weft:invite/` + strings.Repeat("A", ui.MaxInviteChars) + `"}`, "at most 16384"},
		{"join extra field", "POST", join, `{"invite":"weft:invite/AAAA","doc":"x"}`, "unknown field"},
		{"device too short", "DELETE", remove + "abc", ``, `"abc" is not a device ID (want 43 base64url characters, got 3)`},
		{"device too long", "DELETE", remove + otherDevice + "A", ``, "got 44"},
		{"device not base64url", "DELETE", remove + strings.Repeat("+", 43), ``, "not the base64url of a public key"},
		{"device not canonical", "DELETE", remove + strings.Repeat("A", 42) + "B", ``, "not the base64url"},
		{"remove bad doc ID", "DELETE", "/api/docs/xyz/members/" + otherDevice, ``, "not a document ID"},
		{"host without relay", "POST", host, `{}`, "the relay's multiaddr is empty"},
		{"host no slash", "POST", host, `{"relay":"ip4/1.2.3.4/tcp/1/p2p/X"}`, "is not a multiaddr"},
		{"host no p2p", "POST", host, `{"relay":"/ip4/1.2.3.4/tcp/4001"}`, "does not end in /p2p/<peer ID>"},
		{"host p2p not last", "POST", host, `{"relay":"/ip4/1.2.3.4/tcp/4001/p2p/X/p2p-circuit"}`, "does not end in /p2p/<peer ID>"},
		{"host empty peer", "POST", host, `{"relay":"/ip4/1.2.3.4/tcp/4001/p2p/"}`, "does not end in /p2p/<peer ID>"},
		{"host with space", "POST", host, `{"relay":"/ip4/1.2.3.4/tcp/4001/p2p/X "}`, "spaces or control characters"},
		{"host huge", "POST", host, `{"relay":"/` + strings.Repeat("x", ui.MaxRelayAddr) + `/p2p/X"}`, "at most 1024"},
		{"host extra field", "POST", host, `{"relay":"` + relayAddr + `","quota":1}`, "unknown field"},
		{"upgrade with fields", "POST", "/api/docs/" + docA + "/upgrade", `{"title":"x"}`, "unknown field"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantError(t, do(t, s, c.method, c.path, c.body), http.StatusBadRequest, "bad_input", c.mention)
		})
	}
	// None reached the backend: the document has its admin only, and no relay.
	if ms := members(t, s, id); len(ms) != 1 || len(fake.Hosted(id)) != 0 {
		t.Fatalf("bad requests changed the members: %+v", ms)
	}
}

func TestMembersRoutesUnknownDocIs404(t *testing.T) {
	s, _ := newServer(t)
	for _, r := range [][3]string{
		{"POST", "/api/docs/" + docA + "/invites", `{"role":"read"}`},
		{"GET", "/api/docs/" + docA + "/members", ""},
		{"DELETE", "/api/docs/" + docA + "/members/" + otherDevice, ""},
		{"POST", "/api/docs/" + docA + "/host", `{"relay":"` + relayAddr + `"}`},
		{"POST", "/api/docs/" + docA + "/upgrade", ""},
	} {
		wantError(t, do(t, s, r[0], r[1], r[2]), http.StatusNotFound, "unknown_doc", "unknown document", docA)
	}
}

func TestMembersRoutesMapBackendErrors(t *testing.T) {
	s, fake := newServer(t)
	fake.Put(docA, "", "x")
	routes := [][3]string{
		{"POST", "/api/docs/" + docA + "/invites", `{"role":"read"}`},
		{"POST", "/api/join", `{"invite":"weft:invite/AAAA"}`},
		{"GET", "/api/docs/" + docA + "/members", ""},
		{"DELETE", "/api/docs/" + docA + "/members/" + otherDevice, ""},
		{"POST", "/api/docs/" + docA + "/host", `{"relay":"` + relayAddr + `"}`},
		{"POST", "/api/docs/" + docA + "/upgrade", ""},
		{"POST", "/api/docs/" + docA + "/join", ""},
		{"POST", "/api/docs/" + docA + "/edits", `{"edits":[{"pos":0,"ins":"x"}]}`},
	}
	cases := []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: a writer inviting", api.ErrForbidden), http.StatusForbidden, "forbidden"},
		{fmt.Errorf("document x: %w", api.ErrNeedInvite), http.StatusBadRequest, "need_invite"},
		{fmt.Errorf("%w: x", api.ErrUnknownDoc), http.StatusNotFound, "unknown_doc"},
		{fmt.Errorf("%w: bad chain", api.ErrBadInput), http.StatusBadRequest, "bad_input"},
		{fmt.Errorf("stopping: %w", api.ErrClosed), http.StatusServiceUnavailable, "closed"},
		{errors.New("replica: not wired yet"), http.StatusInternalServerError, "internal"},
		{context.DeadlineExceeded, http.StatusInternalServerError, "internal"},
	}
	for _, c := range cases {
		fake.SetErr(c.err)
		for _, r := range routes {
			wantError(t, do(t, s, r[0], r[1], r[2]), c.status, c.code, c.err.Error())
		}
	}
}

func TestMembersRoutesMethods(t *testing.T) {
	s, _ := newServer(t)
	for _, r := range [][3]string{
		{"GET", "/api/join", "POST"},
		{"GET", "/api/docs/" + docA + "/invites", "POST"},
		{"PUT", "/api/docs/" + docA + "/members/" + otherDevice, "DELETE"},
		{"DELETE", "/api/docs/" + docA + "/members", "GET"},
		{"GET", "/api/docs/" + docA + "/upgrade", "POST"},
	} {
		w := do(t, s, r[0], r[1], "")
		wantError(t, w, http.StatusMethodNotAllowed, "method_not_allowed")
		if allow := w.Header().Get("Allow"); !strings.Contains(allow, r[2]) {
			t.Errorf("%s %s: Allow %q, want %s", r[0], r[1], allow, r[2])
		}
	}
}

func TestForksInStatus(t *testing.T) {
	s, fake := newServer(t)
	id := newMembersDoc(t, s)
	fake.SetForks(id, []string{otherDevice + "@7"})
	st := decode[api.DocStatus](t, do(t, s, "GET", "/api/docs/"+id+"/status", ""), http.StatusOK)
	if !slices.Equal(st.Forks, []string{otherDevice + "@7"}) {
		t.Fatalf("forks %q", st.Forks)
	}
}
