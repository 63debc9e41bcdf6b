package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
	"weft/member"

	"weft/api"
	"weft/store"
	"weft/vocab"
)

// Options configure a Manager. Start from DefaultOptions.
type Options struct {
	// Store keeps the documents. Required.
	Store Store
	// Transport connects to other replicas. Nil: offline.
	Transport Transport
	// Device is this device's Ed25519 key (a daemon's libp2p identity):
	// it signs what this replica writes to members-only documents and is
	// the subject of its capabilities. Default: a fresh key (tests).
	Device ed25519.PrivateKey
	// DeviceLabel names this device in the capabilities it makes for
	// itself (creating or joining a document). Default: none.
	DeviceLabel string
	// Agent names this replica's local edits: the device's agent
	// (member.AgentOf), which validate sets; an Agent given is ignored
	// (every agent must belong to the signing device).
	Agent string
	// Logger receives log lines. Default: discard.
	Logger *slog.Logger
	// IdleUnload drops a document's in-memory state after it has been
	// idle this long (it stays subscribed). Default 10 minutes.
	IdleUnload time.Duration
	// SyncInterval is how often open documents run anti-entropy with their
	// peers. Default 30 s.
	SyncInterval time.Duration
	// SyncTimeout bounds one catch-up exchange. Default 2 minutes.
	SyncTimeout time.Duration
	// SyncIdleTimeout bounds each step of a catch-up exchange: when no
	// frame was read or written for this long (the handshake's steps
	// included), the stream is reset, so a peer that stops answering
	// frees its slot in seconds, not at SyncTimeout. Default 15 s.
	SyncIdleTimeout time.Duration
	// SyncMaxInbound bounds the catch-up exchanges other peers run with
	// this replica at once, SyncMaxInboundPerPeer those of one peer; a
	// stream over either is answered "busy" at once and closed (a peer
	// over its own bound is penalised: an honest one opens at most
	// SyncMaxOutboundPerPeer). Defaults 32 and 4.
	SyncMaxInbound        int
	SyncMaxInboundPerPeer int
	// SyncMaxOutbound bounds the exchanges this replica runs at once,
	// SyncMaxOutboundPerPeer those with one peer, so that a peer that
	// accepts streams and never answers holds only its own slots.
	// Defaults 8 and 2.
	SyncMaxOutbound        int
	SyncMaxOutboundPerPeer int
	// CompactAfter writes a snapshot (and drops the transactions it
	// covers) once a loaded document replayed this many stored
	// transactions, and when it is unloaded. Default 2000.
	CompactAfter int
	// Host says which documents this replica keeps for others (a relay).
	// Default: only those joined here. A replica with Host or AckDurable
	// set joins its documents' topics only while peers use them, and
	// builds a document's state only when first needed (topics.go).
	Host HostPolicy
	// HostMaxDocs bounds the documents a replica keeps for others
	// (granted the pull role), HostMaxDocsPerMember those granted by one
	// member, HostMaxBytesPerDoc the envelopes kept of one,
	// HostMaxBytesPerMember those of all the documents one member granted,
	// and HostMaxTxnsPerDoc and HostMaxTxnsPerMember the transactions a
	// second stored of one document and of one member's documents (token
	// buckets holding HostTxnBurst of their rate). 0: no bound. See
	// quota.go: what a rate refuses comes back with a later catch-up.
	HostMaxDocs           int
	HostMaxDocsPerMember  int
	HostMaxBytesPerDoc    int64
	HostMaxBytesPerMember int64
	HostMaxTxnsPerDoc     float64
	HostMaxTxnsPerMember  float64
	// HostTxnBurst is how long a transaction rate's bucket lasts when full
	// (its burst is this long's worth of the rate). Default 20 minutes.
	HostTxnBurst time.Duration
	// AckDurable makes this replica publish durability acknowledgements
	// for the documents it stores (a relay). Default false.
	AckDurable bool
	// TopicIdle is how long a relay (Host or AckDurable set) stays in a
	// document's topic after its last peer there left; it joins again
	// when a peer subscribes (topics.go). Default 5 minutes.
	TopicIdle time.Duration
	// Relays are the peer IDs whose durability acknowledgements this
	// replica records (the relays it is configured with). Default none.
	Relays []string
	// Observer receives events for metrics. Default: none.
	Observer Observer
	// DropGossip is a fault-injection hook for tests: this fraction (0..1)
	// of received gossip messages is dropped before it reaches the
	// document, as a lossy network would. Catch-up must repair it.
	// Default 0.
	DropGossip float64
	// Info is reported by Status (version string, data directory, API).
	Info api.NodeStatus
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// DefaultOptions returns the defaults documented on Options.
func DefaultOptions() Options {
	return Options{
		IdleUnload:   10 * time.Minute,
		SyncInterval: 30 * time.Second,
		SyncTimeout:  2 * time.Minute,
		CompactAfter: 2000,
		HostTxnBurst: DefaultHostTxnBurst,
		TopicIdle:    5 * time.Minute,
		Now:          time.Now,

		SyncIdleTimeout:        15 * time.Second,
		SyncMaxInbound:         32,
		SyncMaxInboundPerPeer:  4,
		SyncMaxOutbound:        8,
		SyncMaxOutboundPerPeer: 2,
	}
}

// DefaultHostTxnBurst is Options.HostTxnBurst by default: at 50
// transactions a second, a bucket of 60,000 — a day's typing (eight hours
// at two a second) caught up at once.
const DefaultHostTxnBurst = 20 * time.Minute

func (o *Options) validate() error {
	if o.Store == nil {
		return errors.New("replica: Options.Store is required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if o.Device == nil {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		o.Device = key
	}
	if len(o.Device) != ed25519.PrivateKeySize {
		return fmt.Errorf("replica: Options.Device is %d bytes (want an Ed25519 private key)", len(o.Device))
	}
	o.Agent = member.AgentOf(o.Device.Public().(ed25519.PublicKey))
	if o.DropGossip < 0 || o.DropGossip > 1 {
		return errors.New("replica: DropGossip must be between 0 and 1")
	}
	if o.IdleUnload <= 0 || o.SyncInterval <= 0 || o.SyncTimeout <= 0 || o.SyncIdleTimeout <= 0 || o.CompactAfter <= 0 || o.TopicIdle <= 0 {
		return errors.New("replica: durations and CompactAfter must be positive (start from DefaultOptions)")
	}
	if o.HostMaxDocs < 0 || o.HostMaxDocsPerMember < 0 || o.HostMaxBytesPerDoc < 0 || o.HostMaxBytesPerMember < 0 || !(o.HostMaxTxnsPerDoc >= 0) || !(o.HostMaxTxnsPerMember >= 0) || o.HostTxnBurst < 0 {
		return errors.New("replica: the HostMax* quotas and HostTxnBurst must be 0 or positive numbers")
	}
	if o.SyncMaxInbound <= 0 || o.SyncMaxInboundPerPeer <= 0 || o.SyncMaxOutbound <= 0 || o.SyncMaxOutboundPerPeer <= 0 {
		return errors.New("replica: the catch-up bounds (SyncMax*) must be positive (start from DefaultOptions)")
	}
	if o.HostTxnBurst == 0 {
		o.HostTxnBurst = DefaultHostTxnBurst
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Observer == nil {
		o.Observer = nopObserver{}
	}
	return nil
}

// Manager runs every document of one replica.
type Manager struct {
	opts Options
	log  *slog.Logger
	ctx  context.Context
	stop context.CancelFunc
	wg   sync.WaitGroup

	dev    *member.Device // this device: signs what it writes
	hostMu sync.Mutex     // serialises accepting documents to keep

	mu   sync.Mutex
	docs map[store.DocID]*docState
	// held are the documents a relay holds whose state is not built yet
	// (topics.go); their granters are counted by the quotas.
	held   map[store.DocID]struct{}
	topics map[[16]byte]store.DocID  // members-only documents by topic ID
	grants map[grantKey]member.Chain // pull grants to hand a relay at its next catch-up
	closed bool

	quota   *quotas      // what this replica keeps for others (quota.go)
	devices *deviceIndex // members' devices of every book held (devices.go)

	inbound  *slots // catch-up exchanges peers run with this replica
	outbound *slots // catch-up exchanges this replica runs

	// A relay's topics to join (topics.go): queued by the transport's
	// wanted callback, joined by joinTopics.
	joinMu   sync.Mutex
	toJoin   map[store.DocID]struct{}
	joinKick chan struct{}

	inflight sync.Map      // syncKey → struct{}
	ackSeq   atomic.Uint64 // numbers durability acknowledgements
	stats    Stats
}

// New starts a manager: it subscribes to every document in the store and,
// with a transport, serves and runs catch-up.
func New(opts Options) (*Manager, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Manager{opts: opts, log: opts.Logger, ctx: ctx, stop: stop, docs: map[store.DocID]*docState{}, held: map[store.DocID]struct{}{}, topics: map[[16]byte]store.DocID{}, grants: map[grantKey]member.Chain{},
		toJoin: map[store.DocID]struct{}{}, joinKick: make(chan struct{}, 1)}
	m.inbound = newSlots(opts.SyncMaxInbound, opts.SyncMaxInboundPerPeer)
	m.outbound = newSlots(opts.SyncMaxOutbound, opts.SyncMaxOutboundPerPeer)
	var err error
	if m.dev, err = member.DeviceFrom(opts.Device); err != nil {
		stop()
		return nil, fmt.Errorf("replica: the device key: %w", err)
	}
	m.stats.init()
	m.quota = newQuotas(quotaLimits{docs: opts.HostMaxDocs, docsPerMember: opts.HostMaxDocsPerMember, bytesPerDoc: opts.HostMaxBytesPerDoc, bytesPerMember: opts.HostMaxBytesPerMember, txnsPerDoc: opts.HostMaxTxnsPerDoc, txnsPerMember: opts.HostMaxTxnsPerMember, burst: opts.HostTxnBurst})
	m.devices = newDeviceIndex()
	ids, err := opts.Store.Docs(ctx)
	if err != nil {
		stop()
		return nil, fmt.Errorf("replica: listing documents: %w", err)
	}
	lazy := m.lazyTopics()
	if lazy {
		m.wg.Add(1)
		go m.joinTopics()
	}
	for _, id := range ids {
		var err error
		if lazy {
			err = m.holdLater(id)
		} else {
			_, err = m.hold(id, true)
		}
		if err != nil {
			stop()
			m.wg.Wait()
			return nil, err
		}
	}
	if t := opts.Transport; t != nil {
		// Peers' subscriptions are tracked for the topics of what this
		// replica holds, and no others. Only now, once every held document
		// is known: until Want the transport tracks every announcement, so
		// none made while the documents were being listed is lost (an
		// announcement dropped is not heard again until the peer
		// re-subscribes). A relay joins a wanted topic as peers come.
		wanted := func(string) {}
		if lazy {
			wanted = m.wantedTopic
		}
		t.Want(m.wantTopic, wanted)
		t.Handle(SyncProtocol, m.serveSync)
		t.Handle(DropProtocol, m.serveDrop) // drop_send.go
		t.Notify(func(peer string, connected bool) {
			if connected && m.enter() {
				// It asks the transport for topic peers: not on its callback.
				go func() {
					defer m.wg.Done()
					m.goSyncPeer(peer)
				}()
			}
		})
		m.wg.Add(1)
		go m.antiEntropy()
	}
	return m, nil
}

// enter counts a goroutine the transport started (a stream handler, a
// callback's work) among those Close waits for; false once Close has
// begun, and the caller must not go on.
func (m *Manager) enter() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false
	}
	m.wg.Add(1)
	return true
}

// Close unloads every document (writing snapshots where due), leaves the
// topics and waits for the goroutines to stop. The store is not closed.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	docs := make([]*docState, 0, len(m.docs))
	for _, d := range m.docs {
		docs = append(docs, d)
	}
	m.mu.Unlock()
	var errs []error
	for _, d := range docs {
		if err := d.close(); err != nil {
			errs = append(errs, err)
		}
	}
	m.stop()
	m.wg.Wait()
	return errors.Join(errs...)
}

