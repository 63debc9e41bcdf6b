package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when told. Each After call is
// announced on waits, so a test knows when the scheduler went to sleep and
// for how long.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []fakeTimer
	waits  chan time.Duration
}

type fakeTimer struct {
	at time.Time
	ch chan time.Time
}

func newFakeClock(at time.Time) *fakeClock {
	return &fakeClock{now: at, waits: make(chan time.Duration, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	ch := make(chan time.Time, 1)
	c.timers = append(c.timers, fakeTimer{c.now.Add(d), ch})
	c.mu.Unlock()
	c.waits <- d
	return ch
}

// Advance moves the clock on by d and fires the timers that are due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
		} else {
			kept = append(kept, t)
		}
	}
	c.timers = kept
}

// nextWait waits (with a deadline) for the scheduler to go to sleep and
// returns for how long it sleeps.
func (c *fakeClock) nextWait(t *testing.T) time.Duration {
	t.Helper()
	select {
	case d := <-c.waits:
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("scheduler did not go back to sleep within 20s")
		return 0
	}
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func clockedStore(t *testing.T, c *fakeClock) *Store {
	t.Helper()
	o := testOpts()
	o.Now = c.Now
	s, err := Open(t.TempDir(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	mustAppend(t, s, mustCreate(t, s), Immediate, linear("a", 0, 20)...)
	return s
}

// logBuffer is a slog destination tests can read while the scheduler writes.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// mustScheduler is NewScheduler, failing the test on an error.
func mustScheduler(t *testing.T, s *Store, sink Sink, o SchedulerOptions) *Scheduler {
	t.Helper()
	sc, err := NewScheduler(s, sink, o)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func startScheduler(t *testing.T, sc *Scheduler) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if why := notCanceled(done); why != "" {
			t.Errorf("Run %s", why)
		}
	})
}

// notCanceled says what is wrong unless done yields context.Canceled
// within 20s ("" when it does).
func notCanceled(done <-chan error) string {
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			return fmt.Sprintf("returned %v, want context.Canceled", err)
		}
		return ""
	case <-time.After(20 * time.Second):
		return "did not return within 20s of its context ending"
	}
}

func backupNames(t *testing.T, sink Sink) []string {
	t.Helper()
	objs, err := sink.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		out = append(out, o.Name)
	}
	return out
}

func TestSchedulerTakesBackupsEvery(t *testing.T) {
	c := newFakeClock(t0)
	s := clockedStore(t, c)
	sink := &DirSink{Dir: t.TempDir()}
	var logs logBuffer
	var mu sync.Mutex
	var progress []Progress
	o := DefaultSchedulerOptions()
	o.Every, o.Clock = time.Hour, c
	o.Retention = Retention{KeepLast: 2}
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	o.Progress = func(p Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() }
	sc := mustScheduler(t, s, sink, o)
	if err := sc.Healthy(); err != nil {
		t.Fatalf("healthy before the first backup: %v", err)
	}
	startScheduler(t, sc)

	// No backup in the sink: the first is taken at once, then one an hour.
	if d := c.nextWait(t); d != time.Hour {
		t.Fatalf("after the first backup the scheduler sleeps %s, want 1h", d)
	}
	if got := backupNames(t, sink); len(got) != 1 || got[0] != backupName(t0, "") {
		t.Fatalf("first backup: %v", got)
	}
	st := sc.Status()
	if !st.LastSuccess.Equal(t0) || st.LastBackup.Name != backupName(t0, "") || st.Failures != 0 || !st.Next.Equal(t0.Add(time.Hour)) || st.Running {
		t.Fatalf("status after the first backup: %+v", st)
	}
	mu.Lock()
	if len(progress) == 0 || progress[len(progress)-1].Entries != st.LastBackup.Entries {
		t.Fatalf("progress %v, backup %+v", progress, st.LastBackup)
	}
	mu.Unlock()

	// 59 minutes: not yet (the scheduler is still asleep, so the clock
	// moving fires nothing).
	c.Advance(59 * time.Minute)
	if got := backupNames(t, sink); len(got) != 1 {
		t.Fatalf("backup before the hour: %v", got)
	}
	c.Advance(time.Minute)
	if d := c.nextWait(t); d != time.Hour {
		t.Fatalf("sleeps %s, want 1h", d)
	}
	for i := 2; i <= 4; i++ {
		c.Advance(time.Hour)
		if d := c.nextWait(t); d != time.Hour {
			t.Fatalf("sleeps %s, want 1h", d)
		}
	}
	// Four more hours, five backups; retention (keep the last 2) ran after
	// each.
	want := []string{backupName(t0.Add(3*time.Hour), ""), backupName(t0.Add(4*time.Hour), "")}
	if got := backupNames(t, sink); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("after 5 backups keeping 2: %v, want %v", got, want)
	}
	if st := sc.Status(); st.Pruned != 3 || st.PruneError != nil {
		t.Fatalf("status: %+v", st)
	}
	if n := strings.Count(logs.String(), "backup written"); n != 5 {
		t.Fatalf("%d 'backup written' log lines, want 5:\n%s", n, logs.String())
	}
}

