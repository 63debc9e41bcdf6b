// Package uitest provides Fake, an in-memory ui.Backend for unit tests of
// the API and of its clients (the CLI). It keeps documents as plain text
// and follows the Backend's error contract; it is not a replica.
//
// It models members-only documents as the API shows them, without keys:
// a document has this device's role ("" for a legacy one, which Put
// makes), a member list, an epoch and forks; invites are opaque
// "weft:invite/<random>" strings it remembers. The rules it keeps are the
// replica's: only an admin invites, removes and hosts; readers and pull
// members do not edit (api.ErrForbidden); a pull member does not read;
// members-only documents are joined by invite (api.ErrNeedInvite);
// legacy documents have no members until upgraded.
package uitest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"weft/api"
)

// Agent is the agent name the Fake reports for its local edits.
const Agent = "fake"

// Device is the Fake's own device ID (NodeStatus.Device, MemberInfo.Self).
const Device = "Rsn0q3V0lYeneQnc4XAVDFW_JCq2Ax52tpl7QrvhRwA"

// Fake is an in-memory ui.Backend. Its zero value is not usable; call New.
// It is safe for concurrent use.
type Fake struct {
	mu        sync.Mutex
	docs      map[string]*doc
	next      uint64
	skew      time.Duration // added by Advance
	err       error
	peers     []api.PeerInfo
	node      api.NodeStatus
	editCalls []int
	invites   map[string]*invite // by the invite string
	hosts     map[string][]string
	backups   []api.BackupRequest
}

type doc struct {
	info    api.DocInfo // info.Role: this device's role ("" legacy)
	text    []rune
	version uint64
	members []api.MemberInfo
	epoch   uint64
	forks   []string
}

// invite is an invite the Fake made or was offered: joining it gives
// (a copy of) doc with role.
type invite struct {
	info  api.InviteInfo
	title string
	text  string
	key   string // the invite key's "device" ID in the member list
}

// base is the Fake's clock: the n-th event happens n seconds after it
// (plus what Advance added).
var base = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// New returns an empty Fake.
func New() *Fake {
	return &Fake{
		docs:    map[string]*doc{},
		node:    api.NodeStatus{PeerID: "12D3KooWFake", Device: Device, Version: "test"},
		invites: map[string]*invite{},
		hosts:   map[string][]string{},
	}
}

// SetErr makes every method fail with err (nil: succeed again).
func (f *Fake) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// SetPeers sets what Peers returns and the peers every document reports.
func (f *Fake) SetPeers(p []api.PeerInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.peers = p
}

// SetNode sets what Status returns (Docs, Open and Peers are filled in).
func (f *Fake) SetNode(n api.NodeStatus) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.node = n
}

// EditCalls returns the number of edits each call to Edit carried, in order.
func (f *Fake) EditCalls() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.editCalls...)
}

// Put adds a document with the given ID, title and text (tests' setup).
func (f *Fake) Put(id, title, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.add(id, title)
	d.text = []rune(text)
	d.version = uint64(len(d.text))
	d.info.Chars = len(d.text)
}

func (f *Fake) tick() time.Time {
	f.next++
	return base.Add(time.Duration(f.next)*time.Second + f.skew)
}

// Advance moves the Fake's clock on by d (to expire invites).
func (f *Fake) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.skew += d
}

func (f *Fake) add(id, title string) *doc {
	now := f.tick()
	d := &doc{info: api.DocInfo{ID: id, Title: title, Created: now, LastOpened: now}}
	f.docs[id] = d
	return d
}

func (f *Fake) get(id string) (*doc, error) {
	if f.err != nil {
		return nil, f.err
	}
	d, ok := f.docs[id]
	if !ok {
		return nil, fmt.Errorf("%w %s", api.ErrUnknownDoc, id)
	}
	return d, nil
}

func (d *doc) status() api.DocInfo {
	info := d.info
	info.Chars = len(d.text)
	return info
}

func (d *doc) vv() map[string]uint64 {
	if d.version == 0 {
		return map[string]uint64{}
	}
	return map[string]uint64{Agent: d.version}
}

// CreateDoc implements ui.Backend.
func (f *Fake) CreateDoc(_ context.Context, title string) (api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.DocInfo{}, f.err
	}
	return f.create(title).status(), nil
}

