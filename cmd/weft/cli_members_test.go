package main

import (
	"encoding/base64"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"weft/api"
	"weft/ui/uitest"
)

const testRelay = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWBJQELosTmABWLTGXsGTWJaCr4yXhTzJaJhzZxWLVdrV5"

// deviceID makes a well-formed device ID from a public key whose bytes
// are all zero but the last.
func deviceID(last byte) string {
	var pub [32]byte
	pub[31] = last
	return base64.RawURLEncoding.EncodeToString(pub[:])
}

// newDoc makes a document through the CLI (this device is its admin).
func (d *fakeDaemon) newDoc(t *testing.T) string {
	t.Helper()
	return strings.TrimSuffix(d.ok(t, "doc", "new", "--title", "shared"), "\n")
}

func (d *fakeDaemon) members(t *testing.T, id string) []api.MemberInfo {
	t.Helper()
	var ms []api.MemberInfo
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "members", id, "--json")), &ms); err != nil {
		t.Fatal(err)
	}
	return ms
}

func TestDocInvite(t *testing.T) {
	d := startFakeDaemon(t)
	id := d.newDoc(t)
	code, out, errs := d.cli(t, "doc", "invite", id, "--role", "write", "--label", "Bob's laptop", "--expires", "7d")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	invite, ok := strings.CutSuffix(out, "\n")
	if !ok || strings.Contains(invite, "\n") || !strings.HasPrefix(invite, "weft:invite/") {
		t.Fatalf("stdout %q, want one invite line", out)
	}
	if want := "hint: the editor joins with " + d.url + "/#join=" + invite + " "; !strings.HasPrefix(errs, want) || strings.Count(errs, "\n") != 1 {
		t.Fatalf("stderr %q, want one hint line starting %q", errs, want)
	}
	ms := d.members(t, id)
	if len(ms) != 2 {
		t.Fatalf("members %+v", ms)
	}
	created, inv := ms[0], ms[1]
	if !created.Self || created.Role != api.RoleAdmin {
		t.Errorf("creator %+v", created)
	}
	// The fake's clock: the invite is made a second after the document.
	if !inv.Invite || inv.Role != api.RoleWrite || inv.Label != "Bob's laptop" || inv.InvitedBy != uitest.Device ||
		inv.Expires.Sub(d.docCreated(t, id)) != 7*24*time.Hour+time.Second {
		t.Errorf("invite member %+v", inv)
	}

	// A pull invite is for a relay: no editor link.
	code, out, errs = d.cli(t, "doc", "invite", id, "--role", "pull")
	if code != 0 || !strings.HasPrefix(out, "weft:invite/") || !strings.HasPrefix(errs, "hint: a pull invite is for a relay") {
		t.Fatalf("pull invite: exit %d, stdout %q, stderr %q", code, out, errs)
	}
}

func (d *fakeDaemon) docCreated(t *testing.T, id string) time.Time {
	t.Helper()
	docs, err := d.fake.ListDocs(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs {
		if doc.ID == id {
			return doc.Created
		}
	}
	t.Fatalf("no document %s", id)
	return time.Time{}
}

func TestDocJoin(t *testing.T) {
	d := startFakeDaemon(t)
	invite := d.fake.Offer(testDocID, "their notes", "hello 👋", api.RoleRead)
	if out := d.ok(t, "doc", "join", invite); out != testDocID+"\n" {
		t.Fatalf("join printed %q", out)
	}
	if got := d.ok(t, "doc", "cat", testDocID); got != "hello 👋" {
		t.Fatalf("joined document holds %q", got)
	}
	if !strings.Contains(d.ok(t, "doc", "list"), " read ") {
		t.Fatal("doc list does not show the role read")
	}
	// The editor link works too, plain or escaped, and so does a pasted
	// line with its newline.
	other := "ffeeddccbbaa99887766554433221100"
	for i, arg := range []string{
		"http://127.0.0.1:7420/#join=" + d.fake.Offer(other, "", "", api.RoleWrite),
		"http://127.0.0.1:7420/#join=" + url.PathEscape(d.fake.Offer(other, "", "", api.RoleWrite)),
		d.fake.Offer(other, "", "", api.RoleWrite) + "\n",
	} {
		if out := d.ok(t, "doc", "join", arg); out != other+"\n" {
			t.Fatalf("join %d printed %q", i, out)
		}
	}
}

func TestDocJoinByIDAsksForAnInvite(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "", "legacy") // the daemon would join it by ID
	for _, id := range []string{testDocID, strings.ToUpper(testDocID)} {
		code, out, errs := d.cli(t, "doc", "join", id)
		fails(t, 2, "is a document ID; documents are joined with an invite: ask a member for one (`weft doc invite "+testDocID+" --role write`)", code, out, errs)
	}
	// Without a daemon the answer is the same: the daemon is not asked.
	code, out, errs := cliIn(t, t.TempDir(), "doc", "join", testDocID)
	fails(t, 2, "ask a member for one", code, out, errs)
}

