package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"weft/api"
	"weft/member"
	"weft/store"
	"weft/vocab"
)

// membersOf returns a joined members-only document's state and membership.
func (m *Manager) membersOf(sid string) (*docState, *membership, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return nil, nil, err
	}
	if d.mem == nil {
		return nil, nil, fmt.Errorf("%w: document %s was made before members-only documents and is not shared; make a members-only copy with weft doc upgrade", api.ErrBadInput, d.id)
	}
	return d, d.mem, nil
}

// Invite makes an invite to document id: a one-time invite key granted
// req.Role (by the document key when this device made the document, else
// by this device's admin capability), carrying the current read secret
// for reading roles.
func (m *Manager) Invite(ctx context.Context, id string, req api.InviteRequest) (api.InviteInfo, error) {
	_, ms, err := m.membersOf(id)
	if err != nil {
		return api.InviteInfo{}, err
	}
	role, err := member.ParseRole(req.Role)
	if err != nil {
		return api.InviteInfo{}, fmt.Errorf("%w: %v", api.ErrBadInput, err)
	}
	if req.Expires < 0 {
		return api.InviteInfo{}, fmt.Errorf("%w: expires must be 0 (never) or a number of seconds", api.ErrBadInput)
	}
	now := m.opts.Now()
	var notAfter int64
	var expires time.Time
	if req.Expires > 0 {
		expires = now.Add(time.Duration(req.Expires) * time.Second).Truncate(time.Second)
		notAfter = expires.Unix()
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	issuer, chain := ms.dev.Sign, ms.local.Chain
	if !ms.self.Role.CanDelegate() && ms.local.DocKey != nil {
		// This device's own capability no longer delegates; the document
		// key (held by its creator) still does.
		issuer, chain = ms.local.DocKey, nil
	} else if !ms.self.Role.CanDelegate() {
		return api.InviteInfo{}, fmt.Errorf("%w: only an admin invites (this device is a %v member)", api.ErrForbidden, ms.self.Role)
	}
	var secret *member.Secret
	var epoch uint64
	if role.CanRead() {
		s, e, ok := ms.currentSecret()
		if !ok {
			return api.InviteInfo{}, fmt.Errorf("%w: this device holds no read secret to share", api.ErrForbidden)
		}
		secret, epoch = &s, e
	}
	inv, err := member.NewInvite(rand.Reader, issuer, chain, ms.book.DocKey, member.InviteGrant{Role: role, Label: req.Label, NotAfter: notAfter}, epoch, secret)
	if err != nil {
		if vocab.IsRejected(err) {
			return api.InviteInfo{}, fmt.Errorf("%w: %v", api.ErrBadInput, err)
		}
		return api.InviteInfo{}, err
	}
	return api.InviteInfo{Invite: inv.String(), Doc: ms.doc.String(), Role: role.String(), Label: req.Label, Expires: expires}, nil
}

// currentSecret returns the secret of the current epoch (callers hold mu).
func (ms *membership) currentSecret() (member.Secret, uint64, bool) {
	if ms.keys == nil {
		return member.Secret{}, 0, false
	}
	cur := ms.keys.Current()
	for i := len(ms.local.Secrets) - 1; i >= 0; i-- {
		s := ms.local.Secrets[i]
		if s.Epoch == cur.Epoch {
			if k, err := member.NewEpochKeys(ms.doc, s.Epoch, &s.Secret); err == nil && k.ID() == cur.ID() {
				return s.Secret, s.Epoch, true
			}
		}
	}
	return member.Secret{}, 0, false
}

// JoinInvite joins the document an invite is for: this device's
// capability is issued with the invite key, and the document is fetched
// from its members.
func (m *Manager) JoinInvite(ctx context.Context, s string) (api.DocInfo, error) {
	inv, err := member.ParseInvite(strings.TrimSpace(s))
	if err != nil {
		return api.DocInfo{}, fmt.Errorf("%w: invite: %v", api.ErrBadInput, err)
	}
	// The device is named as the inviter named the invitee.
	label := inv.Chain.Leaf().Label
	if label == "" {
		label = m.opts.DeviceLabel
	}
	chain, err := member.Join(inv, m.dev, member.RoleNone, label, m.opts.Now().Unix())
	if err != nil {
		return api.DocInfo{}, fmt.Errorf("%w: invite: %v", api.ErrBadInput, err)
	}
	id := inv.Doc()
	if d, err := m.doc(id); err == nil {
		// Already here: the invite may grant more than this device had.
		if d.mem == nil {
			return api.DocInfo{}, fmt.Errorf("%w: a legacy document with this ID is here", api.ErrBadInput)
		}
		if inv.Secret != nil {
			if err := d.mem.addSecret(inv.Epoch, inv.Secret); err != nil {
				return api.DocInfo{}, err
			}
		}
		if _, changed, err := d.mem.add(chain, member.IgnoreExpiry); err != nil {
			return api.DocInfo{}, err
		} else if changed {
			if err := d.mem.save(ctx, m.opts.Store); err != nil {
				return api.DocInfo{}, err
			}
		}
		return m.info(ctx, id)
	}
	book, err := member.NewBook(inv.DocKey)
	if err != nil {
		return api.DocInfo{}, err
	}
	local := &member.Local{Chain: chain}
	if inv.Secret != nil {
		local.Secrets = []member.EpochSecret{{Epoch: inv.Epoch, Secret: *inv.Secret}}
	}
	if err := m.createMembersDoc(ctx, id, "", book, local); err != nil {
		if errors.Is(err, store.ErrExists) {
			return m.info(ctx, id)
		}
		return api.DocInfo{}, err
	}
	return m.info(ctx, id)
}

// addSecret adds a read secret this device was given (a later invite).
func (ms *membership) addSecret(epoch uint64, s *member.Secret) error {
	ms.mu.Lock()
	defer ms.mu.Unlock()
	for _, o := range ms.local.Secrets {
		if o.Epoch == epoch && o.Secret == *s {
			return nil
		}
	}
	if ms.keys == nil {
		ms.keys = member.NewKeyring(ms.doc)
	}
	if err := ms.keys.Add(epoch, s); err != nil {
		return err
	}
	ms.local.Secrets = append(ms.local.Secrets, member.EpochSecret{Epoch: epoch, Secret: *s})
	return nil
}

// Members lists the members of document id as this replica knows them.
func (m *Manager) Members(ctx context.Context, id string) ([]api.MemberInfo, error) {
	_, ms, err := m.membersOf(id)
	if err != nil {
		return nil, err
	}
	ms.mu.Lock()
	defer ms.mu.Unlock()
	out := make([]api.MemberInfo, 0, ms.book.Len())
	for _, c := range ms.book.Chains() {
		got := ms.book.Member(c.Leaf().Subject)
		if got == nil {
			continue
		}
		mi := api.MemberInfo{Device: member.DeviceID(got.Subject), Label: got.Label, Role: got.Role.String(), Self: ed25519.PublicKey(got.Subject).Equal(ms.dev.Public()), Removed: ms.book.Revoked(got.Subject)}
		if by := member.Issuer(c, ms.book.DocKey); !by.Equal(ms.book.DocKey) {
			mi.InvitedBy = member.DeviceID(by)
		}
		if got.NotAfter > 0 {
			mi.Expires = time.Unix(got.NotAfter, 0).UTC()
		}
		out = append(out, mi)
	}
	return out, nil
}

// RemoveMember removes a device: a revocation signed by this admin (or the
// document key) that names what of the device's counts (what this replica
// holds of its agents) and starts a new epoch, whose secret is sealed to
// every remaining reader and not to the removed device. It is applied
// here, published on the topic and handed over in every catch-up.
func (m *Manager) RemoveMember(ctx context.Context, id, device string) error {
	d, ms, err := m.membersOf(id)
	if err != nil {
		return err
	}
	subject, err := member.DeviceOf(device)
	if err != nil || member.DeviceID(subject) != device {
		return fmt.Errorf("%w: %q is not a device ID", api.ErrBadInput, device)
	}
	if subject.Equal(m.dev.Public()) {
		return fmt.Errorf("%w: a device does not remove itself", api.ErrBadInput)
	}
	var counts vocab.Version
	if err := d.do(ctx, func(dr *driver) error {
		if err := dr.ensure(ctx); err != nil {
			return err
		}
		counts = vocab.Version{}
		for agent, n := range dr.hl.version {
			if member.OwnsAgent(subject, agent) {
				counts[agent] = n
			}
		}
		return nil
	}); err != nil {
		return err
	}
	ms.mu.Lock()
	r, err := ms.revocation(subject, counts)
	ms.mu.Unlock()
	if err != nil {
		return err
	}
	if _, err := ms.revoke(r); err != nil {
		return err
	}
	if err := ms.save(ctx, m.opts.Store); err != nil {
		return err
	}
	d.publish("a revocation", member.AnnounceRevocation(r))
	return nil
}

// revocation makes the revocation of subject (callers hold mu).
func (ms *membership) revocation(subject ed25519.PublicKey, counts vocab.Version) (*member.Revocation, error) {
	if ms.book.Member(subject) == nil {
		return nil, fmt.Errorf("%w: device %s is not a member", api.ErrUnknownDoc, member.DeviceID(subject))
	}
	if ms.book.Revoked(subject) {
		return nil, fmt.Errorf("%w: device %s was removed already", api.ErrBadInput, member.DeviceID(subject))
	}
	issuer, chain := ms.dev.Sign, ms.local.Chain
	if !ms.self.Role.CanDelegate() && ms.local.DocKey != nil {
		// This device's own capability no longer delegates; the document
		// key (held by its creator) still does.
		issuer, chain = ms.local.DocKey, nil
	} else if !ms.self.Role.CanDelegate() {
		return nil, fmt.Errorf("%w: only an admin removes members (this device is a %v member)", api.ErrForbidden, ms.self.Role)
	}
	cur, epoch, ok := ms.currentSecret()
	if !ok {
		return nil, fmt.Errorf("%w: this device holds no read secret to rotate", api.ErrForbidden)
	}
	next, err := member.NewSecret(rand.Reader)
	if err != nil {
		return nil, err
	}
	var boxes [][]byte
	for _, c := range ms.book.Chains() {
		got := ms.book.Member(c.Leaf().Subject)
		if got == nil || !got.Role.CanRead() || got.Subject.Equal(subject) || ms.book.Revoked(got.Subject) || c.Contains(subject) {
			continue
		}
		boxes = append(boxes, got.Box)
	}
	rekey, err := member.NewRekey(rand.Reader, ms.doc, epoch+1, next, epoch, &cur, boxes)
	if err != nil {
		return nil, err
	}
	return member.Revoke(issuer, chain, ms.doc, subject, counts, rekey)
}

// Host grants a relay the pull role for document id: the capability is
// handed to it at the next catch-up, which this starts.
func (m *Manager) Host(ctx context.Context, id string, req api.HostRequest) error {
	d, ms, err := m.membersOf(id)
	if err != nil {
		return err
	}
	if m.opts.Transport == nil {
		return fmt.Errorf("%w: this replica is offline", api.ErrBadInput)
	}
	i := strings.LastIndex(req.Relay, "/p2p/")
	if i < 0 {
		return fmt.Errorf("%w: relay address %q does not end in /p2p/<peer ID>", api.ErrBadInput, req.Relay)
	}
	peer := req.Relay[i+len("/p2p/"):]
	key, err := m.opts.Transport.PeerKey(peer)
	if err != nil {
		return fmt.Errorf("%w: relay address: %v", api.ErrBadInput, err)
	}
	ms.mu.Lock()
	issuer, chain := ms.dev.Sign, ms.local.Chain
	if !ms.self.Role.CanDelegate() && ms.local.DocKey != nil {
		// This device's own capability no longer delegates; the document
		// key (held by its creator) still does.
		issuer, chain = ms.local.DocKey, nil
	} else if !ms.self.Role.CanDelegate() {
		ms.mu.Unlock()
		return fmt.Errorf("%w: only an admin grants a relay a document (this device is a %v member)", api.ErrForbidden, ms.self.Role)
	}
	link, err := member.Issue(issuer, ms.doc, chain.Leaf(), member.Grant{Role: member.RolePull, Subject: key, Label: "relay"})
	ms.mu.Unlock()
	if err != nil {
		return err
	}
	grant := chain.Extend(link)
	if _, _, err := ms.add(grant, member.IgnoreExpiry); err != nil {
		return err
	}
	if err := ms.save(ctx, m.opts.Store); err != nil {
		return err
	}
	m.mu.Lock()
	m.grants[grantKey{peer, d.id}] = grant
	m.mu.Unlock()
	if err := m.opts.Transport.Connect(ctx, req.Relay); err != nil {
		return fmt.Errorf("replica: connecting to the relay: %w", err)
	}
	if err := m.SyncWith(ctx, peer, d.id); err != nil {
		return fmt.Errorf("replica: handing the relay the document: %w", err)
	}
	return nil
}

// Upgrade makes a members-only copy of a legacy document: a new document
// (new keys, new ID) holding the legacy document's text and title, with
// this device its admin. The history is not carried: its agents were not
// signed by anyone.
func (m *Manager) Upgrade(ctx context.Context, id string) (api.DocInfo, error) {
	d, err := m.lookup(id)
	if err != nil {
		return api.DocInfo{}, err
	}
	if d.mem != nil {
		return api.DocInfo{}, fmt.Errorf("%w: document %s is already members-only", api.ErrBadInput, d.id)
	}
	text, err := m.Text(ctx, id)
	if err != nil {
		return api.DocInfo{}, err
	}
	title := m.title(ctx, d.id)
	info, err := m.CreateDoc(ctx, title)
	if err != nil {
		return api.DocInfo{}, err
	}
	if text != "" {
		if _, err := m.Edit(ctx, info.ID, []api.Edit{{Pos: 0, Ins: text}}); err != nil {
			return api.DocInfo{}, err
		}
	}
	nid, err := parseID(info.ID)
	if err != nil {
		return api.DocInfo{}, err
	}
	return m.info(ctx, nid)
}
