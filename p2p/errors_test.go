package p2p

import (
	"errors"
	"fmt"
	"testing"

	"weft/vocab"
)

// The sentinels that refuse a peer's input are rejections with one label
// each, wrapped or not, and keep their own messages.
func TestRejectionSentinels(t *testing.T) {
	for err, reason := range map[error]string{ErrTooLarge: vocab.ReasonOversized, ErrBadFrame: vocab.ReasonTruncated} {
		w := fmt.Errorf("%w: frame of 9 bytes", err)
		if !errors.Is(w, err) || !errors.Is(w, vocab.ErrRejected) || vocab.Reason(w) != reason || !vocab.IsRejected(w) {
			t.Errorf("%v: reason %q, want %q", w, vocab.Reason(w), reason)
		}
	}
	if ErrTooLarge.Error() != "p2p: message too large" || ErrBadFrame.Error() != "p2p: malformed frame" {
		t.Fatal("messages changed")
	}
	if vocab.IsRejected(ErrClosed) {
		t.Fatal("a closed node is not a rejection")
	}
}
