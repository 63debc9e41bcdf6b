package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"weft/ui"
)

// Bounds on what the client reads from the daemon.
const (
	maxReplyBytes = 64 << 20 // a JSON reply
	maxTextBytes  = 1 << 30  // a document's text
)

// apiClient talks to the daemon of one data directory through its API.
type apiClient struct {
	dir   string
	base  string
	token string
	hc    *http.Client
}

// noDaemon is the error every client command gives when nothing answers.
func noDaemon(dir string) error {
	return withCode(1, fmt.Errorf("no daemon is running for data directory %s (start one with `weft daemon`)", dir))
}

// dialDaemon finds the daemon of the --data directory (default: the
// default data directory) through its api.json. It does not connect yet.
func dialDaemon(data string) (*apiClient, error) {
	dir, err := dataDirFlag(data)
	if err != nil {
		return nil, withCode(2, err)
	}
	info, err := readAPIInfo(dir)
	if errors.Is(err, errNoAPIInfo) {
		return nil, noDaemon(dir)
	}
	if err != nil {
		return nil, withCode(1, err)
	}
	tr := &http.Transport{
		Proxy:               nil, // the daemon is on this machine; never a proxy
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &apiClient{
		dir:   dir,
		base:  strings.TrimSuffix(info.API, "/"),
		token: info.Token,
		hc: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}, nil
}

// apiReplyError is an error reply from the daemon.
type apiReplyError struct {
	Status int
	Reply  ui.ErrorReply
	msg    string
}

func (e *apiReplyError) Error() string { return e.msg }

// send sends a request with the token and reads the reply's body (at most
// limit bytes; what names it in errors) whatever its status. Every error is
// ready to print (one line) and carries exit status 1.
func (c *apiClient) send(ctx context.Context, method, path string, body any, limit int64, what string) (*http.Response, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, nil, withCode(1, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, nil, withCode(1, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, noDaemon(c.dir)
		}
		return nil, nil, withCode(1, fmt.Errorf("cannot reach the daemon at %s: %s", c.base, oneLine(err.Error())))
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, nil, withCode(1, fmt.Errorf("reading the daemon's %s: %s", what, oneLine(err.Error())))
	}
	if int64(len(b)) > limit {
		return nil, nil, withCode(1, fmt.Errorf("the daemon's %s is larger than %d bytes", what, limit))
	}
	return resp, b, nil
}

// do sends a request and returns the reply's body (at most limit bytes)
// if its status is 2xx. Every error is ready to print (one line) and
// carries exit status 1.
func (c *apiClient) do(ctx context.Context, method, path string, body any, limit int64) ([]byte, error) {
	resp, b, err := c.send(ctx, method, path, body, limit, "reply")
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 {
		return b, nil
	}
	e := &apiReplyError{Status: resp.StatusCode}
	if json.Unmarshal(b, &e.Reply) != nil || e.Reply.Error == "" {
		e.Reply = ui.ErrorReply{Error: fmt.Sprintf("the daemon at %s answered %s", c.base, resp.Status)}
	}
	switch e.Reply.Code {
	case "unknown_doc":
		e.msg = e.Reply.Error
		if rest, ok := strings.CutPrefix(path, "/api/docs/"); ok {
			id, _, _ := strings.Cut(rest, "/")
			e.msg = "unknown document " + id
		}
	case "unauthorized":
		e.msg = fmt.Sprintf("the daemon at %s refused the token in %s/%s (%s); is the file stale?", c.base, c.dir, apiInfoName, e.Reply.Error)
	default:
		e.msg = e.Reply.Error
	}
	e.msg = oneLine(e.msg)
	return nil, withCode(1, e)
}

// call sends body (nil: none) as JSON and decodes the JSON reply into out
// (nil: ignore it).
func (c *apiClient) call(ctx context.Context, method, path string, body, out any) error {
	b, err := c.do(ctx, method, path, body, maxReplyBytes)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return withCode(1, fmt.Errorf("the daemon's reply to %s %s is malformed: %v", method, path, err))
	}
	return nil
}

// text returns a document's text, exactly.
func (c *apiClient) text(ctx context.Context, id string) (string, error) {
	b, err := c.do(ctx, "GET", "/api/docs/"+id+"/text", nil, maxTextBytes)
	return string(b), err
}

// oneLine keeps a message to one line on stderr.
func oneLine(s string) string { return lineBreaks.Replace(s) }

var lineBreaks = strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ")