// create adds a members-only document with this device as its admin.
func (f *Fake) create(title string) *doc {
	id := fmt.Sprintf("%032x", 0xc0ffee00+f.next)
	d := f.add(id, title)
	d.info.Role = api.RoleAdmin
	d.members = []api.MemberInfo{{Device: Device, Role: api.RoleAdmin, Self: true}}
	return d
}

// JoinDoc implements ui.Backend: a legacy document it has is returned as
// it is; any other ID (members-only, or unknown) needs an invite.
func (f *Fake) JoinDoc(_ context.Context, id string) (api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.DocInfo{}, f.err
	}
	d, ok := f.docs[id]
	if !ok || d.info.Role != "" {
		return api.DocInfo{}, fmt.Errorf("document %s: %w", id, api.ErrNeedInvite)
	}
	return d.status(), nil
}

// RenameDoc implements ui.Backend.
func (f *Fake) RenameDoc(_ context.Context, id, title string) (api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(id)
	if err != nil {
		return api.DocInfo{}, err
	}
	if err := d.mayWrite("rename"); err != nil {
		return api.DocInfo{}, err
	}
	d.info.Title = title
	return d.status(), nil
}

// ListDocs implements ui.Backend, ordered by creation.
func (f *Fake) ListDocs(context.Context) ([]api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var out []api.DocInfo
	for _, d := range f.docs {
		out = append(out, d.status())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out, nil
}

// Text implements ui.Backend.
func (f *Fake) Text(_ context.Context, id string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(id)
	if err != nil {
		return "", err
	}
	if d.info.Role == api.RolePull {
		return "", fmt.Errorf("%w: document %s: a pull member holds ciphertext and cannot read it", api.ErrForbidden, id)
	}
	return string(d.text), nil
}

// Edit implements ui.Backend: each edit is checked against the text the
// previous ones left; the first bad one stops the call with ErrBadInput.
func (f *Fake) Edit(_ context.Context, id string, edits []api.Edit) (api.EditResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(id)
	if err != nil {
		return api.EditResult{}, err
	}
	if err := d.mayWrite("edit"); err != nil {
		return api.EditResult{}, err
	}
	f.editCalls = append(f.editCalls, len(edits))
	res := api.EditResult{}
	for i, e := range edits {
		n := len(d.text)
		switch {
		case e.Pos < 0 || e.Del < 0:
			err = fmt.Errorf("%w: edit %d: negative position or length", api.ErrBadInput, i)
		case e.Pos > n:
			err = fmt.Errorf("%w: position %d is past the end of the document (%d code points)", api.ErrBadInput, e.Pos, n)
		case e.Del > n-e.Pos:
			err = fmt.Errorf("%w: deleting %d code points at %d runs past the end of the document (%d code points)", api.ErrBadInput, e.Del, e.Pos, n)
		case !utf8.ValidString(e.Ins):
			err = fmt.Errorf("%w: edit %d: text is not valid UTF-8", api.ErrBadInput, i)
		}
		if err != nil {
			break
		}
		ins := []rune(e.Ins)
		d.text = slices.Replace(d.text, e.Pos, e.Pos+e.Del, ins...)
		d.version += uint64(e.Del + len(ins))
		res.Applied++
	}
	res.Version = d.vv()
	res.Chars = len(d.text)
	return res, err
}

// DocStatus implements ui.Backend.
func (f *Fake) DocStatus(_ context.Context, id string) (api.DocStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.get(id)
	if err != nil {
		return api.DocStatus{}, err
	}
	st := api.DocStatus{
		ID: id, Title: d.info.Title, Chars: len(d.text), Version: d.vv(),
		Frontier: []string{}, Peers: []string{}, Agent: Agent,
		Role: d.info.Role, Epoch: d.epoch, Forks: slices.Clone(d.forks),
	}
	for _, m := range d.members {
		if !m.Invite && !m.Removed {
			st.Members++
		}
	}
	if d.version > 0 {
		st.Frontier = []string{fmt.Sprintf("%s@%d", Agent, d.version-1)}
	}
	for _, p := range f.peers {
		st.Peers = append(st.Peers, p.ID)
	}
	return st, nil
}

// Peers implements ui.Backend.
func (f *Fake) Peers(context.Context) ([]api.PeerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return append([]api.PeerInfo(nil), f.peers...), nil
}

// Status implements ui.Backend.
func (f *Fake) Status(context.Context) (api.NodeStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.NodeStatus{}, f.err
	}
	st := f.node
	st.Docs, st.Open, st.Peers = len(f.docs), len(f.docs), len(f.peers)
	return st, nil
}