func TestSchedulerFirstBackupFollowsTheNewestInTheSink(t *testing.T) {
	c := newFakeClock(t0)
	s := clockedStore(t, c)
	sink := &DirSink{Dir: t.TempDir()}
	if _, err := s.Backup(context.Background(), sink, nil); err != nil {
		t.Fatal(err)
	}
	c.Advance(10 * time.Minute)
	o := DefaultSchedulerOptions()
	o.Every, o.Clock = time.Hour, c
	sc := mustScheduler(t, s, sink, o)
	startScheduler(t, sc)
	if d := c.nextWait(t); d != 50*time.Minute {
		t.Fatalf("a backup 10 minutes old: first wait %s, want 50m", d)
	}
	if got := backupNames(t, sink); len(got) != 1 {
		t.Fatalf("a backup was taken before it was due: %v", got)
	}
}

// flakySink fails Create while broken is set.
type flakySink struct {
	DirSink
	mu     sync.Mutex
	broken bool
}

func (f *flakySink) setBroken(b bool) { f.mu.Lock(); f.broken = b; f.mu.Unlock() }

func (f *flakySink) Create(ctx context.Context, name string) (SinkWriter, error) {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return nil, errors.New("disk on fire")
	}
	return f.DirSink.Create(ctx, name)
}

func TestSchedulerRetriesAndReportsFailures(t *testing.T) {
	c := newFakeClock(t0)
	s := clockedStore(t, c)
	sink := &flakySink{DirSink: DirSink{Dir: t.TempDir()}, broken: true}
	var logs logBuffer
	o := DefaultSchedulerOptions()
	o.Every, o.RetryAfter, o.Clock = time.Hour, 5*time.Minute, c
	o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	sc := mustScheduler(t, s, sink, o)
	startScheduler(t, sc)
	for i := 1; i <= 2; i++ {
		if d := c.nextWait(t); d != 5*time.Minute {
			t.Fatalf("after failure %d the scheduler sleeps %s, want the 5m retry", i, d)
		}
		st := sc.Status()
		if st.Failures != i || st.LastError == nil || !strings.Contains(st.LastError.Error(), "disk on fire") || !st.LastSuccess.IsZero() {
			t.Fatalf("status after failure %d: %+v", i, st)
		}
		if err := sc.Healthy(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("Healthy after failure %d: %v", i, err)
		}
		if i == 1 {
			c.Advance(5 * time.Minute)
		}
	}
	if !strings.Contains(logs.String(), "backup failed") || !strings.Contains(logs.String(), "disk on fire") {
		t.Fatalf("failure not logged:\n%s", logs.String())
	}
	sink.setBroken(false)
	c.Advance(5 * time.Minute)
	if d := c.nextWait(t); d != time.Hour {
		t.Fatalf("after a success the scheduler sleeps %s, want 1h", d)
	}
	st := sc.Status()
	if st.Failures != 0 || !st.LastSuccess.Equal(t0.Add(10*time.Minute)) || !st.LastErrorAt.Equal(t0.Add(5*time.Minute)) {
		t.Fatalf("status after recovery: %+v", st)
	}
	if err := sc.Healthy(); err != nil {
		t.Fatalf("Healthy after recovery: %v", err)
	}
	// Two intervals and the retry time without a success: unhealthy.
	sink.setBroken(true)
	c.Advance(time.Hour)
	c.nextWait(t)
	if err := sc.Healthy(); err == nil {
		t.Fatal("healthy right after a failed backup")
	}
}