// doc returns the state of a held document (building it, on a relay, the
// first time it is asked for).
func (m *Manager) doc(id store.DocID) (*docState, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, api.ErrClosed
	}
	d, ok := m.docs[id]
	_, held := m.held[id]
	m.mu.Unlock()
	switch {
	case ok:
		return d, nil
	case held:
		return m.hold(id, false)
	}
	return nil, fmt.Errorf("%w %s", api.ErrUnknownDoc, id)
}

// join holds a document that exists in the store and subscribes to its
// topic (if it was held already, it is returned as it is).
func (m *Manager) join(id store.DocID) (*docState, error) { return m.hold(id, true) }

// hold loads a stored document's membership and keeps its state; subscribe
// says whether to join its topic now (a relay at start does not).
func (m *Manager) hold(id store.DocID, subscribe bool) (*docState, error) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, api.ErrClosed
	}
	if d, ok := m.docs[id]; ok {
		m.mu.Unlock()
		return d, nil
	}
	m.mu.Unlock()
	ms, err := loadMembership(m.ctx, m.opts.Store, m.dev, id)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	if d, ok := m.docs[id]; ok {
		m.mu.Unlock()
		return d, nil
	}
	d := newDocState(m, id, ms)
	m.docs[id] = d
	delete(m.held, id)
	if ms != nil {
		m.topics[member.TopicID(id)] = id
	} else {
		delete(m.topics, member.TopicID(id))
	}
	m.mu.Unlock()
	m.index(id, ms) // before its topic can bring new members
	if !subscribe {
		return d, nil
	}
	if err := d.subscribe(); err != nil {
		m.mu.Lock()
		delete(m.docs, id)
		delete(m.topics, member.TopicID(id))
		m.mu.Unlock()
		return nil, err
	}
	return d, nil
}

