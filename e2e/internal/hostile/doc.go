// Command hostile is a test helper for the e2e tests: a member of a
// members-only document (docs/members-only.md) that sends a weft daemon
// crafted input. It runs two libp2p hosts, each a device with its own
// chain, made with member.Join from an invite the test gives it:
//
//   - a gossip node (weft's own p2p package, so messages are properly
//     signed and routed) whose identity key is a writer's device key
//     (-invite, role write). It joins the document's topic
//     (weft/doc/<topic hex>), announces both devices' chains ([3, chain],
//     route-sealed) and publishes crafted messages: route-sealed unless
//     the case is about the seal. It also answers the daemon's own
//     catch-up requests, with crafted replies when told to.
//   - a raw stream host whose identity key is a reader's device key
//     (-read-invite, role read). It opens catch-up streams
//     (/weft/sync/2.0.0: open → prove → prove → hello → txns/done) and
//     writes frames byte by byte, so that it can cut them short or make
//     them too long, and runs the handshake properly up to the step a case
//     is about.
//
// What weft's packages build is valid by construction: keys, chains,
// invites, headers and seals come from package member, transactions from
// crdt, sync messages from wire. Where a case needs what they refuse to
// build (a header signed for another device's agent, a link its issuer may
// not give, an old format version), the bytes are written here from the
// formats in docs/members-only.md. A third device key that no chain names
// (the stranger) signs transactions too; -expired-invite (optional, an
// invite expiring within seconds) gives the reader's key a chain that has
// expired by the time it is used.
//
// Usage: hostile -peer MULTIADDR -doc ID -invite WRITE-INVITE
// -read-invite READ-INVITE [-expired-invite INVITE] [-seed N]. It prints
// one JSON line when ready (with both devices' IDs), then reads commands
// on stdin, one per line, and answers each with one JSON line on stdout:
//
//	topic CASE   publish the crafted message CASE on the topic
//	sync CASE    run the crafted catch-up exchange CASE
//	serve CASE   answer the daemon's next catch-up request with CASE
//	             (the answer line comes once it has been served)
//	announce     publish both devices' chains again (sealed with fresh
//	             nonces: new bytes to GossipSub)
//	attack ...   run one flood of the hostile-bounds suite for a given
//	             time and answer with the bytes it sent (attacks.go
//	             lists them)
//	quit
package main
