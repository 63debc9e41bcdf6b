package replica

import (
	"context"
	"errors"
	"testing"

	"weft/api"
	"weft/store"
)

// A relay keeps a document a member granted it (pull: it stores and
// serves the envelopes without reading them), acknowledges what it has
// made durable, and serves it to members that come later, when the writer
// is gone.
func TestRelayHostsAcksAndServes(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	relay := newTestNode(t, h, "relay", func(o *Options) { o.Host = HostPolicy{All: true}; o.AckDurable = true })
	a := newTestNode(t, h, "a", func(o *Options) { o.Relays = []string{"relay"} })
	info, _ := a.m.CreateDoc(ctx, "kept")
	edit(t, a, info.ID, api.Edit{Ins: "written while b is away"})
	id, _ := store.ParseDocID(info.ID)
	if err := a.m.Host(ctx, info.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err != nil {
		t.Fatal(err)
	}
	agentA := a.m.opts.Agent
	waitFor(t, "the relay to host the document", func() bool {
		st, err := relay.m.DocStatus(ctx, info.ID)
		return err == nil && st.Role == "pull" && st.Version[agentA] > 0
	})
	if _, err := relay.m.Text(ctx, info.ID); !errors.Is(err, api.ErrForbidden) {
		t.Fatalf("a pull member read the text: %v", err)
	}
	waitFor(t, "a to see the relay's acknowledgement", func() bool {
		st, err := a.m.DocStatus(ctx, info.ID)
		return err == nil && st.RelayAcked[agentA] == st.Version[agentA] && st.Version[agentA] > 0
	})
	// Acknowledgements from a peer that is not a configured relay count
	// for nothing.
	d, _ := a.m.doc(id)
	d.relayAcked("mallory", map[string]uint64{agentA: 999})
	if st, _ := a.m.DocStatus(ctx, info.ID); st.RelayAcked[agentA] == 999 {
		t.Fatal("an acknowledgement from a stranger was recorded")
	}
	// a invites b and leaves; b, who only knows the relay, gets the
	// document.
	inv, err := a.m.Invite(ctx, info.ID, api.InviteRequest{Role: "write"})
	if err != nil {
		t.Fatal(err)
	}
	h.disconnect(a.net, relay.net)
	a.stop(t)
	b := newTestNode(t, h, "b", func(o *Options) { o.Relays = []string{"relay"} })
	h.connect(b.net, relay.net)
	if _, err := b.m.JoinInvite(ctx, inv.Invite); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to get the document from the relay", func() bool { return text(t, b, info.ID) == "written while b is away" })
	// A relay with a list hosts only those; a daemon hosts nothing.
	other := store.NewDocID()
	listed := newTestNode(t, h, "listed", func(o *Options) { o.Host = HostPolicy{Docs: []store.DocID{other}} })
	c := newTestNode(t, h, "c", nil)
	for _, n := range []string{"listed", "c"} {
		if err := b.m.Host(ctx, info.ID, api.HostRequest{Relay: "/memory/" + n + "/p2p/" + n}); err == nil {
			t.Fatalf("%s took a document it does not keep", n)
		}
	}
	for _, n := range []*testNode{listed, c} {
		if l, _ := n.m.ListDocs(ctx); len(l) != 0 {
			t.Fatalf("%v keeps %+v", n.net.id, l)
		}
	}
}
