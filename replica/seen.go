package replica

import (
	"sync"

	"weft/member"
)

// seenRecent bounds the header hashes a document remembers as committed
// besides each agent's head (32 bytes each: 128 KiB per document at most,
// only once that many arrive).
const seenRecent = 4096

// committedHeads is what a document's topic validator knows of what the
// driver has committed, so that it can drop a transaction already held
// as a duplicate (vocab.Ignore: GossipSub neither forwards it nor blames
// its sender) without touching the driver's state from the validator's
// goroutine: each agent's last committed header (its end and hash) and a
// bounded ring of recently committed header hashes. The driver writes it
// after it commits; the validator reads it. A header that is not found is
// passed to the driver as before, which tells a duplicate of an older
// transaction from a contradiction (and makes the proof of a fork): a
// summary that forgets only costs the driver's check, never a wrong
// verdict, since a hash names one header.
type committedHeads struct {
	mu     sync.Mutex
	heads  map[string]agentHead
	recent map[[32]byte]struct{}
	ring   [][32]byte
	next   int
}

type agentHead struct {
	end  uint64
	hash [32]byte
}

// add records committed headers (in commit order).
func (c *committedHeads) add(hs []*member.Envelope) {
	if len(hs) == 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range hs {
		c.note(e.Header.Agent, e.Header.Span().End(), e.Hash)
	}
}

// reset records the heads of a header log just loaded.
func (c *committedHeads) reset(version map[string]uint64, heads map[string][32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for a, end := range version {
		if cur, ok := c.heads[a]; !ok || cur.end <= end {
			c.note(a, end, heads[a])
		}
	}
}

// forget drops everything (the driver dropped its state after a failed
// write; the next load tells what is on disk).
func (c *committedHeads) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.heads, c.recent, c.ring, c.next = nil, nil, nil, 0
}

func (c *committedHeads) note(agent string, end uint64, hash [32]byte) {
	if c.heads == nil {
		c.heads = map[string]agentHead{}
		c.recent = make(map[[32]byte]struct{}, 64)
	}
	if cur, ok := c.heads[agent]; !ok || cur.end <= end {
		c.heads[agent] = agentHead{end: end, hash: hash}
	}
	if _, ok := c.recent[hash]; ok {
		return
	}
	if len(c.ring) < seenRecent {
		c.ring = append(c.ring, hash)
	} else {
		delete(c.recent, c.ring[c.next])
		c.ring[c.next] = hash
		c.next = (c.next + 1) % seenRecent
	}
	c.recent[hash] = struct{}{}
}

// has reports whether the envelope's header is one already committed.
func (c *committedHeads) has(e *member.Envelope) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.recent[e.Hash]; ok {
		return true
	}
	h, ok := c.heads[e.Header.Agent]
	return ok && h.end == e.Header.Span().End() && h.hash == e.Hash
}

// ahead reports whether e cannot be applied on what the driver last
// committed: it starts past its agent's next seq, or names a parent seq
// not committed yet. It would wait for its causal past (false when nothing
// is known: the document is not loaded).
func (c *committedHeads) ahead(e *member.Envelope) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.heads == nil {
		return false
	}
	if e.Header.Seq > c.heads[e.Header.Agent].end {
		return true
	}
	for _, p := range e.Header.Parents {
		if p.Seq >= c.heads[p.Agent].end {
			return true
		}
	}
	return false
}
