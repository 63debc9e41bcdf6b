// Package member is the pure core of members-only documents: who may do
// what to a document, proved offline with nothing but public keys, and
// how its contents are sealed so that only members read them. Package
// replica wires it in (docs/members-only.md says how and why it is built
// this way, and what is not wired yet).
//
// It owns:
//
//   - Document keys (NewDocument): an Ed25519 key pair, the root of the
//     document's authority, and a 32-byte read secret (epoch 0). The
//     document ID is the first 16 bytes of SHA-256 over a domain label and
//     the public key (DocIDOf), so an ID and a key check each other
//     (CheckDocKey). The Genesis record carries the key, signed by it.
//   - Devices (DeviceFrom): a device's Ed25519 key (its libp2p identity)
//     and an X25519 key derived from its seed with HKDF, that read secrets
//     are sealed to.
//   - Roles: pull < read < write < admin (Role; methods CanPull, CanRead,
//     CanWrite, CanDelegate, Covers, MayGrant).
//   - Capabilities: a Link grants a role to a subject key, signed by its
//     issuer (the document key, or the previous link's subject); a Chain
//     of at most MaxChainLinks (16) links from the document key to a leaf
//     is a capability. Verify checks signatures, that roles never rise,
//     that only admins delegate (an invite key issues one link: the joining
//     device's), expiry, and bounds.
//   - Invites: one string, "weft:invite/" and base64url of CBOR (it is
//     also the link the editor opens), at most MaxInviteChars characters,
//     carrying the document key, a one-time invite key's seed, the chain
//     to it and, for reading roles, the current epoch's secret
//     (ParseInvite); Join makes the joining device's chain. Where one
//     invite is redeemed twice, the lowest link hash counts
//     (FirstRedemption).
//   - Sealing: each epoch's read secret gives, by HKDF, one key per
//     purpose (payload, title, presence, epoch); XChaCha20-Poly1305 with
//     random 24-byte nonces seals, a short prefix names version, purpose
//     and epoch (ParseSealed), and the associated data is the prefix and
//     the caller's (a payload's header). A Keyring holds a member's epochs.
//   - Signed headers: Header (document, agent, seq, length, parents,
//     epoch, hash of the sealed payload, hash of the agent's previous
//     header, signature). An agent name is its device's ID (base64url of
//     its public key, 43 characters) or that and '.' and a tab suffix
//     (AgentOf, TabAgent, DeviceOf, OwnsAgent), so a header names the key
//     that must have signed it. VerifyRun (decoded headers) and ParseRun
//     (bytes, the catch-up path) verify a run of one agent's consecutive
//     headers by hashing back from the newest one's signature: one Ed25519
//     verification per run instead of one per transaction.
//   - Equivocation: a Proof is two signed headers of one agent that cannot
//     both be in one history; it verifies with nothing else.
//     CheckConsistent refuses a header that conflicts with an accepted one.
//   - Payloads: SealPayload and OpenPayload tie a sealed payload to its
//     header (its epoch, its hash, its associated data).
//   - Removal: a Revocation (signed by an admin or the document key) names
//     the revoked key, how many of its agents' seqs count, and a Rekey:
//     the new epoch's secret sealed to each remaining reader with HPKE
//     (crypto/hpke: DHKEM(X25519), HKDF-SHA256, ChaCha20-Poly1305), and the
//     previous secret sealed under the new one. Counted applies the rule.
//   - Deletion: a Drop (drop.go), signed by a member's device, asks a
//     relay to delete a document; VerifyDrop checks it (its chain, its
//     signature, its time within DropWindow) and the relay judges with its
//     book whether the signer may (an admin, or the last member).
//   - What travels and is kept (envelope.go, route.go, book.go): the
//     Envelope [2, header, sealed payload] that is gossiped, stored and
//     served; member announcements (kind 3), revocations (4) and proofs
//     (5) on the same topic; the RouteKey every member derives from the
//     document ID, which seals whole gossip messages with a synthetic
//     nonce (one message, one byte form) under the topic name; topic
//     names (TopicHex) and catch-up's OpenMAC, which hide the ID; the Book
//     (document key, chains, revocations, proofs: public) and Local (this
//     device's chain, secrets, the creator's document key, a relay's
//     sealed title: private) a replica stores per document.
//
// Every record is CBOR in Core Deterministic Encoding, starts with its
// format version (Format, 1), and is decoded with bounds (each has a
// Max…Bytes limit checked first) and refused unless re-encoding gives the
// same bytes, so each record has one byte form and one hash. Every
// signature and hash covers a domain label first ("weft/member/v1/…").
// Refusals are vocab rejections naming a reason (capability, signature,
// expired, epoch, decrypt, agent-owner, hash-chain, revoked, malformed,
// oversized, version, wrong-document).
//
// The package is pure: no I/O, goroutines, clocks or logging. Time is
// passed in (unix seconds; IgnoreExpiry judges records of the history,
// which must not depend on a clock), and so is randomness (an io.Reader),
// except for crypto/hpke's ephemeral keys, which Go draws from the system
// source. It imports vocab, the standard library, golang.org/x/crypto
// (XChaCha20-Poly1305) and fxamacker/cbor, and no crypto is written here.
// It builds for GOOS=js GOARCH=wasm, so the editor tab can seal and open.
package member