// mayWrite refuses a write (what names it) to a reader or pull member.
func (d *doc) mayWrite(what string) error {
	if r := d.info.Role; r == api.RoleRead || r == api.RolePull {
		return fmt.Errorf("%w: document %s: this device is a %s member and cannot %s", api.ErrForbidden, d.info.ID, r, what)
	}
	return nil
}

// SetRole makes a document members-only with this device in role (tests'
// setup; "" makes it legacy again, with no members).
func (f *Fake) SetRole(id, role string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.docs[id]
	d.info.Role = role
	if role == "" {
		d.members = nil
		return
	}
	for i := range d.members {
		if d.members[i].Self {
			d.members[i].Role = role
			return
		}
	}
	d.members = append(d.members, api.MemberInfo{Device: Device, Role: role, Self: true})
}

// AddMember adds m to a document's member list (tests' setup).
func (f *Fake) AddMember(id string, m api.MemberInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[id].members = append(f.docs[id].members, m)
}

// SetForks sets the forks a document's status reports (tests' setup).
func (f *Fake) SetForks(id string, forks []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.docs[id].forks = forks
}

// Offer returns an invite to a document this Fake does not have, as if a
// member elsewhere had made it: joining it gives the document with title,
// text and role (tests' setup).
func (f *Fake) Offer(id, title, text, role string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	inv := f.newInvite(api.InviteInfo{Doc: id, Role: role})
	inv.title, inv.text = title, text
	return inv.info.Invite
}

// Hosted returns the relays a document was given to host, in order.
func (f *Fake) Hosted(id string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.hosts[id])
}

// newInvite makes and remembers an invite string for info.
func (f *Fake) newInvite(info api.InviteInfo) *invite {
	var b [32]byte
	rand.Read(b[:])
	info.Invite = "weft:invite/" + base64.RawURLEncoding.EncodeToString(b[:])
	inv := &invite{info: info, key: fakeDeviceID(info.Invite)}
	f.invites[info.Invite] = inv
	return inv
}

// fakeDeviceID is a well-formed device ID standing for a key the Fake
// does not have (an invite key, a relay).
func fakeDeviceID(seed string) string {
	h := sha256.Sum256([]byte(seed))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// members returns a members-only document, refusing a legacy one and,
// unless admin is false, a device that is not its admin.
func (f *Fake) members(id, what string, admin bool) (*doc, error) {
	d, err := f.get(id)
	if err != nil {
		return nil, err
	}
	if d.info.Role == "" {
		return nil, fmt.Errorf("%w: document %s is a legacy document, without members; make a members-only copy with `weft doc upgrade %s`", api.ErrBadInput, id, id)
	}
	if admin && d.info.Role != api.RoleAdmin {
		return nil, fmt.Errorf("%w: document %s: this device is a %s member; only an admin may %s", api.ErrForbidden, id, d.info.Role, what)
	}
	return d, nil
}

// Invite implements ui.Backend: the invite is listed as a member (Invite
// set) until redeemed.
func (f *Fake) Invite(_ context.Context, id string, req api.InviteRequest) (api.InviteInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.members(id, "invite", true)
	if err != nil {
		return api.InviteInfo{}, err
	}
	switch req.Role {
	case api.RolePull, api.RoleRead, api.RoleWrite, api.RoleAdmin:
	default:
		return api.InviteInfo{}, fmt.Errorf("%w: unknown role %q", api.ErrBadInput, req.Role)
	}
	if req.Expires < 0 {
		return api.InviteInfo{}, fmt.Errorf("%w: negative expiry", api.ErrBadInput)
	}
	info := api.InviteInfo{Doc: id, Role: req.Role, Label: req.Label}
	if req.Expires > 0 {
		info.Expires = f.tick().Add(time.Duration(req.Expires) * time.Second)
	}
	inv := f.newInvite(info)
	inv.title, inv.text = d.info.Title, string(d.text)
	d.members = append(d.members, api.MemberInfo{
		Device: inv.key, Label: req.Label, Role: req.Role, InvitedBy: Device, Invite: true, Expires: info.Expires,
	})
	return inv.info, nil
}

// JoinInvite implements ui.Backend: an invite the Fake made or was
// offered gives its document (unchanged if this device has it already);
// an expired or unknown one is refused.
func (f *Fake) JoinInvite(_ context.Context, s string) (api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.DocInfo{}, f.err
	}
	inv, ok := f.invites[s]
	if !ok {
		return api.DocInfo{}, fmt.Errorf("%w: not an invite (its signature does not check)", api.ErrBadInput)
	}
	now := f.tick()
	if e := inv.info.Expires; !e.IsZero() && now.After(e) {
		return api.DocInfo{}, fmt.Errorf("%w: the invite expired at %s", api.ErrBadInput, e.Format(time.RFC3339))
	}
	if d, ok := f.docs[inv.info.Doc]; ok {
		return d.status(), nil
	}
	d := f.add(inv.info.Doc, inv.title)
	d.text = []rune(inv.text)
	d.version = uint64(len(d.text))
	d.info.Role = inv.info.Role
	d.members = []api.MemberInfo{{Device: Device, Label: inv.info.Label, Role: inv.info.Role, InvitedBy: inv.key, Self: true, Expires: inv.info.Expires}}
	return d.status(), nil
}

