package obs

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// CheckFunc checks one thing: nil when healthy. Its details (may be nil)
// go into the report either way and must encode as JSON. It should return
// when ctx ends (its timeout).
type CheckFunc func(ctx context.Context) (details any, err error)

// Simple makes a CheckFunc without details.
func Simple(f func(ctx context.Context) error) CheckFunc {
	return func(ctx context.Context) (any, error) { return nil, f(ctx) }
}

// CheckOptions configure one check. The zero value takes the defaults.
type CheckOptions struct {
	// Timeout bounds one run; a check that has not answered by then is
	// reported failing (and joined, not restarted, by the next request
	// while it still runs). Default 5 s.
	Timeout time.Duration
	// Every reuses a result this long before running the check again, for
	// expensive checks. Default 0: every request runs the check
	// (concurrent requests share one run).
	Every time.Duration
}

// HealthOptions configure a Health. Start from DefaultHealthOptions.
type HealthOptions struct {
	// Logger receives a line when a check starts failing and when it
	// recovers. Default: discard.
	Logger *slog.Logger
	// Now is the clock of results and of CheckOptions.Every. Default
	// time.Now.
	Now func() time.Time
}

// DefaultHealthOptions returns the defaults documented on HealthOptions.
func DefaultHealthOptions() HealthOptions { return HealthOptions{Now: time.Now} }

// Report is the result of running every check: the body of /readyz.
type Report struct {
	// Status is "ok" when every check passed, else "unhealthy".
	Status string                 `json:"status"`
	Checks map[string]CheckResult `json:"checks"`
}

// Report statuses.
const (
	StatusOK        = "ok"
	StatusUnhealthy = "unhealthy"
)

// CheckResult is one check's outcome.
type CheckResult struct {
	OK     bool    `json:"ok"`
	TookMS float64 `json:"took_ms"`
	// Error says what is wrong (one line), when not OK.
	Error string `json:"error,omitempty"`
	// Details are what the check reported (see CheckFunc).
	Details any `json:"details,omitempty"`
	// At is when the run that gave this result started.
	At time.Time `json:"at"`
}

// Healthy reports whether every check passed.
func (r Report) Healthy() bool { return r.Status == StatusOK }

