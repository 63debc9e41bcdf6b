package p2p

// SetInterest says which topics, besides those joined, this node tracks
// peers' subscriptions to; wanted(topic) is called (it must not block)
// when a peer announces a wanted topic this node has not joined.
//
// Not wired yet (issue 11 in progress): subscriptions are filtered by
// name length only.
func (n *Node) SetInterest(want func(topic string) bool, wanted func(topic string)) {}

// Penalize lowers peer's application score for input refused on a
// stream. Not wired yet (issue 11 in progress).
func (n *Node) Penalize(peer, reason string) {}

// SetRelayFilter restricts the circuit relay service to the peers allow
// accepts (reservations and connections). Not wired yet (issue 11 in
// progress): the relay serves anyone.
func (n *Node) SetRelayFilter(allow func(peer string) bool) {}
