package replica

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"time"
	"unicode/utf8"

	"weft/api"
	"weft/member"
	"weft/store"
)

// Import and export of a document's text, and deleting a document.

// Bounds of an import.
const (
	// MaxImportBytes bounds an imported text (64 MiB): the whole text is
	// held in the crdt state of every member.
	MaxImportBytes = 64 << 20
	// importChunk is the most bytes one transaction of an import inserts
	// (each chunk is its own local edit, sealed and sent like any: 1 MiB is
	// well under the 4 MiB envelope and gossip bounds, and each chunk costs
	// crdt.Missing a scan of the text so far, so fewer is faster).
	importChunk = 1 << 20
)

// ErrNotUTF8 is an import's text that is not UTF-8 (wrapped in an
// *InvalidUTF8Error, which wraps api.ErrBadInput).
var ErrNotUTF8 = errors.New("not valid UTF-8")

// InvalidUTF8Error names the byte offset of the first invalid sequence.
type InvalidUTF8Error struct{ Offset int64 }

func (e *InvalidUTF8Error) Error() string {
	return fmt.Sprintf("%v: the text is not UTF-8: invalid byte sequence at byte %d", api.ErrBadInput, e.Offset)
}

func (e *InvalidUTF8Error) Unwrap() []error { return []error{api.ErrBadInput, ErrNotUTF8} }

// ValidUTF8Prefix returns how many bytes of b are whole, valid UTF-8
// sequences, and the offset of the first invalid one (-1: none). Unless
// final, a sequence cut short at the end of b is not invalid: it ends the
// prefix (the rest comes with the next read).
func ValidUTF8Prefix(b []byte, final bool) (n, bad int) {
	i := 0
	for i < len(b) {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size <= 1 {
			if !final && !utf8.FullRune(b[i:]) {
				return i, -1
			}
			return i, i
		}
		i += size
	}
	return i, -1
}

// Import creates a document titled title holding the text r gives,
// exactly (a byte-order mark, CR LF line ends and all), read in chunks of
// 1 MiB, each its own local edit. The text must be UTF-8 (an
// *InvalidUTF8Error names the first bad byte) of at most MaxImportBytes.
// A failed import leaves no document behind.
func (m *Manager) Import(ctx context.Context, title string, r io.Reader) (info api.DocInfo, err error) {
	info, err = m.CreateDoc(ctx, title)
	if err != nil {
		return api.DocInfo{}, err
	}
	defer func() {
		if err != nil {
			if _, derr := m.deleteLocal(context.WithoutCancel(ctx), info.ID); derr != nil {
				m.log.Error("removing a failed import", "doc", info.ID, "err", derr)
			}
			info = api.DocInfo{}
		}
	}()
	buf := make([]byte, importChunk+utf8.UTFMax)
	have, total, chars := 0, int64(0), 0
	for {
		n, rerr := r.Read(buf[have:importChunk])
		have += n
		final := rerr == io.EOF
		if rerr != nil && !final {
			return info, fmt.Errorf("%w: reading the text: %v", api.ErrBadInput, rerr)
		}
		if total+int64(have) > MaxImportBytes {
			return info, fmt.Errorf("%w: the text is larger than %d bytes", api.ErrBadInput, MaxImportBytes)
		}
		if have == importChunk || final {
			ok, bad := ValidUTF8Prefix(buf[:have], final)
			if bad >= 0 {
				return info, &InvalidUTF8Error{Offset: total + int64(bad)}
			}
			if ok > 0 {
				text := string(buf[:ok])
				if _, err := m.Edit(ctx, info.ID, []api.Edit{{Pos: chars, Ins: text}}); err != nil {
					return info, err
				}
				chars += utf8.RuneCountInString(text)
			}
			total += int64(ok)
			have = copy(buf, buf[ok:have])
		}
		if final {
			return m.info(ctx, parsedID(info.ID))
		}
	}
}

func parsedID(s string) store.DocID {
	id, err := store.ParseDocID(s)
	if err != nil {
		panic("replica: a document ID this replica made does not parse: " + s)
	}
	return id
}

// Export returns a document's text, exactly, at version at (a VERSION or
// TIME as history.go reads them; "": now).
func (m *Manager) Export(ctx context.Context, sid, at string) (string, error) {
	if at != "" {
		t, err := m.TextAt(ctx, sid, at, "") // history.go
		return t.Text, err
	}
	return m.Text(ctx, sid)
}

