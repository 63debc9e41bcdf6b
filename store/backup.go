package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
)

// Backup stream format version 1 (see BACKUP.md).
const (
	backupFormat    = 1
	backupMagic     = "WEFTBKUP"
	backupPrefix    = "weft-backup-"
	backupExt       = ".wbk"
	backupTimeFmt   = "20060102T150405.000000000Z"
	frameHeader     = 'H'
	frameData       = 'D'
	frameEnd        = 'E'
	maxFrame        = 1 << 30
	backupChunkSize = 1 << 20
)

type backupHeader struct {
	_       struct{} `cbor:",toarray"`
	Format  uint64
	Created int64 // Unix nanoseconds (UTC)
	Schema  uint64
	Install []byte
	Label   string
}

type backupEntry struct {
	_     struct{} `cbor:",toarray"`
	Key   string
	Value []byte
}

type backupEnd struct {
	_       struct{} `cbor:",toarray"`
	Entries uint64
	Bytes   uint64 // sum of key and value lengths
	SHA256  []byte // of every byte before the end frame
}

// BackupInfo describes one backup.
type BackupInfo struct {
	Name    string
	Created time.Time
	Schema  uint64
	Install [16]byte
	Label   string
	Size    int64 // bytes in the sink (List only)
	Entries uint64
	Bytes   uint64
	Docs    int // documents in the backup (Backup only)
}

// Progress reports how far a backup or restore got.
type Progress struct {
	Entries uint64
	Bytes   uint64
}

func backupName(t time.Time, label string) string {
	n := backupPrefix + t.UTC().Format(backupTimeFmt)
	if label != "" {
		n += "-" + label
	}
	return n + backupExt
}

func isBackupName(n string) bool {
	return strings.HasPrefix(n, backupPrefix) && strings.HasSuffix(n, backupExt)
}

// Backup writes a consistent copy of the whole store to sink while writes
// go on: it reads from one read-only transaction (badger's snapshot at a
// read timestamp), streaming in 1 MiB chunks. progress (may be nil) is
// called after each chunk.
func (s *Store) Backup(ctx context.Context, sink Sink, progress func(Progress)) (BackupInfo, error) {
	return s.backup(ctx, sink, "", progress)
}

func (s *Store) backup(ctx context.Context, sink Sink, label string, progress func(Progress)) (BackupInfo, error) {
	now := s.opts.Now().UTC()
	info := BackupInfo{Name: backupName(now, label), Created: now, Schema: 0, Install: s.install, Label: label}
	w, err := sink.Create(ctx, info.Name)
	if err != nil {
		return info, err
	}
	err = s.kv.view(ctx, func(r ds.Read) error {
		raw, err := get(ctx, r, schemaKey)
		if err != nil {
			return err
		}
		var sr schemaRec
		if err := decodeRecord(recSchema, raw, &sr); err != nil {
			return fmt.Errorf("%s: %w", schemaKey, err)
		}
		info.Schema = sr.Schema
		bw := newBackupWriter(w)
		if err := bw.frame(frameHeader, backupHeader{Format: backupFormat, Created: now.UnixNano(), Schema: sr.Schema, Install: s.install[:], Label: label}); err != nil {
			return err
		}
		var chunk []backupEntry
		size := 0
		flush := func() error {
			if len(chunk) == 0 {
				return nil
			}
			if err := bw.frame(frameData, chunk); err != nil {
				return err
			}
			chunk, size = chunk[:0], 0
			if progress != nil {
				progress(Progress{Entries: bw.entries, Bytes: bw.bytes})
			}
			return nil
		}
		if err := each(ctx, r, dsq.Query{}, func(e dsq.Entry) error {
			chunk = append(chunk, backupEntry{Key: e.Key, Value: e.Value})
			if strings.HasPrefix(e.Key, docIndexPrefix+"/") {
				info.Docs++
			}
			bw.entries++
			bw.bytes += uint64(len(e.Key) + len(e.Value))
			size += len(e.Key) + len(e.Value)
			if size >= backupChunkSize {
				return flush()
			}
			return ctx.Err()
		}); err != nil {
			return err
		}
		if err := flush(); err != nil {
			return err
		}
		info.Entries, info.Bytes = bw.entries, bw.bytes
		return bw.end()
	})
	if err != nil {
		w.Abort()
		return info, fmt.Errorf("store: backup: %w", err)
	}
	if err := w.Commit(); err != nil {
		return info, err
	}
	return info, nil
}

type backupWriter struct {
	w       *bufio.Writer
	sum     hash.Hash
	entries uint64
	bytes   uint64
}

