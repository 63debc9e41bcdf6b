package replica

import (
	"errors"
	"fmt"

	"weft/api"
	"weft/crdt"
	"weft/member"
	"weft/store"
	"weft/vocab"
	"weft/wire"
)

// sealer is what a step of a members-only document needs of its
// membership: sealing and signing what this device writes, opening what
// others wrote.
type sealer interface {
	seal(h member.Header, payload []byte) (*member.Envelope, error)
	open(e *member.Envelope) ([]byte, error)
	owns(agent string) bool
	canWrite() bool
}

// stepSigned is step for a members-only document. The history is the
// signed envelopes as they were written: each is stored, served and
// forwarded as its author's bytes, so a peer's envelopes go through the
// header log (hlog: causal order, hash chains, duplicates, forks) before
// their payloads reach the crdt, and this device's own transactions are
// sealed and signed here. doc is nil on a member that cannot read (a
// relay): it keeps the envelopes without opening them. Envelopes from
// peers arrive with their signatures verified (the topic's validator,
// catch-up's receive).
func stepSigned(doc *crdt.Doc, hl *hlog, ms sealer, cfg stepConfig, in input) (ready, error) {
	r := ready{src: in.src, effects: order[in.src], policy: policy[in.src], docID: cfg.doc}
	var before crdt.Version
	if doc != nil {
		before = doc.Version()
	}
	refuse := func(reason string, err error) {
		r.rejected = append(r.rejected, reason)
		if r.refused == nil && (in.src == fromTab || in.src == fromAPI) {
			r.refused = err
		}
	}
	switch in.src {
	case fromAPI, fromTab:
		if doc == nil || !ms.canWrite() {
			return r, fmt.Errorf("%w: this device may not write to document %s", api.ErrForbidden, cfg.doc)
		}
	}
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
	case fromTab:
		for i := range in.envs {
			if !ms.owns(in.envs[i].env.Header.Agent) {
				err := vocab.Reject(vocab.ReasonAgentOwner, "a tab wrote as agent %q, which is not this device's", in.envs[i].env.Header.Agent)
				refuse(vocab.ReasonAgentOwner, err)
				break
			}
			// A tab's transactions come in order, on what the daemon has
			// sent it: nothing of them waits for a causal past.
			if err := readyForTab(doc, &in.envs[i]); err != nil {
				refuse(vocab.ReasonHistory, err)
				r.refused = fmt.Errorf("%w: %v", api.ErrBadInput, err)
				break
			}
			reason, err := integrate(doc, &in.envs[i])
			if err != nil {
				refuse(reason, err)
				if reason == vocab.ReasonHistory {
					r.refused = fmt.Errorf("%w: %v", api.ErrBadInput, err)
				}
				break
			}
		}
	case fromGossip, fromSync:
		r.expired = hl.expire(in.at)
		accept := func(e *member.Envelope, txn *crdt.Txn) bool {
			if max := cfg.maxBytes; doc == nil && max > 0 && hl.bytes+int64(len(e.Raw)) > max {
				refuse(vocab.ReasonQuota, vocab.Reject(vocab.ReasonQuota, "document %s would hold more than %d bytes here", cfg.doc, max))
				return false
			}
			if doc != nil {
				if txn == nil {
					var err error
					if txn, err = openTxn(ms, e); err != nil {
						refuse(vocab.Reason(err), err)
						return false
					}
				}
				if _, err := doc.Apply(txn); err != nil {
					reason := vocab.ReasonHistory
					if errors.Is(err, crdt.ErrUnchecked) {
						reason = vocab.ReasonUnchecked
					}
					refuse(reason, err)
					return false
				}
				if n := doc.Pending(); n > 0 {
					// The header log let it through as causally ready; the
					// crdt disagrees (the header lies about the parents).
					return false
				}
			}
			hl.commit(e)
			r.records = append(r.records, store.TxnRecord{Header: e.Header.Header, Payload: e.Raw})
			r.sealed = append(r.sealed, e.Raw)
			r.committed = append(r.committed, e)
			if doc != nil && txn != nil {
				r.txns = append(r.txns, txn)
			}
			return true
		}
		for i := range in.envs {
			e := in.envs[i].sig
			v, err := hl.check(e)
			switch {
			case err != nil:
				refuse(vocab.Reason(err), err)
				var fe *forkError
				if errors.As(err, &fe) {
					// Both headers are signed (this one was verified on
					// arrival, the held one before it was stored): a proof.
					if p, perr := member.NewProof(fe.held, fe.other); perr == nil {
						r.proofs = append(r.proofs, p)
					}
				}
			case v == vDuplicate:
			case v == vWait:
				w := hl.wait(e, in.peer, in.at)
				r.evicted += w.evicted
				if !w.kept {
					r.overQuota++
					refuse(vocab.ReasonBufferFull, vocab.Reject(vocab.ReasonBufferFull, "too many transactions wait for their causal past"))
				}
			default:
				accept(e, in.envs[i].txn)
			}
		}
		hl.released(func(e *member.Envelope) bool { return accept(e, nil) })
		r.applied = len(r.records)
		r.publish = in.src == fromSync && cfg.relay
		return r, r.wiresForTabs(doc != nil)
	}
	// This device's transactions: what the crdt integrated, as spans,
	// each sealed and signed, chained to the agent's previous header.
	fresh := doc.Missing(before)
	for _, t := range fresh {
		if !ms.owns(t.Agent) {
			return ready{}, fmt.Errorf("replica: a local step produced agent %q's transaction", t.Agent)
		}
		payload, err := crdt.EncodeTxn(t)
		if err != nil {
			return ready{}, fmt.Errorf("replica: encoding a transaction: %w", err)
		}
		h := member.Header{Doc: cfg.doc, Header: wire.HeaderOf(t), Prev: hl.heads[t.Agent]}
		e, err := ms.seal(h, payload)
		if err != nil {
			return ready{}, fmt.Errorf("replica: sealing a transaction: %w", err)
		}
		if v, err := hl.check(e); err != nil || v != vReady {
			return ready{}, fmt.Errorf("replica: this device's transaction %s does not follow its history (%v)", e.Header.Span(), err)
		}
		hl.commit(e)
		r.records = append(r.records, store.TxnRecord{Header: e.Header.Header, Payload: e.Raw})
		r.sealed = append(r.sealed, e.Raw)
		r.committed = append(r.committed, e)
		r.txns = append(r.txns, t)
	}
	if in.src != fromAPI {
		r.applied = len(r.records)
	}
	r.publish = len(r.records) > 0
	return r, r.wiresForTabs(true)
}

