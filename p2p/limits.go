package p2p

import (
	"strings"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/protocol"
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

// Stream limits of each weft protocol (see weftProtocol), whatever the
// scaling: at most 64 inbound and 64 outbound streams of one protocol at
// once, and 8 each way per peer. The replica's catch-up opens at most 8
// streams at once (possibly all to one relay), so 8 per peer never refuses
// an honest peer; beyond it, and beyond 64 in all, the stream is reset as it
// is negotiated, before the handler runs.
const (
	weftProtoStreams     = 64
	weftProtoPeerStreams = 8
)

// weftProtocol reports whether proto is one of weft's own stream protocols
// (Handle/Open: "/weft/..."), not the DHT's "/weft/kad/...", whose limits
// stay libp2p's.
func weftProtocol(proto protocol.ID) bool {
	return strings.HasPrefix(string(proto), "/weft/") && !strings.HasPrefix(string(proto), string(dhtPrefix)+"/kad/")
}

// weftLimiter is the fixed limiter with weft's stream limits for weft's
// protocols. Memory stays libp2p's per-protocol default.
type weftLimiter struct {
	rcmgr.Limiter
}

func (l weftLimiter) GetProtocolLimits(proto protocol.ID) rcmgr.Limit {
	def := l.Limiter.GetProtocolLimits(proto)
	if !weftProtocol(proto) {
		return def
	}
	return &rcmgr.BaseLimit{
		Streams: 2 * weftProtoStreams, StreamsInbound: weftProtoStreams, StreamsOutbound: weftProtoStreams,
		Memory: def.GetMemoryLimit(),
	}
}

func (l weftLimiter) GetProtocolPeerLimits(proto protocol.ID) rcmgr.Limit {
	def := l.Limiter.GetProtocolPeerLimits(proto)
	if !weftProtocol(proto) {
		return def
	}
	return &rcmgr.BaseLimit{
		Streams: 2 * weftProtoPeerStreams, StreamsInbound: weftProtoPeerStreams, StreamsOutbound: weftProtoPeerStreams,
		Memory: def.GetMemoryLimit(),
	}
}

func newResourceManager(o *Options) (network.ResourceManager, error) {
	return rcmgr.NewResourceManager(weftLimiter{rcmgr.NewFixedLimiter(limits(o))})
}

// systemConns is the resource manager's system-wide connection limit.
func systemConns(o *Options) int {
	return rcmgr.NewFixedLimiter(limits(o)).GetSystemLimits().GetConnTotalLimit()
}
