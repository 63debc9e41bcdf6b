package p2p

import (
	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
)

// limits returns the resource manager limits for the options: libp2p's
// default scaling table with its service limits (identify, ping, relay,
// autonat, hole punching), scaled to ResourceMemory and ResourceFDs. With the
// defaults (256 MiB, 512 FDs) the system scope allows 160 connections (80
// inbound), 2560 streams and 384 MiB; see doc.go for the full table. The
// system connection limit stays well above ConnHigh so that the connection
// manager trims before the resource manager refuses.
func limits(o *Options) rcmgr.ConcreteLimitConfig {
	cfg := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&cfg)
	return cfg.Scale(o.ResourceMemory, o.ResourceFDs)
}

func newResourceManager(o *Options) (network.ResourceManager, error) {
	return rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits(o)))
}

// systemConns is the resource manager's system-wide connection limit.
func systemConns(o *Options) int {
	return rcmgr.NewFixedLimiter(limits(o)).GetSystemLimits().GetConnTotalLimit()
}