func parseID(id string) (store.DocID, error) {
	d, err := store.ParseDocID(id)
	if err != nil {
		return d, fmt.Errorf("%w: document ID %q: %v", api.ErrBadInput, id, err)
	}
	return d, nil
}

func (m *Manager) info(ctx context.Context, id store.DocID) (api.DocInfo, error) {
	meta, err := m.opts.Store.Meta(ctx, id)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return api.DocInfo{}, fmt.Errorf("%w %s", api.ErrUnknownDoc, id)
		}
		return api.DocInfo{}, err
	}
	info := api.DocInfo{ID: id.String(), Title: meta.Title, Created: meta.Created, LastOpened: meta.LastOpened, Chars: -1}
	m.mu.Lock()
	d := m.docs[id]
	m.mu.Unlock()
	if d != nil {
		info.Chars = int(d.chars.Load())
		if d.mem != nil {
			info.Role = roleName(d.mem.role())
		}
	}
	return info, nil
}

// CreateDoc creates a members-only document: a new document key (its
// ID is derived from it) and read secret, this device its admin, and
// joins it. A title is its first transaction (a title op).
func (m *Manager) CreateDoc(ctx context.Context, title string) (api.DocInfo, error) {
	if err := vocab.CheckTitle(title); err != nil {
		return api.DocInfo{}, fmt.Errorf("%w: %v", api.ErrBadInput, err)
	}
	doc, err := member.NewDocument(rand.Reader)
	if err != nil {
		return api.DocInfo{}, err
	}
	link, err := member.Issue(doc.Key, doc.ID, nil, member.Grant{Role: member.RoleAdmin, Subject: m.dev.Public(), Box: m.dev.BoxPublic(), Label: m.opts.DeviceLabel})
	if err != nil {
		return api.DocInfo{}, err
	}
	book, err := member.NewBook(doc.Public)
	if err != nil {
		return api.DocInfo{}, err
	}
	local := &member.Local{DocKey: doc.Key, Chain: member.Chain{link}, Secrets: []member.EpochSecret{{Epoch: 0, Secret: doc.Secret}}}
	if err := m.createMembersDoc(ctx, doc.ID, title, book, local); err != nil {
		return api.DocInfo{}, err
	}
	if title != "" {
		// The title is the history's first transaction, so that it
		// replicates and shows in the history like any rename.
		if err := m.renameTxn(ctx, doc.ID, title); err != nil { // docs.go
			if _, derr := m.deleteLocal(context.WithoutCancel(ctx), doc.ID.String()); derr != nil {
				m.log.Error("removing a document whose title failed", "doc", doc.ID, "err", derr)
			}
			return api.DocInfo{}, err
		}
	}
	return m.info(ctx, doc.ID)
}