// DeleteDoc deletes a document from this device: it leaves the
// document's topic, ends its driver (tabs and change feeds are told),
// and removes every key of it from the store (store.DeleteDoc). Before
// that, when this device is the document's admin or its last member
// (lastMember), it asks the relays it reaches that host the document to
// drop it (drop.go).
func (m *Manager) DeleteDoc(ctx context.Context, sid string) (api.DeleteResult, error) {
	id, err := parseID(sid)
	if err != nil {
		return api.DeleteResult{}, err
	}
	d, err := m.doc(id)
	if err != nil {
		return api.DeleteResult{}, err
	}
	res := api.DeleteResult{ID: id.String(), Relays: []api.RelayDrop{}}
	if d.mem != nil {
		res.Asked, res.Relays = m.askRelaysToDrop(ctx, d)
	}
	if _, err := m.deleteLocal(ctx, sid); err != nil {
		return res, err
	}
	return res, nil
}

// deleteLocal deletes a document from this device only.
func (m *Manager) deleteLocal(ctx context.Context, sid string) (store.DocID, error) {
	id, err := parseID(sid)
	if err != nil {
		return id, err
	}
	d, err := m.doc(id)
	if err != nil {
		return id, err
	}
	m.mu.Lock()
	delete(m.docs, id)
	delete(m.held, id)
	if m.topics[topicKey(id)] == id {
		delete(m.topics, topicKey(id))
	}
	m.mu.Unlock()
	_ = d.leave()
	err = d.do(ctx, func(dr *driver) error {
		dr.endFeeds(EndDeleted)
		dr.shutdown(context.WithoutCancel(ctx))
		d.gone.Store(true)
		return errStopping
	})
	if err != nil && !errors.Is(err, api.ErrClosed) {
		return id, err
	}
	if err := m.opts.Store.DeleteDoc(context.WithoutCancel(ctx), id); err != nil && !errors.Is(err, store.ErrNotFound) {
		return id, fmt.Errorf("replica: deleting document %s: %w", id, err)
	}
	return id, nil
}

func topicKey(id store.DocID) [16]byte { return member.TopicID(id) }

// lastMember says whether self is the last member of a document as its
// book says: no other device holds a role that reads (read, write or
// admin) and is neither revoked nor expired at now, and no invite key
// that would give one is outstanding (an invite counts as a member until
// it expires or is revoked: someone may still redeem it). Relays (pull)
// do not count: they keep the document for members. A member that has
// not yet been heard of here (an invite redeemed elsewhere, whose chain
// has not reached this device) cannot be counted: the book is what this
// device knows, and "last" is only as true as it is current.
func lastMember(book *member.Book, self ed25519.PublicKey, now time.Time) (bool, int) {
	others := 0
	for _, c := range book.Chains() {
		got := book.Member(c.Leaf().Subject)
		if got == nil || ed25519.PublicKey(got.Subject).Equal(self) || book.Revoked(got.Subject) {
			continue
		}
		if got.NotAfter > 0 && got.NotAfter < now.Unix() {
			continue
		}
		if got.Role.CanRead() {
			others++
		}
	}
	return others == 0, others
}

// renameTxn renames a document with a title transaction (crdt OpTitle):
// sealed, published and caught up like an edit, so every member and
// relay gets it, and concurrent renames resolve by crdt's title rule.
// A member that cannot write (or read) renames only its own listing.
func (m *Manager) renameTxn(ctx context.Context, id store.DocID, title string) error {
	d, err := m.doc(id)
	if err != nil {
		return err
	}
	if d.mem != nil && !d.mem.canWrite() {
		return nil
	}
	arrived := m.opts.Now()
	return d.do(ctx, func(dr *driver) error {
		_, err := dr.apply(ctx, input{src: fromAPI, title: &title}, nil, arrived)
		return err
	})
}

// titleFollows makes the stored title (the listing's) the crdt's, when
// the history holds a title op (called after every step); a title set to
// "" clears the listing's. A document never titled in its history keeps
// the listing's title (from its creation or a peer's hello).
func (dr *driver) titleFollows(ctx context.Context) {
	if dr.doc == nil || !dr.doc.Titled() {
		return
	}
	dr.d.titled.Store(true)
	t := dr.doc.Title()
	if dr.titled && t == dr.title {
		return
	}
	st := dr.d.m.opts.Store
	if meta, err := st.Meta(ctx, dr.d.id); err == nil && meta.Title == t {
		dr.title, dr.titled = t, true
		return
	}
	if err := st.SetTitle(context.WithoutCancel(ctx), dr.d.id, t); err != nil {
		dr.d.m.log.Warn("storing a document's replicated title", "doc", dr.d.id, "err", err)
		return
	}
	dr.title, dr.titled = t, true
}