func TestDocMembersTable(t *testing.T) {
	d := startFakeDaemon(t)
	id := d.newDoc(t)
	carol, dave, eve := deviceID(1), deviceID(2), deviceID(3)
	d.fake.AddMember(id, api.MemberInfo{Device: carol, Label: "carol", Role: api.RoleWrite, InvitedBy: uitest.Device})
	d.fake.AddMember(id, api.MemberInfo{Device: dave, Label: "dave\tphone", Role: api.RoleRead, InvitedBy: carol, Removed: true})
	d.fake.AddMember(id, api.MemberInfo{Device: eve, Role: api.RoleRead, InvitedBy: uitest.Device, Invite: true,
		Expires: time.Date(2030, 1, 2, 3, 4, 0, 0, time.Local)})
	out := d.ok(t, "doc", "members", id)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	fields := func(i int) []string { return strings.Fields(lines[i]) }
	want := [][]string{
		{"DEVICE", "LABEL", "ROLE", "INVITED", "BY", "EXPIRES", "FLAGS"},
		{uitest.Device[:12] + "…", "-", "admin", "(document", "key)", "-", "self"},
		{carol[:12] + "…", "carol", "write", uitest.Device[:12] + "…", "-", "-"},
		{dave[:12] + "…", `"dave\tphone"`, "read", carol[:12] + "…", "-", "removed"},
		{eve[:12] + "…", "-", "read", uitest.Device[:12] + "…", "2030-01-02", "03:04", "invite"},
	}
	if len(lines) != len(want) {
		t.Fatalf("members:\n%s", out)
	}
	for i := range want {
		if !slices.Equal(fields(i), want[i]) {
			t.Errorf("line %d: %q, want %q", i, fields(i), want[i])
		}
	}
	long := d.ok(t, "doc", "members", id, "--long")
	if !strings.Contains(long, uitest.Device+" ") || !strings.Contains(long, carol+" ") || strings.Contains(long, "…") {
		t.Fatalf("members --long:\n%s", long)
	}
	ms := d.members(t, id)
	if len(ms) != 4 || ms[2].Device != dave || !ms[2].Removed || ms[2].Label != "dave\tphone" {
		t.Fatalf("members --json: %+v", ms)
	}
}

func TestDocRemove(t *testing.T) {
	d := startFakeDaemon(t)
	id := d.newDoc(t)
	a, b := deviceID(1), deviceID(2) // both start with 42 A's
	b = b[:30] + "B" + b[31:]        // and now only 30
	d.fake.AddMember(id, api.MemberInfo{Device: a, Role: api.RoleWrite, InvitedBy: uitest.Device})
	d.fake.AddMember(id, api.MemberInfo{Device: b, Role: api.RoleRead, InvitedBy: uitest.Device})

	d.failsAll(t, []cliFailure{
		{"ambiguous", []string{"doc", "remove", id, "AAAA"}, 1, `doc remove: document ` + id + `: "AAAA" starts 2 members' devices (` + a + ", " + b + "); give more of it"},
		{"no such device", []string{"doc", "remove", id, "zzzz"}, 1, `no member's device starts with "zzzz" (see ` + "`weft doc members`)"},
		{"not base64url", []string{"doc", "remove", id, "a/b"}, 2, `DEVICE "a/b" is not a device ID or the start of one`},
		{"empty", []string{"doc", "remove", id, ""}, 2, "is not a device ID"},
		{"one argument", []string{"doc", "remove", id}, 2, "doc remove: want ID DEVICE, got 1 argument"},
	})
	// A unique start, as `doc members` prints it (with its ellipsis).
	if out := d.ok(t, "doc", "remove", id, b[:31]+"…"); out != b+"\n" {
		t.Fatalf("remove printed %q, want %s", out, b)
	}
	// A whole ID wins over being the start of none other.
	if out := d.ok(t, "doc", "remove", id, a); out != a+"\n" {
		t.Fatalf("remove printed %q", out)
	}
	for _, m := range d.members(t, id)[1:] {
		if !m.Removed {
			t.Errorf("%s not removed", m.Device)
		}
	}
	var st api.DocStatus
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "status", id)), &st); err != nil || st.Epoch != 2 || st.Members != 1 {
		t.Fatalf("status after two removals: %+v %v", st, err)
	}
}

