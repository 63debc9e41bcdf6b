package replica

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"weft/api"
	"weft/crdt"
	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// The replica's step: a pure function of (document state, input) that says
// what to persist and with which durability, what to publish, what to send
// to the tabs and what to answer. It has no goroutines, no clock and no I/O;
// the document's driver (driver.go) carries its effects out in the order
// the step lists them, which is fixed per source (see order below and
// doc.go for the reasons).

// source says where an input came from. Its name is the observer's label.
type source uint8

const (
	fromAPI    source = iota // the daemon's own edits through the local API
	fromTab                  // an editor tab's transactions
	fromGossip               // a peer's transactions from the document's topic
	fromSync                 // a peer's transactions from a catch-up stream
)

func (s source) String() string {
	switch s {
	case fromAPI:
		return "local"
	case fromTab:
		return "tab"
	case fromGossip:
		return "gossip"
	case fromSync:
		return "sync"
	}
	return fmt.Sprintf("source(%d)", uint8(s))
}

// effect is one thing the driver does with a step's result.
type effect uint8

const (
	effPersist effect = iota // hand the records to the store under the step's policy
	effPublish               // publish the envelopes on the document's topic
	effTabs                  // send the envelopes to the attached tabs (but the one they came from)
	effReply                 // answer whoever gave the input (API caller, tab)
)

func (e effect) String() string {
	return [...]string{"persist", "publish", "tabs", "reply"}[e]
}

// order is the one declaration of the order of effects, per source; doc.go
// says why each is what it is.
var order = [...][]effect{
	fromAPI:    {effPersist, effPublish, effTabs, effReply},
	fromTab:    {effPublish, effTabs, effPersist, effReply},
	fromGossip: {effPersist, effTabs, effReply},
	fromSync:   {effPersist, effTabs, effPublish, effReply},
}

// policy is the durability each source's records are written with.
var policy = [...]store.Policy{
	fromAPI:    store.Immediate,
	fromTab:    store.Immediate,
	fromGossip: store.Batched,
	fromSync:   store.Batched,
}

// received is a transaction envelope as it arrived (from a tab or a peer),
// decoded once: its header, the bytes as received (forwarded unchanged when
// nothing about the transaction changed), and its transaction when a
// validator already opened it.
type received struct {
	env wire.Envelope
	raw []byte
	txn *crdt.Txn
	// sig is the signed envelope a peer sent for a members-only document
	// (env and raw are then unused; txn is its opened transaction, if a
	// validator opened it).
	sig *member.Envelope
}

// input is one piece of work for the step.
type input struct {
	src   source
	edits []api.Edit // fromAPI
	envs  []received // the other sources
	// peer is the peer that brought a peer's envelopes (gossip: the
	// message's author; catch-up: the stream's peer), charged for those
	// that wait; at is when they arrived (it ages the waiting ones).
	peer string
	at   time.Time
}

// ready is what a step asks the driver to do, in order.
type ready struct {
	src     source
	effects []effect
	policy  store.Policy
	records []store.TxnRecord // what to persist, in causal order
	wires   [][]byte          // the same transactions as envelopes (publish, tabs)
	publish bool              // whether effPublish sends anything (sync: relays only)
	// applied counts what was integrated: edits for the API (each its own
	// transaction), stored transactions otherwise.
	applied int
	// rejected holds one reason per refused envelope, for the counters.
	rejected []string
	// refused is the first refusal, returned to the caller after the
	// effects of what was accepted (API and tabs; peers get no answer).
	refused error

	// Members-only documents (stepSigned): the signed envelopes of the
	// records (what is published), and the transactions not yet encoded
	// for tabs.
	sealed [][]byte
	txns   []*crdt.Txn
	docID  vocab.DocID
	// proofs are equivocations the step met: kept, passed on, reported.
	proofs []*member.Proof
	// The waiting room (hlog.wait): envelopes of the input's peer refused
	// over its quota or a full room, other peers' dropped to make room,
	// and waiting ones dropped as too old.
	overQuota, evicted, expired int
	// committed are the envelopes of the records (the topic's validator
	// learns their headers once they are persisted).
	committed []*member.Envelope
}

// stepConfig is what a step needs to know of the replica it runs in.
type stepConfig struct {
	doc   vocab.DocID
	relay bool // a relay passes on what catch-up brought it
	// maxBytes bounds the envelopes a member that cannot read keeps of
	// the document (a relay's quota; 0: none).
	maxBytes int64
}

