package store

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fxamacker/cbor/v2"

	"weft/vocab"
)

// fakeCodec is a stand-in for the crdt package in unit tests. A payload is
// CBOR [agent, seq, parents, text]; each byte of text is an item with ID
// (agent, seq+i). The "document text" is every item's byte ordered by ID,
// which makes it independent of the (causal) order of application. A
// snapshot is CBOR [version, items].
type fakeCodec struct{}

type fakeTxn struct {
	_       struct{} `cbor:",toarray"`
	Agent   string
	Seq     uint64
	Parents []idRec
	Text    string
}

func fakePayload(h vocab.Header, text string) []byte {
	ps := make([]idRec, len(h.Parents))
	for i, p := range h.Parents {
		ps[i] = idRec{Agent: p.Agent, Seq: p.Seq}
	}
	b, err := cbor.Marshal(fakeTxn{Agent: h.Agent, Seq: h.Seq, Parents: ps, Text: text})
	if err != nil {
		panic(err)
	}
	return b
}

func (fakeCodec) CheckTxn(h vocab.Header, payload []byte) error {
	var ft fakeTxn
	if err := cbor.Unmarshal(payload, &ft); err != nil {
		return err
	}
	if ft.Agent != h.Agent || ft.Seq != h.Seq || uint64(len(ft.Text)) != h.Len || len(ft.Parents) != len(h.Parents) {
		return errors.New("header mismatch")
	}
	for i, p := range ft.Parents {
		if p.Agent != h.Parents[i].Agent || p.Seq != h.Parents[i].Seq {
			return errors.New("parents mismatch")
		}
	}
	return nil
}

type fakeDoc struct {
	items map[ID]byte
	v     Version
}

// fakeSnap is a snapshot: the version and the items, run-length encoded
// (each run is consecutive seqs of one agent), as real snapshots are.
type fakeSnap struct {
	_    struct{} `cbor:",toarray"`
	V    []idRec
	Runs []fakeRun
}

type fakeRun struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
	Text  string
}

// fakeSnapItems is the first fake snapshot format, one item per seq, in
// which testdata/v2's snapshots are written; Rebuild still reads it.
type fakeSnapItems struct {
	_     struct{} `cbor:",toarray"`
	V     []idRec
	Items []fakeItem
}

type fakeItem struct {
	_     struct{} `cbor:",toarray"`
	Agent string
	Seq   uint64
	B     byte
}

func (fakeCodec) Rebuild(snapshot []byte) (Rebuilder, error) {
	d := &fakeDoc{items: map[ID]byte{}, v: Version{}}
	if snapshot == nil {
		return d, nil
	}
	var fs fakeSnap
	if err := cbor.Unmarshal(snapshot, &fs); err != nil {
		var old fakeSnapItems
		if cbor.Unmarshal(snapshot, &old) != nil {
			return nil, err
		}
		fs.V = old.V
		for _, it := range old.Items {
			fs.Runs = append(fs.Runs, fakeRun{Agent: it.Agent, Seq: it.Seq, Text: string([]byte{it.B})})
		}
	}
	for _, r := range fs.V {
		d.v[r.Agent] = r.Seq
	}
	for _, r := range fs.Runs {
		for i := 0; i < len(r.Text); i++ {
			d.items[ID{Agent: r.Agent, Seq: r.Seq + uint64(i)}] = r.Text[i]
		}
	}
	return d, nil
}

func (d *fakeDoc) Apply(payload []byte) error {
	var ft fakeTxn
	if err := cbor.Unmarshal(payload, &ft); err != nil {
		return err
	}
	if ft.Seq > d.v[ft.Agent] {
		return fmt.Errorf("gap before %s %d", ft.Agent, ft.Seq)
	}
	for _, p := range ft.Parents {
		if p.Seq >= d.v[p.Agent] {
			return fmt.Errorf("missing parent %s %d", p.Agent, p.Seq)
		}
	}
	for i := 0; i < len(ft.Text); i++ {
		d.items[ID{Agent: ft.Agent, Seq: ft.Seq + uint64(i)}] = ft.Text[i]
	}
	d.v[ft.Agent] = max(d.v[ft.Agent], ft.Seq+uint64(len(ft.Text)))
	return nil
}

func (d *fakeDoc) Version() Version { return d.v.Clone() }

// sortedIDs are the items' IDs by agent, then seq: the text's order.
func (d *fakeDoc) sortedIDs() []ID {
	ids := make([]ID, 0, len(d.items))
	for id := range d.items {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].Agent != ids[j].Agent {
			return ids[i].Agent < ids[j].Agent
		}
		return ids[i].Seq < ids[j].Seq
	})
	return ids
}

func (d *fakeDoc) Text() string {
	ids := d.sortedIDs()
	var b strings.Builder
	for _, id := range ids {
		b.WriteByte(d.items[id])
	}
	return b.String()
}

func (d *fakeDoc) TextHash() []byte {
	h := sha256.Sum256([]byte(d.Text()))
	return h[:]
}

func (d *fakeDoc) Snapshot() []byte {
	ids := d.sortedIDs()
	fs := fakeSnap{V: encodeVersion(d.v)}
	var text []byte
	flush := func() {
		if len(text) > 0 {
			fs.Runs[len(fs.Runs)-1].Text = string(text)
			text = text[:0]
		}
	}
	for i, id := range ids {
		if i == 0 || id.Agent != ids[i-1].Agent || id.Seq != ids[i-1].Seq+1 {
			flush()
			fs.Runs = append(fs.Runs, fakeRun{Agent: id.Agent, Seq: id.Seq})
		}
		text = append(text, d.items[id])
	}
	flush()
	b, err := encMode.Marshal(fs)
	if err != nil {
		panic(err)
	}
	return b
}