func TestDocHost(t *testing.T) {
	d := startFakeDaemon(t)
	id := d.newDoc(t)
	if out := d.ok(t, "doc", "host", id, "--relay", testRelay); out != "" {
		t.Fatalf("host printed %q", out)
	}
	if got := d.fake.Hosted(id); !slices.Equal(got, []string{testRelay}) {
		t.Fatalf("hosted %q", got)
	}
	ms := d.members(t, id)
	if last := ms[len(ms)-1]; last.Role != api.RolePull {
		t.Fatalf("the relay's membership %+v", last)
	}
	d.failsAll(t, []cliFailure{
		{"no relay", []string{"doc", "host", id}, 2, "--relay is required: the relay's multiaddr, ending in /p2p/<peer ID>"},
		{"no peer ID", []string{"doc", "host", id, "--relay", "/ip4/203.0.113.7/tcp/4001"}, 2, "has no /p2p/<peer id>"},
		{"not a multiaddr", []string{"doc", "host", id, "--relay", "relay.example:4001"}, 2, `--relay "relay.example:4001"`},
		{"bad peer ID", []string{"doc", "host", id, "--relay", "/ip4/203.0.113.7/tcp/4001/p2p/notapeer"}, 2, "--relay"},
	})
}

func TestDocUpgrade(t *testing.T) {
	d := startFakeDaemon(t)
	d.fake.Put(testDocID, "old notes", "legacy text ✓")
	out := d.ok(t, "doc", "upgrade", testDocID)
	id, ok := strings.CutSuffix(out, "\n")
	if !ok || len(id) != 32 || id == testDocID {
		t.Fatalf("upgrade printed %q, want the copy's ID", out)
	}
	if got := d.ok(t, "doc", "cat", id); got != "legacy text ✓" {
		t.Fatalf("the copy holds %q", got)
	}
	list := d.ok(t, "doc", "list")
	if !strings.Contains(list, testDocID+"  old notes  legacy ") || !strings.Contains(list, id+"  old notes  admin ") {
		t.Fatalf("doc list:\n%s", list)
	}
	// The legacy document stays editable; the copy can be shared.
	d.ok(t, "doc", "insert", testDocID, "0", "still ")
	code, inv, _ := d.cli(t, "doc", "invite", id, "--role", "read")
	if code != 0 || !strings.HasPrefix(inv, "weft:invite/") {
		t.Fatalf("invite to the copy: exit %d %q", code, inv)
	}
	code, out, errs := d.cli(t, "doc", "upgrade", id)
	fails(t, 1, "members-only already", code, out, errs)
}

func TestDocStatusShowsMembership(t *testing.T) {
	d := startFakeDaemon(t)
	id := d.newDoc(t)
	var st map[string]any
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "status", id)), &st); err != nil {
		t.Fatal(err)
	}
	if st["role"] != "admin" || st["members"] != 1.0 || st["epoch"] != 0.0 || st["forks"] != nil {
		t.Fatalf("status %v", st)
	}
	d.fake.SetForks(id, []string{deviceID(9) + "@3"})
	if err := json.Unmarshal([]byte(d.ok(t, "doc", "status", id)), &st); err != nil {
		t.Fatal(err)
	}
	if forks, _ := st["forks"].([]any); len(forks) != 1 || forks[0] != deviceID(9)+"@3" {
		t.Fatalf("forks %v", st["forks"])
	}
}

