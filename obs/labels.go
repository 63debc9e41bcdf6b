package obs

import (
	"strings"
	"sync"
	"unicode/utf8"
)

// otherLabel is the label value for everything outside a bounded set.
const otherLabel = "other"

// maxLabelLen bounds one label value in bytes.
const maxLabelLen = 64

// labelSet admits label values first come, up to max distinct ones;
// later ones become "other". Values are cleaned to bounded, valid UTF-8.
type labelSet struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

func newLabelSet(max int) *labelSet { return &labelSet{max: max, seen: map[string]bool{}} }

// label returns the value to use for v.
func (s *labelSet) label(v string) string {
	v = cleanLabel(v)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seen[v] {
		return v
	}
	if len(s.seen) >= s.max {
		return otherLabel
	}
	s.seen[v] = true
	return v
}

// cleanLabel makes v a label value of bounded length and valid UTF-8
// ("unknown" when empty).
func cleanLabel(v string) string {
	if v == "" {
		return "unknown"
	}
	if len(v) > maxLabelLen {
		v = v[:maxLabelLen]
	}
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "?")
	}
	return v
}
