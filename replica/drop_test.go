package replica

import (
	"context"
	"errors"
	"strings"
	"testing"

	"weft/api"
	"weft/member"
	"weft/store"
)

// Deleting a document asks its relay to drop it only when the deleting
// device may (an admin, or the last member), and the relay judges the
// signed request with its own book: a writer's request, while the admin
// is a member, is refused and changes nothing; the admin's deletes every
// key of the document on the relay.
func TestDeleteAsksRelayToDrop(t *testing.T) {
	ctx := context.Background()
	h := newHub()
	relay := newTestNode(t, h, "relay", func(o *Options) { o.Host = HostPolicy{All: true}; o.AckDurable = true })
	a := newTestNode(t, h, "a", func(o *Options) { o.Relays = []string{"relay"} })
	b := newTestNode(t, h, "b", func(o *Options) { o.Relays = []string{"relay"} })
	info, _ := a.m.CreateDoc(ctx, "to drop")
	edit(t, a, info.ID, api.Edit{Ins: "soon gone"})
	id, _ := store.ParseDocID(info.ID)
	if err := a.m.Host(ctx, info.ID, api.HostRequest{Relay: "/memory/relay/p2p/relay"}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the relay to host the document", func() bool {
		st, err := relay.m.DocStatus(ctx, info.ID)
		return err == nil && st.Role == "pull" && st.Version[a.m.opts.Agent] > 0
	})
	h.connect(a.net, b.net)
	h.connect(b.net, relay.net)
	share(t, a, b, info.ID, api.RoleWrite)

	// The writer b, not the last member once its book holds a's chain
	// (until then it may believe it is: the relay's book decides).
	waitFor(t, "b to know a as a member", func() bool {
		ms, _ := b.m.Members(ctx, info.ID)
		n := 0
		for _, m := range ms {
			if m.Role != api.RolePull {
				n++
			}
		}
		return n >= 2
	})
	waitFor(t, "b to hold the text", func() bool { return text(t, b, info.ID) == "soon gone" })
	bd, _ := b.m.doc(id)
	why, asked := b.m.askRelaysToDrop(ctx, bd)
	if len(asked) != 0 || !strings.Contains(why, "not asked") {
		t.Fatalf("b asked the relays: %q %+v", why, asked)
	}
	// b asks anyway: the relay refuses on its own judgement.
	chain := bd.mem.localChain()
	drop, err := member.NewDrop(b.m.dev.Sign, chain, id, b.m.opts.Now().Unix())
	if err != nil {
		t.Fatal(err)
	}
	if ans := b.m.askDrop(ctx, "relay", drop.Marshal()); !strings.Contains(ans, "refused: the signer is not an admin and 1 other members") {
		t.Fatalf("the relay answered a writer's drop with %q", ans)
	}
	// a's request, sent by b (a replay by another peer), is refused too.
	ad, _ := a.m.doc(id)
	achain := ad.mem.localChain()
	adrop, _ := member.NewDrop(a.m.dev.Sign, achain, id, a.m.opts.Now().Unix())
	if ans := b.m.askDrop(ctx, "relay", adrop.Marshal()); !strings.Contains(ans, "another device than the peer") {
		t.Fatalf("the relay answered the admin's drop sent by b with %q", ans)
	}
	if _, err := relay.m.DocStatus(ctx, info.ID); err != nil {
		t.Fatalf("the relay lost the document to a refused drop: %v", err)
	}

	res, err := a.m.DeleteDoc(ctx, info.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Asked != "admin" || len(res.Relays) != 1 || res.Relays[0] != (api.RelayDrop{Peer: "relay", Result: answerDropped}) {
		t.Fatalf("delete: %+v", res)
	}
	if _, err := relay.m.DocStatus(ctx, info.ID); !errors.Is(err, api.ErrUnknownDoc) {
		t.Fatalf("the relay still has the document: %v", err)
	}
	if _, err := relay.store.Meta(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the relay's store still has it: %v", err)
	}
	if _, err := relay.store.GetMembers(ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the relay's store still has its membership: %v", err)
	}
	// b keeps its copy: deleting is not revoking.
	if got := text(t, b, info.ID); got != "soon gone" {
		t.Fatalf("b's copy after a's delete: %q", got)
	}
}

// The last member is judged on the book: with only relays besides it, a
// writer is the last member.
func TestLastMember(t *testing.T) {
	ctx := context.Background()
	a := newTestNode(t, nil, "a", nil)
	info, _ := a.m.CreateDoc(ctx, "x")
	id, _ := store.ParseDocID(info.ID)
	d, _ := a.m.doc(id)
	d.mem.mu.Lock()
	last, others := lastMember(d.mem.book, a.m.dev.Public(), a.m.opts.Now())
	d.mem.mu.Unlock()
	if !last || others != 0 {
		t.Fatalf("the creator alone: last %v, %d others", last, others)
	}
}
