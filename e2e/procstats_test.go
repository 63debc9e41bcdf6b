package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// What a child process costs, read from /proc (Linux only; the tests run
// as root, which /proc/<pid>/io and clear_refs of another process need):
// resident memory (VmRSS, and VmHWM, its peak, which writing "5" to
// clear_refs resets), CPU time (utime + stime, in clock ticks), and bytes
// sent to the storage layer (write_bytes).

// procStats is one reading of a process's counters.
type procStats struct {
	rss, hwm   int64 // bytes
	cpu        time.Duration
	writeBytes int64 // bytes this process caused to be written to storage
}

// clockTick is the length of a /proc/<pid>/stat tick: 1/sysconf(_SC_CLK_TCK)
// s, from getconf (100 Hz when it cannot be asked; Linux's USER_HZ).
var clockTick = sync.OnceValue(func() time.Duration {
	hz := 100
	if out, err := exec.Command("getconf", "CLK_TCK").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			hz = n
		}
	}
	return time.Second / time.Duration(hz)
})

func readProcStats(pid int) (procStats, error) {
	var s procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 3 && f[2] == "kB" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				s.rss = n << 10
			case "VmHWM:":
				s.hwm = n << 10
			}
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// pid (comm) state ppid … : fields after the command's closing
	// parenthesis, state first; utime and stime are the 14th and 15th
	// fields of the line.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return s, fmt.Errorf("/proc/%d/stat: utime %q, stime %q", pid, f[11], f[12])
	}
	s.cpu = time.Duration(ut+st) * clockTick()
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(io), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			s.writeBytes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return s, nil
}

// resetPeak resets the process's VmHWM to its VmRSS.
func resetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// rssSampler reads a process's VmRSS every 20 ms and keeps the largest
// (VmHWM after resetPeak is the exact peak; the samples check it).
type rssSampler struct {
	once  sync.Once
	stopC chan struct{}
	done  chan struct{}
	max   int64
}

func sampleRSS(pid int) *rssSampler {
	r := &rssSampler{stopC: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			if s, err := readProcStats(pid); err == nil && s.rss > r.max {
				r.max = s.rss
			}
			select {
			case <-r.stopC:
				return
			case <-t.C:
			}
		}
	}()
	return r
}

func (r *rssSampler) stop() int64 {
	r.once.Do(func() { close(r.stopC) })
	<-r.done
	return r.max
}

// dirBytes is the space the files under dir take on disk (allocated
// blocks, so sparse preallocated files count what they use).
func dirBytes(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		if fi, err := d.Info(); err == nil {
			if st, ok := fi.Sys().(*syscall.Stat_t); ok {
				n += st.Blocks * 512
			}
		}
		return nil
	})
	return n
}

var bytesReceivedRE = regexp.MustCompile(`bytes_received:(\d+)`)

// tcpBytesReceived sums what the established TCP connections on local
// port port have received (ss's tcp_info); connections closed meanwhile
// are not counted, so the caller keeps them open until it has read this.
func tcpBytesReceived(port int) (int64, error) {
	out, err := exec.Command("ss", "-Htin", "state", "established", fmt.Sprintf("( sport = :%d )", port)).Output()
	if err != nil {
		return 0, fmt.Errorf("ss: %v", err)
	}
	var n int64
	for _, m := range bytesReceivedRE.FindAllSubmatch(out, -1) {
		v, _ := strconv.ParseInt(string(m[1]), 10, 64)
		n += v
	}
	return n, nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
