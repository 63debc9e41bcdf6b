// Package uitest provides Fake, an in-memory ui.Backend for unit tests of
// the API and of its clients (the CLI). It keeps documents as plain text
// and follows the Backend's error contract; it is not a api.
package uitest

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"
	"unicode/utf8"

	"weft/api"
)

// Agent is the agent name the Fake reports for its local edits.
const Agent = "fake"

// Fake is an in-memory ui.Backend. Its zero value is not usable; call New.
// It is safe for concurrent use.
type Fake struct {
	mu        sync.Mutex
	docs      map[string]*doc
	next      uint64
	err       error
	peers     []api.PeerInfo
	node      api.NodeStatus
	editCalls []int
}

type doc struct {
	info    api.DocInfo
	text    []rune
	version uint64
}

// base is the Fake's clock: the n-th event happens n seconds after it.
var base = time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)

// New returns an empty Fake.
func New() *Fake {
	return &Fake{docs: map[string]*doc{}, node: api.NodeStatus{PeerID: "12D3KooWFake", Version: "test"}}
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
	return base.Add(time.Duration(f.next) * time.Second)
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
	id := fmt.Sprintf("%032x", 0xc0ffee00+f.next)
	return f.add(id, title).status(), nil
}

// JoinDoc implements ui.Backend: an unknown ID becomes an empty document,
// as if its history were still to come from peers.
func (f *Fake) JoinDoc(_ context.Context, id string) (api.DocInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return api.DocInfo{}, f.err
	}
	d, ok := f.docs[id]
	if !ok {
		d = f.add(id, "")
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

// errMembers: the fake does not model members-only documents yet.
var errMembers = fmt.Errorf("%w: the fake has no members", api.ErrBadInput)

func (f *Fake) Invite(context.Context, string, api.InviteRequest) (api.InviteInfo, error) {
	return api.InviteInfo{}, errMembers
}
func (f *Fake) JoinInvite(context.Context, string) (api.DocInfo, error) {
	return api.DocInfo{}, errMembers
}
func (f *Fake) Members(context.Context, string) ([]api.MemberInfo, error) { return nil, errMembers }
func (f *Fake) RemoveMember(context.Context, string, string) error        { return errMembers }
func (f *Fake) Host(context.Context, string, api.HostRequest) error       { return errMembers }
func (f *Fake) Upgrade(context.Context, string) (api.DocInfo, error) {
	return api.DocInfo{}, errMembers
}
