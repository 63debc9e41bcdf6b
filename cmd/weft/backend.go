package main

import (
	"context"

	"weft/api"
	"weft/p2p"
	"weft/replica"
	"weft/ui"
)

// daemonBackend is the replica manager as the API's backend, with the
// replica's and the network node's counters added to the node status (for
// diagnostics and the multi-process tests).
type daemonBackend struct {
	*replica.Manager
	node *p2p.Node
}

var _ ui.Backend = daemonBackend{}

func (b daemonBackend) Status(ctx context.Context) (api.NodeStatus, error) {
	st, err := b.Manager.Status(ctx)
	if err != nil {
		return st, err
	}
	st.Counters = &api.Counters{
		Replica:        api.ReplicaCounters(b.Manager.Stats()),
		GossipRejected: b.node.Rejected(),
	}
	return st, nil
}
