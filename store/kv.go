package store

import (
	"context"
	"errors"
	"fmt"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// kv is the store's view of the datastore: atomic multi-key writes where the
// datastore supports transactions (badger does), an explicit sync, and
// consistent read views.
type kv struct {
	d   ds.Batching
	txd ds.TxnDatastore // nil when the datastore has no transactions
}

func newKV(d ds.Batching) *kv {
	k := &kv{d: d}
	if t, ok := d.(ds.TxnDatastore); ok {
		k.txd = t
	}
	return k
}

// kvOp is one put or delete. A coalesce op may be replaced by a later op on
// the same key in the same database transaction (used for head records,
// which only grow).
type kvOp struct {
	key      string
	val      []byte
	del      bool
	coalesce bool
}

func (o *kvOp) size() int { return len(o.key) + len(o.val) + 16 }

// commit writes groups in order. Each group is atomic when the datastore
// has transactions: groups are packed into database transactions of at most
// maxBytes (a larger group gets one of its own). Without transactions each
// chunk is one datastore batch. It does not sync.
func (k *kv) commit(ctx context.Context, groups [][]kvOp, maxBytes int) error {
	var chunk []kvOp
	idx := map[string]int{}
	size := 0
	flush := func() error {
		if len(chunk) == 0 {
			return nil
		}
		err := k.write(ctx, chunk)
		chunk, size = chunk[:0], 0
		clear(idx)
		return err
	}
	for _, g := range groups {
		gs := 0
		for i := range g {
			gs += g[i].size()
		}
		if size > 0 && size+gs > maxBytes {
			if err := flush(); err != nil {
				return err
			}
		}
		for _, op := range g {
			if op.coalesce {
				if i, ok := idx[op.key]; ok {
					chunk[i] = op
					continue
				}
				idx[op.key] = len(chunk)
			}
			chunk = append(chunk, op)
		}
		size += gs
	}
	return flush()
}

func (k *kv) write(ctx context.Context, ops []kvOp) error {
	if k.txd != nil {
		t, err := k.txd.NewTransaction(ctx, false)
		if err != nil {
			return err
		}
		defer t.Discard(ctx)
		if err := apply(ctx, t, ops); err != nil {
			return err
		}
		return t.Commit(ctx)
	}
	b, err := k.d.Batch(ctx)
	if err != nil {
		return err
	}
	if err := apply(ctx, b, ops); err != nil {
		return err
	}
	return b.Commit(ctx)
}

// apply puts and deletes ops in a transaction or batch.
func apply(ctx context.Context, w ds.Write, ops []kvOp) error {
	for _, op := range ops {
		var err error
		if op.del {
			err = w.Delete(ctx, dkey(op.key))
		} else {
			err = w.Put(ctx, dkey(op.key), op.val)
		}
		if err != nil {
			return fmt.Errorf("%s %s: %w", opName(op), op.key, err)
		}
	}
	return nil
}

func opName(op kvOp) string {
	if op.del {
		return "delete"
	}
	return "put"
}

// sync makes every committed write durable.
func (k *kv) sync(ctx context.Context) error { return k.d.Sync(ctx, ds.RawKey("/")) }

// view runs fn on a consistent read view (a read-only transaction when the
// datastore has them).
func (k *kv) view(ctx context.Context, fn func(r ds.Read) error) error {
	if k.txd == nil {
		return fn(k.d)
	}
	t, err := k.txd.NewTransaction(ctx, true)
	if err != nil {
		return err
	}
	defer t.Discard(ctx)
	return fn(t)
}

// get returns the value at key, or an error wrapping ErrNotFound.
func get(ctx context.Context, r ds.Read, key string) ([]byte, error) {
	v, err := r.Get(ctx, dkey(key))
	if errors.Is(err, ds.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, key)
	}
	if err != nil {
		return nil, fmt.Errorf("store: read %s: %w", key, err)
	}
	return v, nil
}

// each iterates the entries under prefix in key order, one at a time, so
// memory stays bounded for badger (an in-memory datastore sorts them all). fn returning errStop ends the iteration
// without error.
func each(ctx context.Context, r ds.Read, q dsq.Query, fn func(e dsq.Entry) error) error {
	if len(q.Orders) == 0 {
		q.Orders = []dsq.Order{dsq.OrderByKey{}} // badger's native order; others sort
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	res, err := r.Query(ctx, q)
	if err != nil {
		return fmt.Errorf("store: query %s: %w", q.Prefix, err)
	}
	defer res.Close()
	for {
		e, ok := res.NextSync()
		if !ok {
			return nil
		}
		if e.Error != nil {
			return fmt.Errorf("store: query %s: %w", q.Prefix, e.Error)
		}
		if err := fn(e.Entry); err != nil {
			if errors.Is(err, errStop) {
				return nil
			}
			return err
		}
	}
}

var errStop = errors.New("stop")
