package main

import (
	"context"

	"weft/api"
	"weft/p2p"
	"weft/replica"
	"weft/store"
	"weft/ui"
)

// daemonBackend is the replica manager as the API's backend, with the
// replica's and the network node's counters added to the node status (for
// diagnostics and the multi-process tests).
type daemonBackend struct {
	*replica.Manager
	node    *p2p.Node
	st      *store.Store
	backups *backupSchedule
	life    context.Context // the daemon's: ends at shutdown
}

var (
	_ ui.Backend        = daemonBackend{}
	_ ui.SessionBackend = daemonBackend{}
)

// OpenSession attaches an editor tab (ui declares the session interface;
// replica returns its own type).
func (b daemonBackend) OpenSession(ctx context.Context, id string) (ui.Session, error) {
	s, err := b.Manager.OpenSession(ctx, id)
	if err != nil {
		return nil, err
	}
	return s, nil
}

func (b daemonBackend) Status(ctx context.Context) (api.NodeStatus, error) {
	st, err := b.Manager.Status(ctx)
	if err != nil {
		return st, err
	}
	st.Counters = &api.Counters{
		Replica:        b.Manager.Stats(),
		GossipRejected: b.node.Rejected(),
		GossipIgnored:  b.node.Ignored(),
	}
	return st, nil
}

// Backup writes a backup of the daemon's store while it runs (POST
// /api/backups; `weft backup create` comes here when the daemon holds the
// data directory).
func (b daemonBackend) Backup(ctx context.Context, req api.BackupRequest) (api.BackupInfo, error) {
	// A backup in progress at shutdown stops (and its partial file is
	// removed) before the store closes under it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(b.life, cancel)()
	return b.backups.backupNow(ctx, b.st, req)
}
