package api

import (
	"errors"
	"time"

	"weft/vocab"
)

// Errors returned by the Manager, wrapped with details; test with errors.Is.
var (
	ErrUnknownDoc = errors.New("unknown document")
	ErrBadInput   = errors.New("bad input") // malformed ID, position out of range, bad UTF-8, …
	ErrClosed     = errors.New("closed")
	// ErrForbidden: this device's role in the document does not allow the
	// request (a reader editing, a writer inviting, …).
	ErrForbidden = errors.New("not allowed by this device's role")
	// ErrNeedInvite: a members-only document is joined with an invite, not
	// its ID.
	ErrNeedInvite = errors.New("members-only documents are joined with an invite (weft doc join INVITE); ask a member for one")
)

// Roles, as the API and the command line spell them (package member's
// roles, lowest first).
const (
	RolePull  = "pull"  // fetch, store and serve ciphertext: a relay
	RoleRead  = "read"  // read, not write
	RoleWrite = "write" // read and write
	RoleAdmin = "admin" // write, invite and remove
)

// DocInfo describes a document this replica has.
type DocInfo struct {
	ID         string    `json:"id"` // vocab.DocID's text form: 32 lowercase hex digits
	Title      string    `json:"title"`
	Created    time.Time `json:"created"`
	LastOpened time.Time `json:"last_opened"`
	Chars      int       `json:"chars"` // code points, when the document is open (else -1)
	// Role is this device's role in the document (Role*). Empty for a
	// legacy document (made before members-only documents): it stays
	// local until upgraded (weft doc upgrade).
	Role string `json:"role"`
}

// InviteRequest asks for an invite to a document.
type InviteRequest struct {
	Role    string `json:"role"`              // Role*: pull, read, write or admin
	Label   string `json:"label,omitempty"`   // who it is for (≤ 64 bytes; visible to members and relays)
	Expires int64  `json:"expires,omitempty"` // seconds from now; 0: never
}