func newBackupWriter(w io.Writer) *backupWriter {
	bw := &backupWriter{sum: sha256.New()}
	bw.w = bufio.NewWriterSize(io.MultiWriter(w, bw.sum), 256<<10)
	bw.w.WriteString(backupMagic)
	return bw
}

// frame writes kind, uvarint length, CBOR payload, CRC-32C (big-endian)
// of everything before it in the frame.
func (bw *backupWriter) frame(kind byte, v any) error {
	p, err := encMode.Marshal(v)
	if err != nil {
		return err
	}
	hdr := binary.AppendUvarint([]byte{kind}, uint64(len(p)))
	crc := crc32.Update(crc32.Update(0, crcTab, hdr), crcTab, p)
	bw.w.Write(hdr)
	bw.w.Write(p)
	_, err = bw.w.Write(binary.BigEndian.AppendUint32(nil, crc))
	return err
}

func (bw *backupWriter) end() error {
	if err := bw.w.Flush(); err != nil {
		return err
	}
	sum := bw.sum.Sum(nil)
	if err := bw.frame(frameEnd, backupEnd{Entries: bw.entries, Bytes: bw.bytes, SHA256: sum}); err != nil {
		return err
	}
	return bw.w.Flush()
}

// backupReader reads and verifies a backup stream frame by frame.
type backupReader struct {
	r       *bufio.Reader
	sum     hash.Hash
	header  backupHeader
	entries uint64
	bytes   uint64
	done    bool
}

func badBackup(f string, args ...any) error {
	return fmt.Errorf("%w: "+f, append([]any{ErrBackup}, args...)...)
}

func newBackupReader(r io.Reader) (*backupReader, error) {
	br := &backupReader{sum: sha256.New()}
	br.r = bufio.NewReaderSize(r, 256<<10) // frames are hashed as they are read
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br.r, magic); err != nil || string(magic) != backupMagic {
		return nil, badBackup("not a weft backup (bad magic)")
	}
	br.sum.Write(magic)
	kind, p, err := br.frame()
	if err != nil {
		return nil, err
	}
	if kind != frameHeader {
		return nil, badBackup("first frame is %q, want header", kind)
	}
	if err := decMode.Unmarshal(p, &br.header); err != nil {
		return nil, badBackup("header: %v", err)
	}
	if br.header.Format != backupFormat {
		return nil, badBackup("format version %d not supported (want %d)", br.header.Format, backupFormat)
	}
	if len(br.header.Install) != 16 {
		return nil, badBackup("header: install ID of %d bytes", len(br.header.Install))
	}
	return br, nil
}

func (br *backupReader) frame() (byte, []byte, error) {
	kind, err := br.r.ReadByte()
	if err != nil {
		return 0, nil, badBackup("truncated (no end frame)")
	}
	n, err := binary.ReadUvarint(br.r)
	if err != nil || n > maxFrame {
		return 0, nil, badBackup("bad frame length")
	}
	var buf bytes.Buffer
	if m, err := io.Copy(&buf, io.LimitReader(br.r, int64(n))); err != nil || m != int64(n) {
		return 0, nil, badBackup("truncated frame")
	}
	var crcb [4]byte
	if _, err := io.ReadFull(br.r, crcb[:]); err != nil {
		return 0, nil, badBackup("truncated frame checksum")
	}
	hdr := binary.AppendUvarint([]byte{kind}, n)
	p := buf.Bytes()
	if crc := crc32.Update(crc32.Update(0, crcTab, hdr), crcTab, p); crc != binary.BigEndian.Uint32(crcb[:]) {
		return 0, nil, badBackup("frame checksum mismatch after %d entries", br.entries)
	}
	if kind != frameEnd {
		br.sum.Write(hdr)
		br.sum.Write(p)
		br.sum.Write(crcb[:])
	}
	return kind, p, nil
}