// step applies in to doc and returns what to do about it. An error means
// the in-memory state can no longer be written out (the driver reloads the
// document); refusals of input are in ready, not errors.
func step(doc *crdt.Doc, cfg stepConfig, in input) (ready, error) {
	r := ready{src: in.src, effects: order[in.src], policy: policy[in.src]}
	before := doc.Version()
	switch in.src {
	case fromAPI:
		// The edits carry the daemon's clock (when they arrived) as
		// their transactions' time; a clock crdt refuses leaves it
		// unknown.
		if err := doc.SetNow(in.at.UnixMilli()); err != nil {
			_ = doc.SetNow(0)
		}
		for i, e := range in.edits {
			if err := doc.Edit(e.Pos, e.Del, e.Ins); err != nil {
				r.refused = fmt.Errorf("%w: edit %d: %v", api.ErrBadInput, i, err)
				break
			}
			r.applied++
		}
	case fromTab, fromGossip, fromSync:
		for i := range in.envs {
			reason, err := integrate(doc, &in.envs[i])
			if err == nil {
				continue
			}
			r.rejected = append(r.rejected, reason)
			if in.src == fromTab {
				// A tab's transactions are its own, in order: after a
				// refusal the rest cannot fit, and the tab resends.
				r.refused = err
				if reason == vocab.ReasonHistory {
					r.refused = fmt.Errorf("%w: %v", api.ErrBadInput, err)
				}
				break
			}
		}
	}
	// Each integrated transaction travels and is stored as what Missing
	// returns: consecutive ones of an agent merged into spans.
	fresh := doc.Missing(before)
	if len(fresh) == 0 {
		return r, nil
	}
	r.records = make([]store.TxnRecord, 0, len(fresh))
	r.wires = make([][]byte, 0, len(fresh))
	ix := indexReceived(in.envs)
	for _, t := range fresh {
		env, w, ok := ix.find(t)
		if !ok {
			var err error
			if env, w, err = wire.Seal(cfg.doc, t); err != nil {
				return ready{}, fmt.Errorf("replica: encoding a transaction: %w", err)
			}
		}
		r.records = append(r.records, record(&env))
		r.wires = append(r.wires, w)
	}
	if in.src != fromAPI {
		r.applied = len(r.records)
	}
	r.publish = in.src == fromAPI || in.src == fromTab || (in.src == fromSync && cfg.relay)
	return r, nil
}

// integrate opens e (unless a validator already did) and applies it; on a
// refusal it returns the counter reason.
func integrate(doc *crdt.Doc, e *received) (string, error) {
	t := e.txn
	if t == nil {
		var err error
		if t, err = e.env.Open(); err != nil {
			return vocab.Reason(err), err
		}
	}
	if _, err := doc.Apply(t); err != nil {
		switch {
		case errors.Is(err, crdt.ErrBufferFull):
			return vocab.ReasonBufferFull, err
		case errors.Is(err, crdt.ErrUnchecked):
			return vocab.ReasonUnchecked, err
		}
		return vocab.ReasonHistory, err
	}
	return "", nil
}

// receivedIndex finds the envelope a fresh transaction arrived in, when it
// is exactly that transaction (nothing of it was known before, nothing
// merged into it), so that its bytes are stored and forwarded as they came.
type receivedIndex struct {
	envs []received
	byID map[crdt.ID]int // for larger inputs (a catch-up chunk)
}

func indexReceived(envs []received) receivedIndex {
	ix := receivedIndex{envs: envs}
	if len(envs) > 8 {
		ix.byID = make(map[crdt.ID]int, len(envs))
		for i := range envs {
			ix.byID[crdt.ID{Agent: envs[i].env.Header.Agent, Seq: envs[i].env.Header.Seq}] = i
		}
	}
	return ix
}

func (ix receivedIndex) find(t *crdt.Txn) (wire.Envelope, []byte, bool) {
	match := func(e *received) bool {
		h := &e.env.Header
		return e.raw != nil && h.Agent == t.Agent && h.Seq == t.Seq && h.Len == uint64(t.Count()) && slices.Equal(h.Parents, t.Parents)
	}
	if ix.byID != nil {
		if i, ok := ix.byID[crdt.ID{Agent: t.Agent, Seq: t.Seq}]; ok && match(&ix.envs[i]) {
			return ix.envs[i].env, ix.envs[i].raw, true
		}
		return wire.Envelope{}, nil, false
	}
	for i := range ix.envs {
		if match(&ix.envs[i]) {
			return ix.envs[i].env, ix.envs[i].raw, true
		}
	}
	return wire.Envelope{}, nil, false
}
