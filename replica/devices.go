package replica

import (
	"crypto/ed25519"
	"slices"
	"sync"

	"weft/member"
	"weft/store"
)

// deviceIndex maps every device key named in a book this replica holds
// to the documents whose books name it, so that IsMemberDevice is a map
// lookup however many documents the replica holds. It only grows (as
// books gain chains); whether a device is still a member (not revoked,
// not expired) is read from the book at each lookup.
type deviceIndex struct {
	mu   sync.RWMutex
	docs map[string][]store.DocID // by the device's Ed25519 key
}

func newDeviceIndex() *deviceIndex { return &deviceIndex{docs: map[string][]store.DocID{}} }

func (x *deviceIndex) add(key ed25519.PublicKey, doc store.DocID) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if ds := x.docs[string(key)]; !slices.Contains(ds, doc) {
		x.docs[string(key)] = append(ds, doc)
	}
}

func (x *deviceIndex) of(key ed25519.PublicKey) []store.DocID {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return slices.Clone(x.docs[string(key)])
}

// index starts accounting for a joined document: its quotas, and the
// devices its book names now and later (ms.onMember). A legacy
// document has neither.
func (m *Manager) index(doc store.DocID, ms *membership) {
	if ms == nil {
		return
	}
	m.quota.track(doc, granterOf(ms))
	ms.mu.Lock()
	ms.onMember = func(key ed25519.PublicKey) { m.devices.add(key, doc) }
	chains := ms.book.Chains()
	ms.mu.Unlock()
	for _, c := range chains {
		if l := c.Leaf(); l != nil {
			m.devices.add(l.Subject, doc)
		}
	}
}

// IsMemberDevice reports whether peer's key (its peer ID names it) is a
// device with a capability in the book of a document this replica holds,
// neither revoked nor expired: whom a relay serves circuit reservations.
// It costs a map lookup and a look at the books that name the key.
func (m *Manager) IsMemberDevice(peer string) bool {
	t := m.opts.Transport
	if t == nil {
		return false
	}
	key, err := t.PeerKey(peer)
	if err != nil {
		return false
	}
	now := m.opts.Now().Unix()
	for _, id := range m.devices.of(key) {
		m.mu.Lock()
		d := m.docs[id]
		m.mu.Unlock()
		if d == nil || d.mem == nil {
			continue
		}
		ms := d.mem
		ms.mu.Lock()
		mem := ms.book.Member(key)
		ok := mem != nil && mem.Role != member.RoleNone && !mem.Invite && (mem.NotAfter == 0 || mem.NotAfter > now) && !ms.book.Revoked(key)
		ms.mu.Unlock()
		if ok {
			return true
		}
	}
	return false
}