// createMembersDoc stores a members-only document with its membership
// and joins it.
func (m *Manager) createMembersDoc(ctx context.Context, id store.DocID, title string, book *member.Book, local *member.Local) error {
	ms, err := newMembership(id, m.dev, book, local)
	if err != nil {
		return err
	}
	rec := ms.record()
	if err := m.opts.Store.CreateDocWith(ctx, id, title, &rec); err != nil {
		return err
	}
	d, err := m.join(id)
	if err != nil {
		return err
	}
	d.discover() // relays and peers take it from here
	return nil
}

// JoinDoc used to join a document by its ID. Members-only documents are
// joined with an invite (JoinInvite); a document already here is simply
// returned.
func (m *Manager) JoinDoc(ctx context.Context, sid string) (api.DocInfo, error) {
	id, err := parseID(sid)
	if err != nil {
		return api.DocInfo{}, err
	}
	if _, err := m.doc(id); err == nil {
		return m.info(ctx, id)
	}
	return api.DocInfo{}, api.ErrNeedInvite
}

// RenameDoc sets a document's title.
func (m *Manager) RenameDoc(ctx context.Context, sid, title string) (api.DocInfo, error) {
	id, err := parseID(sid)
	if err != nil {
		return api.DocInfo{}, err
	}
	if _, err := m.doc(id); err != nil {
		return api.DocInfo{}, err
	}
	if err := vocab.CheckTitle(title); err != nil {
		return api.DocInfo{}, fmt.Errorf("%w: %v", api.ErrBadInput, err)
	}
	if err := m.renameTxn(ctx, id, title); err != nil { // docs.go
		return api.DocInfo{}, err
	}
	if err := m.opts.Store.SetTitle(ctx, id, title); err != nil {
		return api.DocInfo{}, err
	}
	return m.info(ctx, id)
}