func TestDocMembersErrors(t *testing.T) {
	d := startFakeDaemon(t)
	id := d.newDoc(t)
	reader := "0000000000000000000000000000beef"
	d.fake.Put(reader, "", "abc")
	d.fake.SetRole(reader, api.RoleRead)
	d.fake.AddMember(reader, api.MemberInfo{Device: deviceID(5), Role: api.RoleWrite})
	d.fake.Put(testDocID, "", "legacy")
	unknown := "ffffffffffffffffffffffffffffffff"
	d.failsAll(t, []cliFailure{
		{"invite without role", []string{"doc", "invite", id}, 2, "doc invite: --role is required: read, write, admin or pull"},
		{"unknown role", []string{"doc", "invite", id, "--role", "owner"}, 2, `--role: unknown role "owner" (allowed: read, write, admin, pull)`},
		{"label too long", []string{"doc", "invite", id, "--role", "read", "--label", strings.Repeat("x", 65)}, 2, "--label: label of 65 bytes; at most 64"},
		{"label with newline", []string{"doc", "invite", id, "--role", "read", "--label", "a\nb"}, 2, "control character"},
		{"expires not a duration", []string{"doc", "invite", id, "--role", "read", "--expires", "soon"}, 2, `--expires: "soon" is not a duration (want one like 90m, 12h or 7d)`},
		{"expires zero", []string{"doc", "invite", id, "--role", "read", "--expires", "0s"}, 2, "less than a second; leave --expires out"},
		{"expires too far", []string{"doc", "invite", id, "--role", "read", "--expires", "40000d"}, 2, "more than 100 years"},
		{"invite bad ID", []string{"doc", "invite", "abc", "--role", "read"}, 2, `"abc" is not a document ID`},
		{"invite unknown doc", []string{"doc", "invite", unknown, "--role", "read"}, 1, "weft: unknown document " + unknown + "\n"},
		{"reader invites", []string{"doc", "invite", reader, "--role", "read"}, 1, "not allowed by this device's role: document " + reader + ": this device is a read member; only an admin may invite"},
		{"reader edits", []string{"doc", "insert", reader, "0", "x"}, 1, "this device is a read member and cannot edit"},
		{"reader removes", []string{"doc", "remove", reader, "AAAA"}, 1, "this device is a read member; only an admin may remove members"},
		{"reader hosts", []string{"doc", "host", reader, "--relay", testRelay}, 1, "only an admin may grant hosting"},
		{"legacy invite", []string{"doc", "invite", testDocID, "--role", "read"}, 1, "legacy document, without members; make a members-only copy with `weft doc upgrade " + testDocID + "`"},
		{"legacy members", []string{"doc", "members", testDocID}, 1, "weft doc upgrade " + testDocID},
		{"members unknown doc", []string{"doc", "members", unknown}, 1, "weft: unknown document " + unknown + "\n"},
		{"join not an invite", []string{"doc", "join", "hello"}, 2, `doc join: "hello" is not an invite (an invite starts "weft:invite/")`},
		{"join cut invite", []string{"doc", "join", "weft:invite/AB CD"}, 2, "base64url"},
		{"join unknown invite", []string{"doc", "join", "weft:invite/AAAA"}, 1, "not an invite (its signature does not check)"},
		{"join two arguments", []string{"doc", "join", "a", "b"}, 2, "doc join: want INVITE, got 2 arguments"},
		{"upgrade unknown doc", []string{"doc", "upgrade", unknown}, 1, "weft: unknown document " + unknown + "\n"},
	})
	if got := d.ok(t, "doc", "cat", reader); got != "abc" {
		t.Fatalf("a reader's edit went through: %q", got)
	}
}

func TestParseExpires(t *testing.T) {
	for in, want := range map[string]int64{
		"90m": 5400, "12h": 43200, "7d": 7 * 86400, "1d12h": 129600, "0d90s": 90, "1.5s": 1, "36500d": 36500 * 86400,
	} {
		if got, err := parseExpires(in); err != nil || got != want {
			t.Errorf("parseExpires(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "7", "-1h", "+1d", "-1d", "1d-1h", "0s", "0d", "1dd", "1w", "500ms", "36501d", "1e3d", " 7d"} {
		if got, err := parseExpires(in); err == nil {
			t.Errorf("parseExpires(%q) = %d, want an error", in, got)
		}
	}
}
