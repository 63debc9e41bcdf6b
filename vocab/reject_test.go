package vocab

import (
	"errors"
	"fmt"
	"testing"
)

func TestIgnore(t *testing.T) {
	err := Ignore(ReasonDuplicate, "transaction %s/%d is known", "a", 3)
	if !Ignored(err) || !Ignored(fmt.Errorf("wrapped: %w", err)) {
		t.Fatalf("Ignored(%v) = false", err)
	}
	if Reason(err) != ReasonDuplicate {
		t.Fatalf("Reason = %q, want %q", Reason(err), ReasonDuplicate)
	}
	if errors.Is(err, ErrRejected) {
		t.Fatal("an ignored message counts as rejected")
	}
	if Ignored(Reject(ReasonMalformed, "x")) || Ignored(errors.New("plain")) {
		t.Fatal("a rejection or a plain error counts as ignored")
	}
	if got := err.Error(); got != "ignored (duplicate): transaction a/3 is known" {
		t.Fatalf("Error() = %q", got)
	}
}
