package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"weft/api"
	"weft/replica"
	"weft/ui"
	"weft/vocab"
)

// Import, export and delete of whole documents (issue 13).

func docExportCmd(data *string) *cobra.Command {
	var at, out string
	c := &cobra.Command{
		Use:   "export ID [--at VERSION] [-o FILE]",
		Short: "Write a document's text, exactly, to stdout or FILE",
		Long: `Write a document's text exactly as it is (its bytes: a byte-order mark,
CR LF line ends, no newline added) to stdout, or to FILE with -o (written
beside it and renamed into place, so FILE is never half written). --at
names a past version (as 'weft doc log' prints it).`,
		Args: nArgs("ID"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			id := a.docID(args[0])
			a.text("--at", at)
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			path := "/api/docs/" + id + "/export"
			if at != "" {
				path += "?at=" + url.QueryEscape(at)
			}
			b, err := cl.do(c.Context(), "GET", path, nil, maxTextBytes)
			if err != nil {
				return err
			}
			if out == "" {
				_, err = c.OutOrStdout().Write(b)
				return err
			}
			return writeFileAtomic(out, b)
		},
	}
	c.Flags().StringVar(&at, "at", "", "the version to export (default: now)")
	c.Flags().StringVarP(&out, "output", "o", "", "write to FILE instead of stdout")
	return c
}

// writeFileAtomic writes b to path through a temporary file in the same
// directory, synced and renamed into place.
func writeFileAtomic(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return withCode(1, fmt.Errorf("doc export: %v", err))
	}
	defer os.Remove(f.Name())
	if _, err = f.Write(b); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return withCode(1, fmt.Errorf("doc export: writing %s: %v", path, err))
	}
	return nil
}

func docImportCmd(data *string) *cobra.Command {
	var title string
	var progress bool
	c := &cobra.Command{
		Use:   "import FILE [--title T]",
		Short: "Make a new document of a UTF-8 text file and print its ID",
		Long: fmt.Sprintf(`Make a new members-only document holding FILE's text exactly (a byte-order
mark, CR LF line ends and all) and print its ID. FILE must be UTF-8 (a
file that is not is refused, naming the byte offset of the first invalid
sequence) and at most %d MiB. It is streamed to the daemon, which stores
it in chunks of 1 MiB, each its own edit; progress is printed on stderr
when it is a terminal (--progress). A failed import leaves no document.
--title defaults to the file's name without its extension; - reads stdin.`, replica.MaxImportBytes>>20),
		Args: nArgs("FILE"),
		RunE: func(c *cobra.Command, args []string) error {
			a := &docArgs{c: c}
			file := args[0]
			if !c.Flags().Changed("title") && file != "-" {
				title = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
			}
			a.text("--title", title)
			if err := vocab.CheckTitle(title); err != nil {
				a.check(false, "--title: %v", err)
			}
			var in io.Reader
			var size int64 = -1
			if a.err == nil {
				if file == "-" {
					in = c.InOrStdin()
				} else {
					f, err := os.Open(file)
					if err != nil {
						return usageErr(c, "%v", err)
					}
					defer f.Close()
					if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
						size = st.Size()
						if size > replica.MaxImportBytes {
							return usageErr(c, "%s is %d bytes; at most %d (%d MiB) can be imported", file, size, replica.MaxImportBytes, replica.MaxImportBytes>>20)
						}
						if off, err := firstInvalidUTF8(f); err != nil {
							return withCode(1, fmt.Errorf("doc import: reading %s: %v", file, err))
						} else if off >= 0 {
							return withCode(1, fmt.Errorf("doc import: %s is not UTF-8: invalid byte sequence at byte %d", file, off))
						}
						if _, err := f.Seek(0, io.SeekStart); err != nil {
							return withCode(1, fmt.Errorf("doc import: %s: %v", file, err))
						}
					}
					in = f
				}
			}
			if !c.Flags().Changed("progress") {
				progress = isTerminal(c.ErrOrStderr())
			}
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			if progress {
				in = &progressReader{r: in, w: c.ErrOrStderr(), size: size, every: 500 * time.Millisecond}
			}
			var info api.DocInfo
			if err := cl.stream(c.Context(), "POST", "/api/docs/import?title="+url.QueryEscape(title), "text/plain; charset=utf-8", in, &info); err != nil {
				return err
			}
			if p, ok := in.(*progressReader); ok {
				p.report(true)
			}
			fmt.Fprintln(c.OutOrStdout(), info.ID)
			return nil
		},
	}
	c.Flags().StringVar(&title, "title", "", "the document's title (default: the file's name)")
	c.Flags().BoolVar(&progress, "progress", false, "print progress on stderr (default: when stderr is a terminal)")
	return c
}

// firstInvalidUTF8 reads r to its end and returns the offset of its first
// invalid UTF-8 sequence (-1: none).
func firstInvalidUTF8(r io.Reader) (int64, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	buf := make([]byte, 1<<20)
	var total int64
	have := 0
	for {
		n, err := br.Read(buf[have:])
		have += n
		final := err == io.EOF
		if err != nil && !final {
			return -1, err
		}
		ok, bad := replica.ValidUTF8Prefix(buf[:have], final)
		if bad >= 0 {
			return total + int64(bad), nil
		}
		total += int64(ok)
		have = copy(buf, buf[ok:have])
		if final {
			return -1, nil
		}
	}
}

