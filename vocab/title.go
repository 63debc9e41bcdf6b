package vocab

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxTitle bounds a document title, in code points. A valid title is
// therefore at most 4*MaxTitle = 1024 bytes.
const MaxTitle = 256

// CheckTitle returns an error unless t may be a document's title: valid
// UTF-8, at most MaxTitle code points, no control characters (titles are
// shown on one line, in the editor and in a terminal). The empty title
// (untitled) is valid.
//
// Only new titles are checked: a title already stored is read as it is,
// even one an older version accepted (up to 1024 bytes, any characters);
// a peer's title that fails the check is ignored, not stored.
func CheckTitle(t string) error {
	if !utf8.ValidString(t) {
		return fmt.Errorf("title is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(t); n > MaxTitle {
		return fmt.Errorf("title is %d code points long; at most %d", n, MaxTitle)
	}
	for _, c := range t {
		if unicode.IsControl(c) {
			return fmt.Errorf("title holds control character %U", c)
		}
	}
	return nil
}