// gateSink holds every backup's first write until release is closed, and
// records how many backups were being written at once.
type gateSink struct {
	DirSink
	release  chan struct{}
	entered  chan struct{} // receives when a writer blocks on the gate
	mu       sync.Mutex
	active   int
	maxAct   int
	creates  int
	gateOnce sync.Once
}

func (g *gateSink) Create(ctx context.Context, name string) (SinkWriter, error) {
	w, err := g.DirSink.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	g.mu.Lock()
	g.creates++
	g.active++
	g.maxAct = max(g.maxAct, g.active)
	g.mu.Unlock()
	return &gateWriter{SinkWriter: w, g: g}, nil
}

type gateWriter struct {
	SinkWriter
	g      *gateSink
	passed bool
}

func (w *gateWriter) Write(p []byte) (int, error) {
	if !w.passed {
		w.passed = true
		w.g.entered <- struct{}{}
		<-w.g.release
	}
	return w.SinkWriter.Write(p)
}

func (w *gateWriter) done() { w.g.mu.Lock(); w.g.active--; w.g.mu.Unlock() }
func (w *gateWriter) Commit() error {
	defer w.done()
	return w.SinkWriter.Commit()
}
func (w *gateWriter) Abort() error { defer w.done(); return w.SinkWriter.Abort() }

func TestSchedulerOneBackupAtATime(t *testing.T) {
	c := newFakeClock(t0)
	s := clockedStore(t, c)
	sink := &gateSink{DirSink: DirSink{Dir: t.TempDir()}, release: make(chan struct{}), entered: make(chan struct{}, 4)}
	o := DefaultSchedulerOptions()
	o.Every, o.Clock = time.Hour, c
	sc := mustScheduler(t, s, sink, o)
	startScheduler(t, sc)
	select { // the scheduled backup is now held inside the sink
	case <-sink.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("scheduled backup did not start")
	}
	st := sc.Status()
	if !st.Running || !st.RunningSince.Equal(t0) || st.Progress.Entries == 0 {
		t.Fatalf("status during a backup: %+v", st)
	}
	// While it runs, an on-demand backup waits: given a context that has
	// ended, it gives up without touching the sink.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := sc.BackupNow(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("BackupNow during a backup with an ended context: %v", err)
	}
	c.Advance(time.Second) // the on-demand backup gets its own name
	done := make(chan error, 1)
	var info BackupInfo
	go func() {
		var err error
		info, err = sc.BackupNow(context.Background())
		done <- err
	}()
	close(sink.release)
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("on-demand backup did not finish")
	}
	sink.mu.Lock()
	creates, maxAct := sink.creates, sink.maxAct
	sink.mu.Unlock()
	if creates != 2 || maxAct != 1 {
		t.Fatalf("%d backups started, at most %d at once; want 2, 1", creates, maxAct)
	}
	if info.Name != backupName(t0.Add(time.Second), "") {
		t.Fatalf("on-demand backup %q", info.Name)
	}
	if got := backupNames(t, sink); len(got) != 2 {
		t.Fatalf("backups: %v", got)
	}
}

