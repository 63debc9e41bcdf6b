package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"

	"github.com/fxamacker/cbor/v2"

	"weft/crdt"
)

// The wire formats, written here from their documentation rather than
// borrowed from weft's encoders (which refuse to write bad input).

// envelope = [1, doc, agent, seq, len, parents, payload]
type wireEnvelope struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Doc     []byte
	Agent   string
	Seq     uint64
	Len     uint64
	Parents []wireID
	Payload []byte
}

type wireID struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
}

// sync message = [1, kind, doc, version, envelopes, reason, title]
type syncMsg struct {
	_       struct{} `cbor:",toarray"`
	V       uint64
	Kind    uint64
	Doc     []byte
	Version map[string]uint64
	Envs    [][]byte
	Reason  string
	Title   string
}

const (
	msgHello = 1
	msgTxns  = 2
	msgDone  = 3
	msgFail  = 4
)

var enc cbor.EncMode

func init() {
	var err error
	if enc, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
}

func mustMarshal(v any) []byte {
	b, err := enc.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// txnSpec describes a one-insert transaction: agent inserts text at the
// document start, made on the given parents (agent, seq). Well-formed
// payloads are encoded by weft's crdt package; the bad ones are edited
// afterwards, at the top level of the transaction's CBOR array
// [version, agents, seq, parents, ops].
type txnSpec struct {
	agent   string
	seq     uint64
	parents []wireID // as the payload states them
	text    string
	version uint64 // written over the transaction's format version when not 1
	// parentSeq, when not 0, is written over the seq of the payload's
	// (single) parent after encoding: a parent the encoder would refuse.
	parentSeq uint64
}

func (s txnSpec) payload() []byte {
	t := &crdt.Txn{Agent: s.agent, Seq: s.seq, Ops: []crdt.Op{{Kind: crdt.OpInsert, Text: s.text}}}
	for _, p := range s.parents {
		t.Parents = append(t.Parents, crdt.ID{Agent: p.Agent, Seq: p.Seq})
	}
	b, err := crdt.EncodeTxn(t)
	if err != nil {
		panic(err)
	}
	if s.version == 1 && s.parentSeq == 0 {
		return b
	}
	var top []cbor.RawMessage
	if err := cbor.Unmarshal(b, &top); err != nil || len(top) != 5 {
		panic(fmt.Sprintf("a transaction is not a 5-element array: %v", err))
	}
	if s.version != 1 {
		top[0] = mustMarshal(s.version)
	}
	if s.parentSeq != 0 {
		// parents = [agent index, seq] (flattened pairs)
		var ps []uint64
		if err := cbor.Unmarshal(top[3], &ps); err != nil || len(ps) != 2 {
			panic(fmt.Sprintf("parents are not one flattened (agent, seq) pair: %v", err))
		}
		ps[1] = s.parentSeq
		top[3] = mustMarshal(ps)
	}
	return mustMarshal(top)
}

func (s txnSpec) count() uint64 { return uint64(len([]rune(s.text))) }

// envelope wraps a transaction for doc; header parents are the payload's
// unless overridden.
func envelope(v uint64, doc []byte, s txnSpec, headerParents []wireID) []byte {
	if headerParents == nil {
		headerParents = s.parents
	}
	if headerParents == nil {
		headerParents = []wireID{}
	}
	return mustMarshal(wireEnvelope{V: v, Doc: doc, Agent: s.agent, Seq: s.seq, Len: s.count(), Parents: headerParents, Payload: s.payload()})
}

func validSpec(agent, text string) txnSpec {
	return txnSpec{agent: agent, text: text, version: 1}
}

// crafted returns the envelope bytes of a named case for doc. agent is the
// daemon's own agent (for "history"); other is another document's ID.
func crafted(name string, doc, other []byte, agent string, rng *rand.Rand) ([]byte, error) {
	switch name {
	case "garbage", "envelope-garbage":
		b := make([]byte, 200)
		for i := range b {
			b[i] = byte(rng.UintN(256))
		}
		b[0] = 0xff // a CBOR "break" where an item must start: never valid
		return b, nil
	case "truncated", "envelope-truncated":
		e := envelope(1, doc, validSpec("mallory", "cut short"), nil)
		return e[:len(e)/2], nil
	case "oversized":
		// Just over the daemon's 4 MiB limit, inside GossipSub's wire slack,
		// so the size check (not the RPC reader) refuses it.
		return bytes.Repeat([]byte{'x'}, 4<<20+1024), nil
	case "wrong-doc":
		return envelope(1, other, validSpec("mallory", "elsewhere"), nil), nil
	case "envelope-version":
		return envelope(2, doc, validSpec("mallory", "from the future"), nil), nil
	case "txn-version":
		s := validSpec("mallory", "future payload")
		s.version = 2
		return envelope(1, doc, s, nil), nil
	case "bad-payload":
		return mustMarshal(wireEnvelope{V: 1, Doc: doc, Agent: "mallory", Seq: 0, Len: 3, Parents: []wireID{}, Payload: []byte("not a transaction")}), nil
	case "header-mismatch":
		// Forged parents in the header: the payload was made on nothing.
		return envelope(1, doc, validSpec("mallory", "forged header"), []wireID{{Agent: "ghost", Seq: 3}}), nil
	case "self-parent":
		// Forged parents in the payload: a later op of its own agent
		// (mallory/5 made on mallory/7), with a header that agrees.
		s := validSpec("mallory", "ouroboros")
		s.seq = 5
		s.parents = []wireID{{Agent: "mallory", Seq: 4}}
		s.parentSeq = 7
		return envelope(1, doc, s, []wireID{{Agent: "mallory", Seq: 7}}), nil
	case "history":
		// The daemon's own first op, forged with other parents and text.
		if agent == "" {
			return nil, fmt.Errorf("case history needs the daemon's agent")
		}
		s := validSpec(agent, "X")
		s.parents = []wireID{{Agent: "ghost", Seq: 0}}
		return envelope(1, doc, s, nil), nil
	case "unknown-parents":
		// Made on an op nobody has: it can only wait for it.
		s := validSpec("mallory", "waiting")
		s.parents = []wireID{{Agent: "ghost", Seq: 41}}
		return envelope(1, doc, s, nil), nil
	case "valid-topic":
		return envelope(1, doc, validSpec("hostile-topic", "«ok»"), nil), nil
	case "valid-sync":
		return envelope(1, doc, validSpec("hostile-sync", "«ok»"), nil), nil
	case "valid-serve":
		return envelope(1, doc, validSpec("hostile-serve", "«ok»"), nil), nil
	}
	return nil, fmt.Errorf("unknown case %q", name)
}