// progressReader prints how much of an upload was read, at most every
// `every`.
type progressReader struct {
	r     io.Reader
	w     io.Writer
	size  int64 // -1: unknown
	n     int64
	every time.Duration
	last  time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	p.report(false)
	return n, err
}

func (p *progressReader) report(final bool) {
	now := time.Now()
	if !final && now.Sub(p.last) < p.every {
		return
	}
	p.last = now
	if p.size > 0 {
		fmt.Fprintf(p.w, "import: %d/%d bytes (%d%%)\n", p.n, p.size, p.n*100/p.size)
	} else {
		fmt.Fprintf(p.w, "import: %d bytes\n", p.n)
	}
}

// stream sends body (of content type ct) as it reads it, and decodes the
// JSON reply into out.
func (c *apiClient) stream(ctx context.Context, method, path, ct string, body io.Reader, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return withCode(1, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", ct)
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return noDaemon(c.dir)
		}
		return withCode(1, fmt.Errorf("cannot reach the daemon at %s: %s", c.base, oneLine(err.Error())))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxReplyBytes))
	if err != nil {
		return withCode(1, fmt.Errorf("reading the daemon's reply: %s", oneLine(err.Error())))
	}
	if resp.StatusCode/100 != 2 {
		var r ui.ErrorReply
		if json.Unmarshal(b, &r) != nil || r.Error == "" {
			r.Error = fmt.Sprintf("the daemon at %s answered %s", c.base, resp.Status)
		}
		return withCode(1, &apiReplyError{Status: resp.StatusCode, Reply: r, msg: oneLine(r.Error)})
	}
	if err := json.Unmarshal(b, out); err != nil {
		return withCode(1, fmt.Errorf("the daemon's reply to %s %s is malformed: %v", method, path, err))
	}
	return nil
}

func docDeleteCmd(data *string) *cobra.Command {
	var yes bool
	text := docDeleteTextCmd(data)
	c := &cobra.Command{
		Use:   "delete ID [--yes] | delete ID POS LEN",
		Short: "Delete a document from this device (or, with POS LEN, delete text)",
		Long: `weft doc delete ID deletes a document from this device: it leaves the
document's topics, stops its replica and removes everything of it from the
store (text, history, snapshot, membership and keys). When this device is
the document's admin, or its last member (no other device holds a role
that reads, and no invite that gives one is outstanding, as far as this
device's membership records say), it first asks the relays it reaches
that host the document to drop it (a request signed by this device, which
each relay checks). Other members keep their copies.

It asks for confirmation on a terminal; --yes skips it (for scripts).
Without a terminal and without --yes it refuses.

weft doc delete ID POS LEN deletes LEN code points at position POS.`,
		Args: func(c *cobra.Command, args []string) error {
			switch len(args) {
			case 1:
				return nil
			case 3:
				if yes {
					return usageErr(c, "--yes is for deleting a document (one argument), not text")
				}
				return nil
			}
			return usageErr(c, "want ID (delete the document) or ID POS LEN (delete text), got %s", plural(len(args), "argument", "arguments"))
		},
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 3 {
				text.SetContext(c.Context())
				text.SetOut(c.OutOrStdout())
				text.SetErr(c.ErrOrStderr())
				return text.RunE(c, args)
			}
			a := &docArgs{c: c}
			id := a.docID(args[0])
			cl := a.dial(*data)
			if a.err != nil {
				return a.err
			}
			if !yes {
				f, ok := c.InOrStdin().(*os.File)
				if !ok || !isTTY(f) {
					return usageErr(c, "deleting a document needs --yes when stdin is not a terminal")
				}
				var info api.DocStatus
				if err := cl.call(c.Context(), "GET", "/api/docs/"+id+"/status", nil, &info); err != nil {
					return err
				}
				fmt.Fprintf(c.ErrOrStderr(), "Delete document %s (%s, %d characters) from this device? Type yes: ", id, displayTitle(info.Title), info.Chars)
				line, _ := bufio.NewReader(f).ReadString('\n')
				if strings.TrimSpace(line) != "yes" {
					return withCode(1, errors.New("doc delete: not confirmed; nothing deleted"))
				}
			}
			var res api.DeleteResult
			if err := cl.call(c.Context(), "DELETE", "/api/docs/"+id+"?confirm="+url.QueryEscape(ui.ConfirmDelete(id)), nil, &res); err != nil {
				return err
			}
			fmt.Fprintf(c.ErrOrStderr(), "deleted %s; relays: %s\n", id, res.Asked)
			for _, r := range res.Relays {
				fmt.Fprintf(c.ErrOrStderr(), "  relay %s: %s\n", r.Peer, r.Result)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&yes, "yes", false, "delete without asking (for scripts)")
	return c
}

// isTTY reports whether f is a terminal (not merely a character device
// such as /dev/null): a confirmation is asked only of a person.
func isTTY(f *os.File) bool {
	return term.IsTerminal(int(f.Fd()))
}