// InviteInfo is an invite made for a document.
type InviteInfo struct {
	Invite  string    `json:"invite"` // "weft:invite/…": one string, also a link the editor opens
	Doc     string    `json:"doc"`
	Role    string    `json:"role"`
	Label   string    `json:"label,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
}

// MemberInfo is one member (a device, or an invite not yet redeemed) of a
// document, as this replica knows the document's capabilities.
type MemberInfo struct {
	Device    string    `json:"device"`     // the device's ID (base64url of its public key)
	Label     string    `json:"label"`      // as its capability names it
	Role      string    `json:"role"`       // Role*
	InvitedBy string    `json:"invited_by"` // the device ID that granted it ("" for the document's key)
	Invite    bool      `json:"invite"`     // an invite key not redeemed yet
	Expires   time.Time `json:"expires,omitzero"`
	Self      bool      `json:"self"`    // this device
	Removed   bool      `json:"removed"` // revoked
}

// HostRequest grants a relay the pull role for a document.
type HostRequest struct {
	Relay string `json:"relay"` // the relay's multiaddr, ending /p2p/<peer ID>
}

// Edit is one local edit: delete Del code points at Pos, then insert Ins.
// Each Edit becomes its own transaction.
type Edit struct {
	Pos int    `json:"pos"`
	Del int    `json:"del"`
	Ins string `json:"ins"`
}

// EditResult is returned once the edits are durable locally.
type EditResult struct {
	Applied int           `json:"applied"` // edits applied (all, on success)
	Version vocab.Version `json:"version"` // the document's version afterwards
	Chars   int           `json:"chars"`
}

// DocStatus is the state of one document.
type DocStatus struct {
	ID          string        `json:"id"`
	Title       string        `json:"title"`
	Chars       int           `json:"chars"`
	Version     vocab.Version `json:"version"`
	Frontier    []string      `json:"frontier"` // "agent@seq"
	Peers       []string      `json:"peers"`    // peer IDs connected for this document
	Buffered    int           `json:"buffered"` // transactions waiting for their parents
	RelayAcked  vocab.Version `json:"relay_acked,omitempty"`
	Agent       string        `json:"agent"`
	LastApplied time.Time     `json:"last_applied,omitzero"`
	Role        string        `json:"role"`    // this device's role (Role*; "" for a legacy document)
	Members     int           `json:"members"` // devices holding a capability (removed ones excluded)
	Epoch       uint64        `json:"epoch"`   // the read secret's epoch
	// Forks lists agents caught writing two different transactions under
	// one (agent, seq): "agent@seq", the seq from which nothing of theirs
	// counts. Non-empty means the document is degraded.
	Forks []string `json:"forks,omitempty"`
	// Fetch lists what `weft check --repair` recorded to fetch from peers
	// and has not arrived yet (`"agent" seqs a..b`); catch-up fetches it.
	Fetch []string `json:"fetch,omitempty"`
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID    string   `json:"id"`
	Addrs []string `json:"addrs"`
}

// NodeStatus describes this replica's node.
type NodeStatus struct {
	PeerID string `json:"peer_id"`
	// Device is this node's device ID (base64url of its Ed25519 key): a
	// tab's agent is Device + "." + a suffix of 1–20 base64url characters.
	Device  string   `json:"device"`
	Addrs   []string `json:"addrs"`
	API     string   `json:"api"`
	DataDir string   `json:"data_dir"`
	Docs    int      `json:"docs"`
	Open    int      `json:"open_docs"`
	Peers   int      `json:"peers"`
	Version string   `json:"version"`
	// Counters are what the daemon counted since it started (nil when the
	// backend keeps none).
	Counters *Counters `json:"counters,omitempty"`
}

// Counters count what a daemon did since it started: transactions applied
// and exchanged, and input from peers it rejected, by reason.
type Counters struct {
	Replica ReplicaCounters `json:"replica"`
	// GossipRejected counts gossip messages from other peers that the
	// network layer rejected (size, or the replica's validator), by reason.
	GossipRejected map[string]uint64 `json:"gossip_rejected"` // by vocab.Reason* label
	// GossipIgnored counts gossip messages from other peers dropped
	// without blame (known already, over a rate), by reason.
	GossipIgnored map[string]uint64 `json:"gossip_ignored,omitempty"`
}

// ReplicaCounters are the replica manager's counters (replica.Manager.Stats).
type ReplicaCounters struct {
	LocalTxns      uint64            `json:"local_txns"`      // local transactions persisted
	RemoteTxns     uint64            `json:"remote_txns"`     // transactions from peers integrated and persisted
	Published      uint64            `json:"published"`       // gossip messages published
	GossipReceived uint64            `json:"gossip_received"` // gossip messages received
	SyncReceived   uint64            `json:"sync_received"`   // envelopes received by catch-up
	SyncSent       uint64            `json:"sync_sent"`       // envelopes sent by catch-up
	SyncRuns       uint64            `json:"sync_runs"`       // catch-up exchanges completed
	SyncFailures   uint64            `json:"sync_failures"`   // catch-up exchanges that failed
	Rejected       map[string]uint64 `json:"rejected"`        // input rejected (gossip, catch-up), by vocab.Reason* label
}

// BackupRequest asks the daemon for a backup of its whole store, taken
// while it keeps running (POST /api/backups).
type BackupRequest struct {
	// To is where: an absolute directory (created if needed) or
	// s3://BUCKET/PREFIX, with the daemon's own S3 settings.
	To string `json:"to"`
	// KeepLast and KeepDaily, when either is set, prune older backups in
	// To afterwards as `weft backup create --keep-last/--keep-daily` do.
	KeepLast  int `json:"keep_last,omitempty"`
	KeepDaily int `json:"keep_daily,omitempty"`
}

// MaxBackupKeep bounds BackupRequest.KeepLast and KeepDaily.
const MaxBackupKeep = 100_000

// BackupInfo is the backup a BackupRequest wrote.
type BackupInfo struct {
	Name    string    `json:"name"` // the backup's name in To; its timestamp is its ID
	To      string    `json:"to"`
	Created time.Time `json:"created"` // the moment the store was read
	Docs    int       `json:"documents"`
	Entries uint64    `json:"entries"` // stored values copied
	Bytes   uint64    `json:"bytes"`   // their keys' and values' bytes
	// Pruned names the older backups deleted afterwards; PruneError says
	// why pruning failed (the backup itself was written).
	Pruned     []string `json:"pruned,omitempty"`
	PruneError string   `json:"prune_error,omitempty"`
}

// History (issue 13). A version is printed as crdt's Frontier.String
// ("agent@seq,…", "0" for the empty document); wherever a request takes
// a version it also takes an RFC 3339 time (the version at that time).

// Millis is a time in milliseconds since the Unix epoch, as transactions
// carry it. In JSON it is RFC 3339 with milliseconds, or null when
// unknown (0: transactions written before times were kept).
type Millis int64

// MarshalJSON writes RFC 3339 with milliseconds, or null.
func (m Millis) MarshalJSON() ([]byte, error) {
	if m == 0 {
		return []byte("null"), nil
	}
	return []byte(`"` + time.UnixMilli(int64(m)).UTC().Format("2006-01-02T15:04:05.000Z07:00") + `"`), nil
}

// UnmarshalJSON reads RFC 3339 or null.
func (m *Millis) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = 0
		return nil
	}
	var t time.Time
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	*m = Millis(t.UnixMilli())
	return nil
}

// FutureSlack is how far past the daemon's clock a time may be before it
// is marked "future" (the author's clock was ahead; it is shown, not
// trusted).
const FutureSlack = 5 * time.Minute

// HistorySession is an author's run of edits with no pause of 5 minutes
// or more.
type HistorySession struct {
	Agent    string `json:"agent"`
	Device   string `json:"device"` // the member's label, "" when unknown
	Start    Millis `json:"start"`
	End      Millis `json:"end"`
	Future   bool   `json:"future,omitempty"` // End is past the daemon's clock by more than FutureSlack
	Inserted int    `json:"inserted"`         // code points
	Deleted  int    `json:"deleted"`
	Titles   int    `json:"titles,omitempty"` // renames
	Txns     int    `json:"txns"`
	Version  string `json:"version"` // right after its last edit
}

// History is a document's editing sessions, newest first.
type History struct {
	Version  string           `json:"version"` // the current version
	Sessions []HistorySession `json:"sessions"`
}

// InsertedSpan is a run of code points of a text inserted by one agent.
type InsertedSpan struct {
	Start int    `json:"start"`
	Len   int    `json:"len"`
	Agent string `json:"agent"`
}

// TextAt is a document's text at a version; Inserted (asked for with
// since=VERSION) are the spans inserted after that version.
type TextAt struct {
	Version  string         `json:"version"`
	Text     string         `json:"text"`
	Inserted []InsertedSpan `json:"inserted,omitempty"`
}

// Diff is the unified diff between the texts at two versions.
type Diff struct {
	From string `json:"from"`
	To   string `json:"to"`
	Diff string `json:"diff"`
}

// BlameLine is one line of a text and the edit that last changed it.
type BlameLine struct {
	Line    int    `json:"line"` // 1-based
	Text    string `json:"text"`
	Agent   string `json:"agent"`
	Device  string `json:"device"`
	Time    Millis `json:"time"`
	Future  bool   `json:"future,omitempty"`
	Version string `json:"version"` // the version right after that edit
}

// Blame is each line of a document's text at a version.
type Blame struct {
	Version string      `json:"version"`
	Lines   []BlameLine `json:"lines"`
}

// RestoreRequest asks to make the current text that of a version.
type RestoreRequest struct {
	To string `json:"to"` // VERSION or RFC 3339 time
}

// Restored is the version after a restore's edits (the current version
// when the text already was the version's).
type Restored struct {
	Version string `json:"version"`
	Edits   int    `json:"edits"` // positional edits made (0: nothing to change)
}
