package member

import (
	"strings"
	"testing"

	"weft/vocab"
)

func TestInviteJoin(t *testing.T) {
	d := newDoc(t, 1)
	admin, joiner := newDevice(t, 1), newDevice(t, 2)
	ac := grantTo(t, d.Key, d.ID, nil, admin, RoleAdmin)
	inv, err := NewInvite(detRand(7), admin.Sign, ac, d.Public, InviteGrant{Role: RoleWrite, Label: "bob", NotAfter: 1000}, 0, &d.Secret)
	must(t, err)
	s := inv.String()
	if !strings.HasPrefix(s, InvitePrefix) || len(s) > MaxInviteChars {
		t.Fatalf("invite %q", s)
	}
	got, err := ParseInvite(" " + s + "\n")
	must(t, err)
	if got.Role() != RoleWrite || got.Doc() != d.ID || got.Secret == nil || *got.Secret != d.Secret || got.String() != s {
		t.Fatal("invite round trip changed it")
	}
	c, err := Join(got, joiner, RoleNone, "bob's laptop", 999)
	must(t, err)
	if len(c) != 3 {
		t.Fatalf("joined chain of %d links, want root, invite, device", len(c))
	}
	m, err := Verify(c, d.Public, 999)
	must(t, err)
	if m.Role != RoleWrite || !m.Subject.Equal(joiner.Public()) || m.Label != "bob's laptop" || m.NotAfter != 1000 {
		t.Fatalf("joined member %+v", m)
	}
	// A lower role is fine, a higher one is not.
	c, err = Join(got, joiner, RoleRead, "", 0)
	must(t, err)
	if m, _ := Verify(c, d.Public, 0); m == nil || m.Role != RoleRead {
		t.Fatalf("joined as reader: %+v", m)
	}
	_, err = Join(got, joiner, RoleAdmin, "", 0)
	wantReason(t, err, vocab.ReasonCapability)
	// Expired.
	_, err = Join(got, joiner, RoleNone, "", 1001)
	wantReason(t, err, vocab.ReasonExpired)
	// The invite chain alone is not a member.
	_, err = Verify(got.Chain, d.Public, 0)
	wantReason(t, err, vocab.ReasonCapability)
	// The joined device cannot delegate (it is a writer), and the invite
	// key cannot issue a second invite.
	x := newDevice(t, 3)
	_, err = Issue(joiner.Sign, d.ID, c.Leaf(), Grant{Role: RoleRead, Subject: x.Public(), Box: x.BoxPublic()})
	wantReason(t, err, vocab.ReasonCapability)
	_, err = Issue(got.key(), d.ID, got.Chain.Leaf(), Grant{Role: RoleRead, Invite: true, Subject: x.Public(), Box: x.BoxPublic()})
	wantReason(t, err, vocab.ReasonCapability)
	forged := got.Chain.Extend(forge(got.key(), d.ID, got.Chain.Leaf(), Grant{Role: RoleRead, Invite: true, Subject: x.Public(), Box: x.BoxPublic()}))
	_, err = VerifyInvite(forged, d.Public, 0)
	wantReason(t, err, vocab.ReasonCapability)
}

func TestInvitePullCarriesNoSecret(t *testing.T) {
	d := newDoc(t, 1)
	inv, err := NewInvite(detRand(7), d.Key, nil, d.Public, InviteGrant{Role: RolePull, Label: "relay"}, 0, nil)
	must(t, err)
	got, err := ParseInvite(inv.String())
	must(t, err)
	if got.Secret != nil || got.Role() != RolePull {
		t.Fatal("pull invite carries a secret")
	}
	if _, err := NewInvite(detRand(7), d.Key, nil, d.Public, InviteGrant{Role: RolePull}, 0, &d.Secret); err == nil {
		t.Fatal("a pull invite took a read secret")
	}
	if _, err := NewInvite(detRand(7), d.Key, nil, d.Public, InviteGrant{Role: RoleRead}, 0, nil); err == nil {
		t.Fatal("a read invite without a read secret")
	}
}

func TestParseInviteRefuses(t *testing.T) {
	d := newDoc(t, 1)
	inv, err := NewInvite(detRand(7), d.Key, nil, d.Public, InviteGrant{Role: RoleRead}, 3, &d.Secret)
	must(t, err)
	s := inv.String()
	other, err := NewInvite(detRand(8), d.Key, nil, d.Public, InviteGrant{Role: RoleRead}, 3, &d.Secret)
	must(t, err)
	swapped := *inv
	swapped.Seed = other.Seed // someone else's invite key
	noSecret := *inv
	noSecret.Secret = nil
	for name, c := range map[string]struct{ s, reason string }{
		"no prefix":      {strings.TrimPrefix(s, InvitePrefix), vocab.ReasonMalformed},
		"bad base64":     {s + "!", vocab.ReasonMalformed},
		"padded":         {s + "=", vocab.ReasonMalformed},
		"truncated":      {s[:len(s)-5], vocab.ReasonMalformed},
		"too long":       {InvitePrefix + strings.Repeat("A", MaxInviteChars), vocab.ReasonOversized},
		"wrong seed":     {swapped.String(), vocab.ReasonCapability},
		"reader, no key": {noSecret.String(), vocab.ReasonMalformed},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseInvite(c.s)
			wantReason(t, err, c.reason)
		})
	}
}

func TestFirstRedemption(t *testing.T) {
	d := newDoc(t, 1)
	inv, err := NewInvite(detRand(7), d.Key, nil, d.Public, InviteGrant{Role: RoleRead}, 0, &d.Secret)
	must(t, err)
	var links []*Link
	for i := range 5 {
		c, err := Join(inv, newDevice(t, uint64(i)), RoleNone, "", 0)
		must(t, err)
		links = append(links, c.Leaf())
	}
	first := FirstRedemption(links)
	for _, l := range links {
		h, fh := l.Hash(), first.Hash()
		if string(h[:]) < string(fh[:]) {
			t.Fatal("FirstRedemption is not the lowest hash")
		}
	}
	rev := []*Link{links[4], links[3], links[2], links[1], links[0]}
	if FirstRedemption(rev) != first {
		t.Fatal("FirstRedemption depends on the order it is given links in")
	}
	if FirstRedemption(nil) != nil {
		t.Fatal("FirstRedemption of none")
	}
}