// Members implements ui.Backend.
func (f *Fake) Members(_ context.Context, id string) ([]api.MemberInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.members(id, "", false)
	if err != nil {
		return nil, err
	}
	return slices.Clone(d.members), nil
}

// RemoveMember implements ui.Backend: the member is marked removed and
// the epoch moves on (removing one already removed changes nothing).
func (f *Fake) RemoveMember(_ context.Context, id, device string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.members(id, "remove members", true)
	if err != nil {
		return err
	}
	if device == Device {
		return fmt.Errorf("%w: document %s: this device cannot remove itself", api.ErrBadInput, id)
	}
	for i := range d.members {
		if m := &d.members[i]; m.Device == device {
			if !m.Removed {
				m.Removed = true
				d.epoch++
			}
			return nil
		}
	}
	return fmt.Errorf("%w: document %s has no member %s", api.ErrBadInput, id, device)
}

// Host implements ui.Backend: the relay becomes a pull member (once).
func (f *Fake) Host(_ context.Context, id string, req api.HostRequest) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, err := f.members(id, "grant hosting", true)
	if err != nil {
		return err
	}
	i := strings.LastIndex(req.Relay, "/p2p/")
	if i < 0 {
		return fmt.Errorf("%w: relay %q has no /p2p/<peer ID>", api.ErrBadInput, req.Relay)
	}
	if slices.Contains(f.hosts[id], req.Relay) {
		return nil
	}
	f.hosts[id] = append(f.hosts[id], req.Relay)
	d.members = append(d.members, api.MemberInfo{
		Device: fakeDeviceID(req.Relay), Label: "relay " + req.Relay[i+len("/p2p/"):], Role: api.RolePull, InvitedBy: Device,
	})
	return nil
}

// Upgrade implements ui.Backend: a members-only copy of a legacy
// document's text, with this device as admin.
func (f *Fake) Upgrade(_ context.Context, id string) (api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	old, err := f.get(id)
	if err != nil {
		return api.DocInfo{}, err
	}
	if old.info.Role != "" {
		return api.DocInfo{}, fmt.Errorf("%w: document %s is members-only already", api.ErrBadInput, id)
	}
	d := f.create(old.info.Title)
	d.text = slices.Clone(old.text)
	d.version = uint64(len(d.text))
	return d.status(), nil
}

// Backup implements ui.Backend: it remembers the request (Backups) and
// reports a backup of its documents; a To that is neither an absolute
// path nor s3:// is api.ErrBadInput, as the daemon answers.
func (f *Fake) Backup(_ context.Context, req api.BackupRequest) (api.BackupInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.BackupInfo{}, f.err
	}
	if !strings.HasPrefix(req.To, "/") && !strings.HasPrefix(req.To, "s3://") {
		return api.BackupInfo{}, fmt.Errorf("%w: backup to %q: want an absolute directory or s3://BUCKET/PREFIX", api.ErrBadInput, req.To)
	}
	f.backups = append(f.backups, req)
	now := time.Now().UTC().Add(f.skew)
	return api.BackupInfo{
		Name: "weft-backup-" + now.Format("20060102T150405.000000000Z") + ".wbk", To: req.To, Created: now,
		Docs: len(f.docs), Entries: uint64(1 + 2*len(f.docs)), Bytes: uint64(100 * (1 + len(f.docs))),
	}, nil
}

// Backups returns the backup requests the Fake was given, in order.
func (f *Fake) Backups() []api.BackupRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.backups)
}
