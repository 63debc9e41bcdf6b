package crdt

import (
	"errors"
	"sort"
	"unicode/utf8"

	"weft/vocab"
)

// Errors returned by the crdt package. They are wrapped with details; test
// with errors.Is.
var (
	// ErrInvalid: a transaction or encoding is malformed (bad agent name,
	// zero-length op, reference to an item that is not an insert, …).
	ErrInvalid = errors.New("crdt: invalid")
	// ErrContradiction: a transaction reuses a known (agent, seq) with
	// different content, origins or parents. Nothing was applied.
	ErrContradiction = errors.New("crdt: contradicts known history")
	// ErrUnchecked: a transaction repeats known operations and adds new
	// ones, and its known part is stored here in too many fragments to
	// compare within the work its size pays for (see overlap.go). Nothing
	// was applied. It is no evidence of a fault: the new operations come
	// again by catch-up, which starts at the first unknown seq.
	ErrUnchecked = errors.New("crdt: overlap with known history not checked")
	// ErrPosition: a local edit's position or length is out of range.
	ErrPosition = errors.New("crdt: position out of range")
	// ErrBufferFull: too many transactions are waiting for their parents.
	ErrBufferFull = errors.New("crdt: buffer of waiting transactions is full")
	// ErrFormat: encoded bytes are not a valid transaction or snapshot of a
	// supported format version.
	ErrFormat = errors.New("crdt: bad encoding")
)

// Limits that bound what a replica accepts (defined in package vocab,
// which every replica, store and message shares).
const (
	// MaxAgentLen is the longest agent name, in bytes.
	MaxAgentLen = vocab.MaxAgentLen
	// MaxSeq bounds every seq (and seq+length) so that local versions fit
	// in 32 bits.
	MaxSeq = vocab.MaxSeq
)

// ID names one operation, and the item an insert creates: (agent, seq).
// The zero ID stands for the document start (as an originLeft) or the
// document end (as an originRight). IDs order by agent name bytewise, then
// seq (Less).
type ID = vocab.ID

// OpKind says what an Op does.
type OpKind uint8

const (
	// OpInsert inserts Text between the items Left and Right.
	OpInsert OpKind = 1
	// OpDelete deletes Len items starting at Target.
	OpDelete OpKind = 2
	// OpTitle sets the document's title to Text (vocab.CheckTitle). It
	// consumes one seq and creates no item; Title says which one holds.
	OpTitle OpKind = 3
)

// MaxTime bounds Txn.Time: times are milliseconds since the Unix epoch
// and stay below 2^53, so that JSON and JavaScript numbers hold them.
const MaxTime = 1<<53 - 1

// Op is one run of operations inside a transaction: an insert of one or
// more code points typed as a run, or a delete of a run of items whose IDs
// are consecutive.
type Op struct {
	Kind OpKind
	Rev  bool // delete: the targets run downward (a run of backspaces)
	Len  int  // delete: the number of items deleted

	// Insert: the inserted code points (UTF-8) and the first one's
	// origins. Item i of the run has ID (txn agent, seq+i); for i > 0 its
	// originLeft is item i-1 and its originRight the document end, as the
	// ordering rule gives a run typed left to right.
	Text  string
	Left  ID // originLeft of the first item; zero = document start
	Right ID // originRight of the first item; zero = document end

	// Delete: the deleted items are (Target.Agent, Target.Seq+i) for
	// i in [0, Len), or (Target.Agent, Target.Seq-i) when Rev is set.
	Target ID
}

// Count is the number of seqs the op consumes.
func (o *Op) Count() int {
	switch o.Kind {
	case OpInsert:
		return utf8.RuneCountInString(o.Text)
	case OpTitle:
		return 1
	}
	return o.Len
}

// targetAt is the ID of the k-th item a delete op deletes (k < Len).
func (o *Op) targetAt(k uint64) ID {
	t := o.Target
	if o.Rev {
		t.Seq -= k
	} else {
		t.Seq += k
	}
	return t
}

// Txn is a transaction: a run of operations one agent made on one version.
// Its ops consume the seqs Seq, Seq+1, … in order.
type Txn struct {
	Agent   string
	Seq     uint64
	Parents []ID // the frontier the transaction was made on, sorted
	Ops     []Op
	// Time is the author's wall clock when the transaction was made, in
	// milliseconds since the Unix epoch; 0 is unknown (format-1
	// transactions, or an author that did not say). It is shown in
	// history and never used for ordering: nothing checks it against any
	// clock, only that 0 <= Time <= MaxTime.
	Time int64
}

// Count is the number of seqs the transaction consumes.
func (t *Txn) Count() int {
	n := 0
	for i := range t.Ops {
		n += t.Ops[i].Count()
	}
	return n
}

// Change is one positional change of a patch: delete Delete code points at
// Pos, then insert Insert at Pos.
type Change struct {
	Pos    int
	Delete int
	Insert string
}

// Patch is what a view applies, in order, to follow a remote transaction.
type Patch []Change

// Version is a version vector: agent → next seq (the number of that agent's
// operations known).
type Version = vocab.Version

// Frontier is a set of IDs, sorted by (agent, seq), none in another's past.
type Frontier []ID

func sortIDs(ids []ID) {
	sort.Slice(ids, func(i, j int) bool { return ids[i].Less(ids[j]) })
}