// wiresForTabs encodes the step's transactions as tabs read them (format
// 1, in clear: a tab and its daemon share one device).
func (r *ready) wiresForTabs(canRead bool) error {
	if !canRead {
		return nil
	}
	r.wires = make([][]byte, 0, len(r.txns))
	for _, t := range r.txns {
		_, w, err := wire.Seal(r.docID, t)
		if err != nil {
			return fmt.Errorf("replica: encoding a transaction: %w", err)
		}
		r.wires = append(r.wires, w)
	}
	r.txns = nil
	return nil
}

// readyForTab refuses a tab's transaction whose causal past this replica
// lacks (its agent's earlier seqs, or a parent).
func readyForTab(doc *crdt.Doc, e *received) error {
	if e.txn == nil {
		t, err := e.env.Open()
		if err != nil {
			return err
		}
		e.txn = t
	}
	t, v := e.txn, doc.Version()
	if t.Seq > v[t.Agent] {
		return fmt.Errorf("transaction %s/%d leaves a gap after seq %d", t.Agent, t.Seq, v[t.Agent])
	}
	for _, p := range t.Parents {
		if p.Seq >= v[p.Agent] {
			return fmt.Errorf("transaction %s/%d names an unknown parent %s/%d", t.Agent, t.Seq, p.Agent, p.Seq)
		}
	}
	return nil
}

// openTxn opens an envelope's payload and checks that the transaction is
// the one its header describes.
func openTxn(ms sealer, e *member.Envelope) (*crdt.Txn, error) {
	pt, err := ms.open(e)
	if err != nil {
		return nil, err
	}
	env := wire.Envelope{Doc: e.Header.Doc, Header: e.Header.Header, Payload: pt}
	return env.Open()
}