// next returns the next chunk of entries, or io.EOF after a verified end
// frame.
func (br *backupReader) next() ([]backupEntry, error) {
	if br.done {
		return nil, io.EOF
	}
	kind, p, err := br.frame()
	if err != nil {
		return nil, err
	}
	switch kind {
	case frameData:
		var chunk []backupEntry
		if err := decMode.Unmarshal(p, &chunk); err != nil {
			return nil, badBackup("data frame: %v", err)
		}
		for _, e := range chunk {
			if !strings.HasPrefix(e.Key, "/") || ds.RawKey(e.Key).String() != e.Key || len(e.Key) > 4096 {
				return nil, badBackup("bad key %q", e.Key)
			}
			br.entries++
			br.bytes += uint64(len(e.Key) + len(e.Value))
		}
		return chunk, nil
	case frameEnd:
		var end backupEnd
		if err := decMode.Unmarshal(p, &end); err != nil {
			return nil, badBackup("end frame: %v", err)
		}
		if end.Entries != br.entries || end.Bytes != br.bytes {
			return nil, badBackup("end frame says %d entries / %d bytes, read %d / %d", end.Entries, end.Bytes, br.entries, br.bytes)
		}
		if !bytes.Equal(end.SHA256, br.sum.Sum(nil)) {
			return nil, badBackup("SHA-256 mismatch")
		}
		if _, err := br.r.ReadByte(); err != io.EOF {
			return nil, badBackup("data after the end frame")
		}
		br.done = true
		return nil, io.EOF
	default:
		return nil, badBackup("unknown frame kind %q", kind)
	}
}

func (br *backupReader) info(name string) BackupInfo {
	bi := BackupInfo{Name: name, Created: time.Unix(0, br.header.Created).UTC(), Schema: br.header.Schema, Label: br.header.Label, Entries: br.entries, Bytes: br.bytes}
	copy(bi.Install[:], br.header.Install)
	return bi
}

// ListBackups returns the backups in sink, oldest first, read from their
// headers (not verified in full; Restore and VerifyBackup do that).
func ListBackups(ctx context.Context, sink Sink) ([]BackupInfo, error) {
	objs, err := sink.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []BackupInfo
	for _, o := range objs {
		rc, err := sink.Open(ctx, o.Name)
		if err != nil {
			return nil, err
		}
		br, err := newBackupReader(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", o.Name, err)
		}
		bi := br.info(o.Name)
		bi.Size = o.Size
		out = append(out, bi)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Created.Equal(out[j].Created) {
			return out[i].Created.Before(out[j].Created)
		}
		return out[i].Name < out[j].Name
	})
	return out, nil
}