// Failing returns the names of the checks that failed, sorted.
func (r Report) Failing() []string {
	var out []string
	for name, c := range r.Checks {
		if !c.OK {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// Health runs named checks. It is safe for concurrent use.
type Health struct {
	opts HealthOptions
	log  *slog.Logger

	hideDocs atomic.Bool // see HideDocs

	mu     sync.Mutex
	checks map[string]*check
}

// HideDocs makes every later report name no document: document IDs and
// topic names (both 32 hexadecimal digits standing alone) in each check's
// error and details become "(document)". For a /readyz served to others
// (a relay's).
func (h *Health) HideDocs() { h.hideDocs.Store(true) }

// NewHealth makes a Health with no checks (it reports "ok").
func NewHealth(opts HealthOptions) *Health {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Health{opts: opts, log: opts.Logger, checks: map[string]*check{}}
}

var checkName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

// maxErrorLen bounds a check's error message in a report.
const maxErrorLen = 1024

// Add adds a check. Names are 1–32 of [a-z0-9_], starting with a letter,
// and unique.
func (h *Health) Add(name string, f CheckFunc, opts CheckOptions) error {
	switch {
	case !checkName.MatchString(name):
		return fmt.Errorf("%w: check name %q: want 1-32 of [a-z0-9_], starting with a letter", ErrOptions, name)
	case f == nil:
		return fmt.Errorf("%w: check %q has no function", ErrOptions, name)
	case opts.Timeout < 0 || opts.Every < 0:
		return fmt.Errorf("%w: check %q: negative Timeout or Every", ErrOptions, name)
	}
	if opts.Timeout == 0 {
		opts.Timeout = 5 * time.Second
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.checks[name]; ok {
		return fmt.Errorf("%w: check %q added twice", ErrOptions, name)
	}
	h.checks[name] = &check{name: name, f: f, opts: opts, h: h, wasOK: true}
	return nil
}

// Check runs every check at once and reports. It returns when all have
// answered or timed out, or when ctx ends (the checks not done by then are
// reported failing).
func (h *Health) Check(ctx context.Context) Report {
	h.mu.Lock()
	cs := make([]*check, 0, len(h.checks))
	for _, c := range h.checks {
		cs = append(cs, c)
	}
	h.mu.Unlock()
	results := make([]CheckResult, len(cs))
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.result(ctx)
		}()
	}
	wg.Wait()
	rep := Report{Status: StatusOK, Checks: make(map[string]CheckResult, len(cs))}
	for i, c := range cs {
		if h.hideDocs.Load() {
			results[i] = hideDocs(results[i])
		}
		rep.Checks[c.name] = results[i]
		if !results[i].OK {
			rep.Status = StatusUnhealthy
		}
	}
	return rep
}

// docName matches what names a document: its ID or its topic's hash, 32
// hexadecimal digits standing alone.
var docName = regexp.MustCompile(`\b[0-9a-fA-F]{32}\b`)

// hidden stands for a document's name in a report that names none.
const hidden = "(document)"

// hideDocs returns r with every document's name replaced by "(document)":
// in the error, and in the details as JSON (they are then the JSON they
// encode to, re-read).
func hideDocs(r CheckResult) CheckResult {
	r.Error = docName.ReplaceAllString(r.Error, hidden)
	if r.Details != nil {
		b, err := json.Marshal(r.Details)
		if err != nil {
			r.Details = "obs: encoding the details: " + docName.ReplaceAllString(err.Error(), hidden)
			return r
		}
		r.Details = json.RawMessage(docName.ReplaceAll(b, []byte(hidden)))
	}
	return r
}

// check is one named check and its latest result.
type check struct {
	name string
	f    CheckFunc
	opts CheckOptions
	h    *Health

	mu      sync.Mutex
	running chan struct{} // non-nil while a run is in flight; closed when it ends
	last    CheckResult
	has     bool
	wasOK   bool
}

// result returns a fresh enough result, running the check (or joining the
// run in flight) when needed.
func (c *check) result(ctx context.Context) CheckResult {
	now := c.h.opts.Now
	c.mu.Lock()
	if c.has && c.opts.Every > 0 && now().Sub(c.last.At) < c.opts.Every {
		r := c.last
		c.mu.Unlock()
		return r
	}
	if c.running == nil {
		c.running = make(chan struct{})
		go c.run(c.running)
	}
	done := c.running
	c.mu.Unlock()

	start := now()
	t := time.NewTimer(c.opts.Timeout)
	defer t.Stop()
	var why string
	select {
	case <-done:
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.last
	case <-t.C:
		why = fmt.Sprintf("no answer within %s", c.opts.Timeout)
	case <-ctx.Done():
		why = fmt.Sprintf("not done when the request ended (%v)", ctx.Err())
	}
	r := CheckResult{Error: why, TookMS: ms(now().Sub(start)), At: start}
	c.note(r)
	return r
}

// run runs the check once and records its result.
func (c *check) run(done chan struct{}) {
	now := c.h.opts.Now
	start := now()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.Timeout)
	details, err := c.call(ctx)
	cancel()
	r := CheckResult{OK: err == nil, TookMS: ms(now().Sub(start)), Details: details, At: start}
	if err != nil {
		r.Error = oneLine(err.Error())
	}
	c.note(r)
	c.mu.Lock()
	c.last, c.has, c.running = r, true, nil
	c.mu.Unlock()
	close(done)
}

// call runs the function; a panic is a failure, not a crash.
func (c *check) call(ctx context.Context) (details any, err error) {
	defer func() {
		if p := recover(); p != nil {
			details, err = nil, fmt.Errorf("the check panicked: %v", p)
		}
	}()
	return c.f(ctx)
}

// note logs a change between passing and failing.
func (c *check) note(r CheckResult) {
	c.mu.Lock()
	changed := c.wasOK != r.OK
	c.wasOK = r.OK
	c.mu.Unlock()
	switch {
	case changed && !r.OK:
		c.h.log.Warn("health check failing", "check", c.name, "err", r.Error)
	case changed:
		c.h.log.Info("health check passing again", "check", c.name)
	}
}

func ms(d time.Duration) float64 { return float64(max(d, 0)) / float64(time.Millisecond) }

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "") + "…"
	}
	return s
}

// Watch runs every check each interval until ctx ends, so that failures
// are logged (and checks that measure time between runs stay current)
// even when nobody asks /readyz.
func (h *Health) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			h.Check(ctx)
		}
	}
}
