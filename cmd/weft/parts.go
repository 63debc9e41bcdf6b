package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"weft/api"
	"weft/obs"
	"weft/p2p"
	"weft/replica"
	"weft/store"
)

// parts are what a daemon and a relay both run on a data directory: the
// store, the libp2p node and the replica manager, with the metrics they
// feed. They are started in that order and closed in the reverse one.
type parts struct {
	dir   string
	log   *slog.Logger
	hooks testHooks
	met   *obs.Metrics
	st    *store.Store
	node  *p2p.Node
	mgr   *replica.Manager

	stopHooks func()
}

// startParts creates the data directory if needed and starts the parts.
// node and replica adjust the options that differ between a daemon and a
// relay; the store, identity, transport, observer and logging are set here,
// and the test hooks (empty in the shipped binary) are applied.
func startParts(ctx context.Context, data string, log *slog.Logger, hooks testHooks, node func(*p2p.Options), rep func(*replica.Options)) (*parts, error) {
	dir, err := filepath.Abs(data)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	p := &parts{dir: dir, log: log, hooks: hooks}
	ro := replica.DefaultOptions()
	if p.stopHooks, err = hooks.start(log, &ro); err != nil {
		return nil, withCode(2, err)
	}
	if p.met, err = obs.NewMetrics(obs.DefaultOptions()); err != nil {
		p.close()
		return nil, err
	}
	so := store.DefaultOptions()
	so.Logger = log.With("part", "store")
	so.Metrics = storeMetrics{p.met}
	if p.st, err = store.Open(dir, so); err != nil {
		p.close()
		return nil, err
	}
	po := p2p.DefaultOptions()
	po.IdentityFile = filepath.Join(dir, "identity.key")
	po.Logger = log.With("part", "p2p")
	node(&po)
	if p.node, err = p2p.New(ctx, po); err != nil {
		p.close()
		return nil, err
	}
	ro.Store = p.st
	ro.Transport = p2pTransport{p.node}
	if ro.Device, err = p.node.DeviceKey(); err != nil {
		p.close()
		return nil, err
	}
	if h, err := os.Hostname(); err == nil && len(h) <= 64 {
		ro.DeviceLabel = h
	}
	ro.Observer = p.met
	ro.Logger = log.With("part", "replica")
	ro.Info = api.NodeStatus{DataDir: dir, Version: version}
	rep(&ro)
	if p.mgr, err = replica.New(ro); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// close stops whatever was started, in reverse order, logging failures.
func (p *parts) close() {
	if p.mgr != nil {
		if err := p.mgr.Close(); err != nil {
			p.log.Error("closing documents", "err", err)
		}
	}
	if p.node != nil {
		if err := p.node.Close(); err != nil {
			p.log.Error("closing the network node", "err", err)
		}
	}
	if p.st != nil {
		if err := p.st.Close(); err != nil {
			p.log.Error("closing the store", "err", err)
		}
	}
	if p.stopHooks != nil {
		p.stopHooks()
	}
}