// ListDocs lists the joined documents, most recently opened first.
func (m *Manager) ListDocs(ctx context.Context) ([]api.DocInfo, error) {
	m.mu.Lock()
	ids := make([]store.DocID, 0, len(m.docs)+len(m.held))
	for id := range m.docs {
		ids = append(ids, id)
	}
	for id := range m.held {
		ids = append(ids, id)
	}
	m.mu.Unlock()
	out := make([]api.DocInfo, 0, len(ids))
	for _, id := range ids {
		info, err := m.info(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].LastOpened.Equal(out[j].LastOpened) {
			return out[i].LastOpened.After(out[j].LastOpened)
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// Text returns a document's text.
func (m *Manager) Text(ctx context.Context, sid string) (string, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return "", err
	}
	var text string
	err = d.do(ctx, func(dr *driver) error {
		doc, err := dr.loaded(ctx)
		if err == nil {
			text = doc.Text()
		}
		return err
	})
	return text, err
}

// Edit applies local edits, each as its own transaction, and returns once
// they are durable locally; then they are published (the step's order for
// the API).
func (m *Manager) Edit(ctx context.Context, sid string, edits []api.Edit) (api.EditResult, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return api.EditResult{}, err
	}
	var res api.EditResult
	arrived := m.opts.Now()
	err = d.do(ctx, func(dr *driver) error {
		r, err := dr.apply(ctx, input{src: fromAPI, edits: edits}, nil, arrived)
		if dr.doc != nil && (err == nil || r.refused != nil) {
			res = api.EditResult{Applied: r.applied, Version: dr.doc.Version(), Chars: dr.doc.Len()}
		}
		return err
	})
	return res, err
}

// DocStatus reports a document's state.
func (m *Manager) DocStatus(ctx context.Context, sid string) (api.DocStatus, error) {
	d, err := m.lookup(sid)
	if err != nil {
		return api.DocStatus{}, err
	}
	info, err := m.info(ctx, d.id)
	if err != nil {
		return api.DocStatus{}, err
	}
	st := api.DocStatus{ID: info.ID, Title: info.Title, Agent: m.opts.Agent, Peers: d.topicPeers(), Role: info.Role}
	if ms := d.mem; ms != nil {
		ms.mu.Lock()
		st.Members = ms.book.Active()
		ms.mu.Unlock()
		st.Forks = ms.forks()
		ms.mu.Lock()
		if ms.keys != nil {
			st.Epoch = ms.keys.Current().Epoch
		}
		ms.mu.Unlock()
	}
	err = d.do(ctx, func(dr *driver) error {
		if d.mem != nil {
			if err := dr.ensure(ctx); err != nil {
				return err
			}
			st.Buffered = len(dr.hl.waiting)
		}
		st.RelayAcked = dr.acked.best()
		st.LastApplied = dr.lastApplied
		if d.mem != nil && dr.doc == nil {
			st.Version = dr.version()
			return nil
		}
		doc, err := dr.loaded(ctx)
		if err != nil {
			return err
		}
		st.Chars = doc.Len()
		st.Version = doc.Version()
		for _, f := range doc.Frontier() {
			st.Frontier = append(st.Frontier, fmt.Sprintf("%s@%d", f.Agent, f.Seq))
		}
		if d.mem == nil {
			st.Buffered = doc.Pending()
		}
		return nil
	})
	st.Fetch = m.toFetch(ctx, d.id)
	if st.Peers == nil {
		st.Peers = []string{}
	}
	if st.Frontier == nil {
		st.Frontier = []string{}
	}
	return st, err
}

// Peers lists connected peers.
func (m *Manager) Peers(ctx context.Context) ([]api.PeerInfo, error) {
	if m.opts.Transport == nil {
		return []api.PeerInfo{}, nil
	}
	ps := m.opts.Transport.Peers()
	if ps == nil {
		ps = []api.PeerInfo{}
	}
	return ps, nil
}

// SetAPI records the local API's URL for Status (known only once the API
// server has started).
func (m *Manager) SetAPI(url string) {
	m.mu.Lock()
	m.opts.Info.API = url
	m.mu.Unlock()
}

// Status reports this node.
func (m *Manager) Status(ctx context.Context) (api.NodeStatus, error) {
	m.mu.Lock()
	st := m.opts.Info
	m.mu.Unlock()
	st.Device = member.DeviceID(m.dev.Public())
	if t := m.opts.Transport; t != nil {
		st.PeerID = t.ID()
		st.Addrs = t.Addrs()
		st.Peers = len(t.Peers())
	}
	m.mu.Lock()
	st.Docs = len(m.docs) + len(m.held)
	m.mu.Unlock()
	st.Open = m.Resident()
	return st, nil
}

// Forked is the number of members-only documents in which a member was
// caught signing two histories (a proof is held).
func (m *Manager) Forked() int {
	m.mu.Lock()
	docs := make([]*docState, 0, len(m.docs))
	for _, d := range m.docs {
		docs = append(docs, d)
	}
	m.mu.Unlock()
	n := 0
	for _, d := range docs {
		if d.mem != nil && d.mem.forked() {
			n++
		}
	}
	return n
}

// Resident is the number of documents whose crdt state is loaded now: the
// daemon's cache of documents.
func (m *Manager) Resident() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, d := range m.docs {
		if d.loaded.Load() {
			n++
		}
	}
	return n
}

