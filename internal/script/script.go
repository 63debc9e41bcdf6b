// Package script runs weft's scripted tests: text files of commands, each
// followed by its expected output, that read like a story (crdt's
// testdata/script, replica's testdata/step). A file is a sequence of
// commands; comment (#) and blank lines are kept as they are; a command's
// expected output follows it after a line "----" and ends at the next
// blank line. With rewrite, the expected outputs are replaced by what the
// commands print.
package script

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Entry is one command of a script file with its expected output.
type Entry struct {
	Line     int    // 1-based line of the command
	Cmd      string // the command line
	Want     string // expected output ("" when there is no block)
	verbatim string // comment and blank lines before the command
}

// Parse reads a script; trailer is what follows the last command.
func Parse(data string) (entries []Entry, trailer string, err error) {
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	var verbatim strings.Builder
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(strings.TrimSpace(l), "#") {
			verbatim.WriteString(l + "\n")
			continue
		}
		if l == "----" {
			return nil, "", fmt.Errorf("line %d: ---- without a command", i+1)
		}
		e := Entry{Line: i + 1, Cmd: l, verbatim: verbatim.String()}
		verbatim.Reset()
		if i+1 < len(lines) && lines[i+1] == "----" {
			i += 2
			var out []string
			for ; i < len(lines) && lines[i] != ""; i++ {
				out = append(out, lines[i])
			}
			e.Want = strings.Join(out, "\n")
		}
		entries = append(entries, e)
	}
	return entries, verbatim.String(), nil
}

// Format writes entries back with outputs as their expected outputs.
func Format(entries []Entry, outputs []string, trailer string) string {
	var b strings.Builder
	for i, e := range entries {
		b.WriteString(e.verbatim)
		b.WriteString(e.Cmd + "\n")
		if outputs[i] != "" {
			b.WriteString("----\n" + outputs[i] + "\n\n")
		}
	}
	b.WriteString(trailer)
	return strings.TrimRight(b.String(), "\n") + "\n"
}

// Run runs every command of file through exec, in order, and fails t
// where an output differs from the expected one; with rewrite it writes
// the outputs into the file instead. An error from exec stops the file.
func Run(t *testing.T, file string, rewrite bool, exec func(cmd string) (string, error)) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	entries, trailer, err := Parse(string(data))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	outputs := make([]string, len(entries))
	for i, e := range entries {
		out, err := exec(e.Cmd)
		if err != nil {
			t.Fatalf("%s:%d: %s\n%v", file, e.Line, e.Cmd, err)
		}
		outputs[i] = out
		if !rewrite && out != e.Want {
			t.Errorf("%s:%d: %s\ngot:\n%s\nwant:\n%s", file, e.Line, e.Cmd, out, e.Want)
		}
	}
	if rewrite {
		if err := os.WriteFile(file, []byte(Format(entries, outputs, trailer)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