func TestSchedulerOptionsValidate(t *testing.T) {
	s := clockedStore(t, newFakeClock(t0))
	for _, tc := range []struct {
		name string
		mod  func(*SchedulerOptions)
		sink Sink
	}{
		{"interval under a second", func(o *SchedulerOptions) { o.Every = time.Millisecond }, &DirSink{Dir: t.TempDir()}},
		{"no retry interval", func(o *SchedulerOptions) { o.RetryAfter = 0 }, &DirSink{Dir: t.TempDir()}},
		{"negative retention", func(o *SchedulerOptions) { o.Retention.KeepLast = -1 }, &DirSink{Dir: t.TempDir()}},
		{"retention on a sink that cannot delete", func(*SchedulerOptions) {}, readOnlySink{&DirSink{Dir: t.TempDir()}}},
	} {
		o := DefaultSchedulerOptions()
		tc.mod(&o)
		if _, err := NewScheduler(s, tc.sink, o); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	o := DefaultSchedulerOptions()
	o.Retention = Retention{}
	if _, err := NewScheduler(s, readOnlySink{&DirSink{Dir: t.TempDir()}}, o); err != nil {
		t.Errorf("no retention on a read-only sink: %v", err)
	}
}

// readOnlySink hides DirSink's Delete.
type readOnlySink struct{ d *DirSink }

func (r readOnlySink) Create(ctx context.Context, name string) (SinkWriter, error) {
	return r.d.Create(ctx, name)
}
func (r readOnlySink) List(ctx context.Context) ([]SinkObject, error) { return r.d.List(ctx) }
func (r readOnlySink) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return r.d.Open(ctx, name)
}

func TestSchedulerCancelledBackupIsNotAFailure(t *testing.T) {
	c := newFakeClock(t0)
	s := bigStore(t, c, 3<<20) // big enough that the first write comes mid-backup
	sink := &gateSink{DirSink: DirSink{Dir: t.TempDir()}, release: make(chan struct{}), entered: make(chan struct{}, 4)}
	var logs logBuffer
	o := DefaultSchedulerOptions()
	o.Clock, o.Logger = c, slog.New(slog.NewTextHandler(&logs, nil))
	sc := mustScheduler(t, s, sink, o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := sc.BackupNow(ctx); done <- err }()
	select {
	case <-sink.entered:
	case <-time.After(20 * time.Second):
		t.Fatal("backup did not start")
	}
	cancel()
	close(sink.release)
	if why := notCanceled(done); why != "" {
		t.Fatalf("cancelled backup %s", why)
	}
	if st := sc.Status(); st.Failures != 0 || st.LastError != nil || st.Running {
		t.Fatalf("status after a cancelled backup: %+v", st)
	}
	if err := sc.Healthy(); err != nil {
		t.Fatalf("unhealthy after a cancelled backup: %v", err)
	}
	if got := backupNames(t, sink); len(got) != 0 {
		t.Fatalf("a cancelled backup left %v", got)
	}
	if !strings.Contains(logs.String(), "backup cancelled") {
		t.Fatalf("log:\n%s", logs.String())
	}
}

func TestSchedulerNamesItsSink(t *testing.T) {
	s := clockedStore(t, newFakeClock(t0))
	o := DefaultS3Options()
	o.AccessKey, o.SecretKey, o.Endpoint = "a", "b", "http://127.0.0.1:9"
	s3, err := NewS3Sink("s3://bucket/relay", o)
	if err != nil {
		t.Fatal(err)
	}
	for want, sink := range map[string]Sink{"/backups/here": &DirSink{Dir: "/backups/here"}, "s3://bucket/relay/": s3} {
		sc := mustScheduler(t, s, sink, DefaultSchedulerOptions())
		if got := sc.Status().Sink; got != want {
			t.Errorf("sink named %q, want %q", got, want)
		}
	}
}