// Stats returns counters of what the replica did.
func (m *Manager) Stats() api.ReplicaCounters { return m.stats.snapshot() }

func (m *Manager) lookup(sid string) (*docState, error) {
	id, err := parseID(sid)
	if err != nil {
		return nil, err
	}
	return m.doc(id)
}

// antiEntropy periodically runs catch-up for loaded documents with the
// peers of their topics.
func (m *Manager) antiEntropy() {
	defer m.wg.Done()
	t := time.NewTicker(m.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-m.ctx.Done():
			return
		case <-t.C:
		}
		m.mu.Lock()
		docs := make([]*docState, 0, len(m.docs))
		for _, d := range m.docs {
			if d.loaded.Load() {
				docs = append(docs, d)
			}
		}
		m.mu.Unlock()
		for _, d := range docs {
			d.expireWaiting()
			for _, p := range d.topicPeers() {
				m.goSync(p, d.id)
			}
		}
	}
}

// expireWaiting drops the envelopes that have waited for their causal
// past maxWaitAge or longer, off the caller's goroutine. Arrivals from
// peers expire them too, but a document that hears nothing more from its
// peers (its only writer local, or the flood over) would otherwise keep
// an orphan flood's envelopes until it unloads: 1,024 were still held
// after the hostile suite's.
func (d *docState) expireWaiting() {
	if !d.m.enter() {
		return
	}
	go func() {
		defer d.m.wg.Done()
		_ = d.do(d.m.ctx, func(dr *driver) error {
			if dr.hl != nil {
				d.m.stats.add(&d.m.stats.waitExpired, uint64(dr.hl.expire(d.m.opts.Now())))
			}
			return nil
		})
	}()
}

// goSyncPeer runs catch-up with a newly connected peer for the documents
// whose topic it is in already; usually its subscriptions arrive just
// after, and the topic's peer events start the rest (syncNewPeers). A
// peer that subscribes to none gets no stream at all.
func (m *Manager) goSyncPeer(peer string) {
	m.mu.Lock()
	docs := make([]*docState, 0, len(m.docs))
	for _, d := range m.docs {
		docs = append(docs, d)
	}
	m.mu.Unlock()
	for _, d := range docs {
		if slices.Contains(d.topicPeers(), peer) {
			m.goSync(peer, d.id)
		}
	}
}
