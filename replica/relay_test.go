package replica

import (
	"context"
	"testing"

	"weft/api"
	"weft/store"
)

// A relay keeps every document its peers sync with it, acknowledges what
// it has made durable, and serves it to peers that come later, when the
// writer is gone.
func TestRelayHostsAcksAndServes(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	relay := newTestNode(t, h, "relay", func(o *Options) { o.Host = HostPolicy{All: true}; o.AckDurable = true })
	a := newTestNode(t, h, "a", func(o *Options) { o.Relays = []string{"relay"} })
	info, _ := a.m.CreateDoc(ctx, "kept")
	edit(t, a, info.ID, api.Edit{Ins: "written while b is away"})
	h.connect(a.net, relay.net) // a syncs its documents with the relay
	id, _ := store.ParseDocID(info.ID)
	waitFor(t, "the relay to host the document", func() bool {
		s, err := relay.m.Text(ctx, info.ID)
		return err == nil && s == "written while b is away"
	})
	waitFor(t, "a to see the relay's acknowledgement", func() bool {
		st, err := a.m.DocStatus(ctx, info.ID)
		return err == nil && st.RelayAcked["a"] == st.Version["a"] && st.Version["a"] > 0
	})
	// Acknowledgements from a peer that is not a configured relay count
	// for nothing.
	d, _ := a.m.doc(id)
	d.relayAcked("mallory", map[string]uint64{"a": 999})
	if st, _ := a.m.DocStatus(ctx, info.ID); st.RelayAcked["a"] == 999 {
		t.Fatal("an acknowledgement from a stranger was recorded")
	}
	// a leaves; b, who only knows the relay, gets the document.
	h.disconnect(a.net, relay.net)
	a.stop(t)
	b := newTestNode(t, h, "b", func(o *Options) { o.Relays = []string{"relay"} })
	h.connect(b.net, relay.net)
	if _, err := b.m.JoinDoc(ctx, info.ID); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to get the document from the relay", func() bool { return text(t, b, info.ID) == "written while b is away" })
	// A relay with a list hosts only those.
	other := store.NewDocID()
	listed := newTestNode(t, h, "listed", func(o *Options) { o.Host = HostPolicy{Docs: []store.DocID{other}} })
	if l, _ := listed.m.ListDocs(ctx); len(l) != 1 || l[0].ID != other.String() {
		t.Fatalf("listed relay hosts %+v", l)
	}
	h.connect(b.net, listed.net)
	if err := b.m.SyncWith(ctx, "listed", id); err == nil {
		t.Fatal("a relay with a list took a document not on it")
	}
}