// FindBackup picks a backup: "latest", a backup's name, its timestamp as in
// its name (20060102T150405.000000000Z), or an RFC 3339 time (the latest
// backup created at or before it).
func FindBackup(ctx context.Context, sink Sink, at string) (BackupInfo, error) {
	list, err := ListBackups(ctx, sink)
	if err != nil {
		return BackupInfo{}, err
	}
	if len(list) == 0 {
		return BackupInfo{}, fmt.Errorf("%w: no backups", ErrNotFound)
	}
	if at == "latest" {
		return list[len(list)-1], nil
	}
	for _, b := range list {
		if b.Name == at || strings.TrimSuffix(strings.TrimPrefix(b.Name, backupPrefix), backupExt) == at ||
			b.Created.Format(backupTimeFmt) == at {
			return b, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, at); err == nil {
		var pick *BackupInfo
		for i := range list {
			if !list[i].Created.After(t) {
				pick = &list[i]
			}
		}
		if pick != nil {
			return *pick, nil
		}
		return BackupInfo{}, fmt.Errorf("%w: no backup at or before %s", ErrNotFound, at)
	}
	return BackupInfo{}, fmt.Errorf("%w: no backup %q (want latest, a name or timestamp from 'weft backup list', or an RFC 3339 time)", ErrNotFound, at)
}

// VerifyBackup reads a whole backup and checks every checksum.
func VerifyBackup(ctx context.Context, sink Sink, name string, progress func(Progress)) (BackupInfo, error) {
	return readBackup(ctx, sink, name, progress, nil)
}

func readBackup(ctx context.Context, sink Sink, name string, progress func(Progress), fn func([]backupEntry) error) (BackupInfo, error) {
	rc, err := sink.Open(ctx, name)
	if err != nil {
		return BackupInfo{}, err
	}
	defer rc.Close()
	br, err := newBackupReader(rc)
	if err != nil {
		return BackupInfo{}, fmt.Errorf("%s: %w", name, err)
	}
	for {
		if err := ctx.Err(); err != nil {
			return BackupInfo{}, err
		}
		chunk, err := br.next()
		if err == io.EOF {
			return br.info(name), nil
		}
		if err != nil {
			return BackupInfo{}, fmt.Errorf("%s: %w", name, err)
		}
		if fn != nil {
			if err := fn(chunk); err != nil {
				return BackupInfo{}, err
			}
		}
		if progress != nil {
			progress(Progress{Entries: br.entries, Bytes: br.bytes})
		}
	}
}

// RestoreOptions configure Restore.
type RestoreOptions struct {
	// Force restores into a data directory that already holds a database;
	// the old one is kept, renamed to db.replaced-<time>. Default false.
	Force bool
	// Progress is called after each chunk of each pass. Default nil.
	Progress func(pass string, p Progress)
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Check judges the documents in the backup during the first pass,
	// before anything is written: a refusal refuses the restore. Default
	// nil (checksums only).
	Check RestoreCheck
}

// RestoreCheck judges a backup's documents (the store knows their records,
// not what is inside them). Restore calls it in key order, so a document's
// membership record comes before its transactions, and one agent's
// transactions come together, by seq; Done follows the last entry.
type RestoreCheck interface {
	Members(doc DocID, m Members) error
	Txn(doc DocID, r TxnRecord) error
	Done() error
}

// checkEntries hands a chunk's membership and transaction records to c.
func checkEntries(c RestoreCheck, chunk []backupEntry) error {
	for _, e := range chunk {
		if !strings.HasPrefix(e.Key, docsPrefix+"/") {
			continue
		}
		dk, err := parseDocKey(e.Key)
		if err != nil {
			return badBackup("%v", err)
		}
		switch dk.kind {
		case kindMembers:
			var r membersRec
			if err := decodeRecord(recMembers, e.Value, &r); err != nil {
				return badBackup("%s: %v", e.Key, err)
			}
			if err := c.Members(dk.doc, Members{Book: r.Book, Local: r.Local}); err != nil {
				return badBackup("document %s: %v", dk.doc, err)
			}
		case kindTxn:
			r, err := decodeTxnAt(e.Key, e.Value)
			if err != nil {
				return badBackup("%v", err)
			}
			if err := c.Txn(dk.doc, r); err != nil {
				return badBackup("document %s: transaction %s: %v", dk.doc, r.Span(), err)
			}
		}
	}
	return nil
}

// Restore restores backup name from sink into data directory dir. It first
// reads the whole backup and verifies every checksum, touching nothing;
// then it writes a new database beside the target (verifying again as it
// reads), syncs it, and renames it into place. The directory must hold no
// database unless opts.Force is set. It takes the directory lock.
func Restore(ctx context.Context, sink Sink, name, dir string, opts RestoreOptions) (BackupInfo, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	prog := func(pass string) func(Progress) {
		if opts.Progress == nil {
			return nil
		}
		return func(p Progress) { opts.Progress(pass, p) }
	}
	var check func([]backupEntry) error
	if opts.Check != nil {
		check = func(chunk []backupEntry) error { return checkEntries(opts.Check, chunk) }
	}
	info, err := readBackup(ctx, sink, name, prog("verify"), check)
	if err == nil && opts.Check != nil {
		if err = opts.Check.Done(); err != nil {
			err = badBackup("%v", err)
		}
	}
	if err != nil {
		return info, err
	}
	if info.Schema > SchemaVersion {
		return info, fmt.Errorf("%w: backup has schema version %d, this weft understands up to %d", ErrSchemaTooNew, info.Schema, SchemaVersion)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return info, fmt.Errorf("store: create data directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return info, err
	}
	defer lock.unlock()
	dbDir := filepath.Join(dir, DBDirName)
	if nonEmpty(dbDir) && !opts.Force {
		return info, fmt.Errorf("%w: %s already holds a database (use --force to replace it; the old one is kept beside it)", ErrNotEmpty, dir)
	}
	tmp := filepath.Join(dir, DBDirName+".restoring")
	if err := os.RemoveAll(tmp); err != nil {
		return info, err
	}
	d, err := openBadger(tmp, DefaultOptions())
	if err != nil {
		return info, err
	}
	k := newKV(d)
	_, err = readBackup(ctx, sink, name, prog("restore"), func(chunk []backupEntry) error {
		groups := make([][]kvOp, len(chunk))
		for i, e := range chunk {
			groups[i] = []kvOp{{key: e.Key, val: e.Value}}
		}
		return k.commit(ctx, groups, 1<<20)
	})
	if err == nil {
		err = k.sync(ctx)
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.RemoveAll(tmp)
		return info, fmt.Errorf("store: restore: %w", err)
	}
	if nonEmpty(dbDir) || exists(dbDir) {
		old := filepath.Join(dir, DBDirName+".replaced-"+opts.Now().UTC().Format(backupTimeFmt))
		if err := os.Rename(dbDir, old); err != nil {
			os.RemoveAll(tmp)
			return info, fmt.Errorf("store: move old database aside: %w", err)
		}
	}
	if err := os.Rename(tmp, dbDir); err != nil {
		return info, fmt.Errorf("store: put restored database in place: %w", err)
	}
	return info, syncDir(dir)
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func nonEmpty(dir string) bool {
	ents, err := os.ReadDir(dir)
	return err == nil && len(ents) > 0
}
