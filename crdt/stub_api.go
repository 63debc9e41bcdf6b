package crdt

// TEMPORARY stubs so that tests can be written against the API while the
// implementation lands. Replaced by the real implementation.

import "errors"

var errTODO = errors.New("crdt: not implemented yet")

// Doc is one replica of one document.
type Doc struct{ agent string }

// New returns an empty document replica whose local edits are made by agent.
func New(agent string) (*Doc, error) { return &Doc{agent: agent}, nil }

func (d *Doc) Agent() string                                 { return d.agent }
func (d *Doc) Text() string                                  { return "" }
func (d *Doc) Len() int                                      { return 0 }
func (d *Doc) Insert(pos int, text string) (*Txn, error)     { return nil, errTODO }
func (d *Doc) Delete(pos, n int) (*Txn, error)               { return nil, errTODO }
func (d *Doc) Replace(pos, n int, text string) (*Txn, error) { return nil, errTODO }
func (d *Doc) Apply(t *Txn) (Patch, error)                   { return nil, errTODO }
func (d *Doc) Version() Version                              { return Version{} }
func (d *Doc) Frontier() Frontier                            { return nil }
func (d *Doc) Missing(v Version) []*Txn                      { return nil }
func (d *Doc) Pending() int                                  { return 0 }
func (d *Doc) EncodeSnapshot() []byte                        { return nil }
func LoadSnapshot(agent string, data []byte) (*Doc, error)   { return nil, errTODO }
func EncodeTxn(t *Txn) ([]byte, error)                       { return nil, errTODO }
func DecodeTxn(data []byte) (*Txn, error)                    { return nil, errTODO }
