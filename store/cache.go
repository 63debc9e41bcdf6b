package store

import (
	"container/list"
	"sync"
)

// stateCache is an LRU of decoded document state bounded in bytes. The
// store cannot know what the caller decodes, so entries are `any` with a
// size the caller reports. Each entry remembers the document's write
// generation it reflects; a write bumps the generation, so stale state is
// never returned.
type stateCache struct {
	mu    sync.Mutex
	max   int64
	used  int64
	ll    *list.List // front = most recent
	items map[DocID]*list.Element
}

type cacheEntry struct {
	doc   DocID
	gen   uint64
	state any
	size  int64
}

func newStateCache(max int64) *stateCache {
	return &stateCache{max: max, ll: list.New(), items: map[DocID]*list.Element{}}
}

func (c *stateCache) get(doc DocID, gen uint64) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[doc]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if e.gen != gen {
		c.removeLocked(el)
		return nil, false
	}
	c.ll.MoveToFront(el)
	return e.state, true
}

// put stores state unless it is larger than the whole cache.
func (c *stateCache) put(doc DocID, gen uint64, state any, size int64) {
	if size < 0 {
		size = 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[doc]; ok {
		c.removeLocked(el)
	}
	if size > c.max {
		return
	}
	c.items[doc] = c.ll.PushFront(&cacheEntry{doc: doc, gen: gen, state: state, size: size})
	c.used += size
	for c.used > c.max {
		c.removeLocked(c.ll.Back())
	}
}

func (c *stateCache) drop(doc DocID) {
	c.mu.Lock()
	if el, ok := c.items[doc]; ok {
		c.removeLocked(el)
	}
	c.mu.Unlock()
}

func (c *stateCache) clear() {
	c.mu.Lock()
	c.ll.Init()
	c.items = map[DocID]*list.Element{}
	c.used = 0
	c.mu.Unlock()
}

func (c *stateCache) removeLocked(el *list.Element) {
	e := c.ll.Remove(el).(*cacheEntry)
	delete(c.items, e.doc)
	c.used -= e.size
}
