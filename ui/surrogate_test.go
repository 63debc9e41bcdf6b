package ui

import (
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func TestPairedSurrogates(t *testing.T) {
	for in, want := range map[string]bool{
		`"plain"`:                true,
		`"\ud83d\ude00"`:         true,
		`"\uD83D\uDE00 x"`:       true,
		`"\u00e9\u2028"`:         true,
		`"\\ud83d"`:              true, // an escaped backslash, then text
		`"\\\ud83d\ude00"`:       true,
		`"\ud83d"`:               false,
		`"\ud83d\u0041"`:         false,
		`"\ude00"`:               false,
		`"\ude00\ud83d"`:         false,
		`"\ud83d\ud83d\ude00"`:   false,
		`"\\\ud83d"`:             false,
		`"\ud83d\`:               false,
		`"\ud8"`:                 true, // malformed: left for the decoder to name
		`{"a":"\ud83d\ude00\ud"`: true,
	} {
		if _, got := pairedSurrogates([]byte(in)); got != want {
			t.Errorf("pairedSurrogates(%s) = %v, want %v", in, got, want)
		}
	}
}

// FuzzPairedSurrogates compares the check with a plain reference on JSON
// strings: decode the escapes into UTF-16 code units and look for a
// surrogate that is not half of a high–low pair.
func FuzzPairedSurrogates(f *testing.F) {
	for _, s := range []string{`"\ud83d\ude00"`, `"\ud83d"`, `"\\ud83d"`, `"a\ufffdb"`, `"\u00e9"`, `"\ude00\ud83d"`, `"\\ufffd\ud83d"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var s string
		if !utf8.ValidString(in) || json.Unmarshal([]byte(in), &s) != nil {
			return // only well-formed JSON strings have a reference answer
		}
		_, got := pairedSurrogates([]byte(in))
		if want := referencePaired(in); got != want {
			t.Fatalf("pairedSurrogates(%q) = %v, reference says %v", in, got, want)
		}
	})
}

// referencePaired takes a well-formed JSON string literal.
func referencePaired(lit string) bool {
	var units []uint16
	body := lit[1 : len(lit)-1]
	for i := 0; i < len(body); {
		if body[i] == '\\' {
			if body[i+1] == 'u' {
				n, _ := strconv.ParseUint(body[i+2:i+6], 16, 16)
				units = append(units, uint16(n))
				i += 6
			} else {
				units = append(units, 'x') // any other escape is one ordinary character
				i += 2
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(body[i:])
		units = append(units, utf16.Encode([]rune{r})...)
		i += size
	}
	for i := 0; i < len(units); i++ {
		u := units[i]
		if !utf16.IsSurrogate(rune(u)) {
			continue
		}
		if u < 0xDC00 && i+1 < len(units) && units[i+1] >= 0xDC00 && units[i+1] < 0xE000 {
			i++
			continue
		}
		return false
	}
	return true
}
