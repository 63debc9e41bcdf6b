package s3test

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"
)

// The kernel's parent-death signal fires when the thread that started the
// child exits, not the process; Go may end threads. So every server is
// started from one goroutine locked to its thread for good, and then dies
// with the test binary (SIGKILL) and not before.
var (
	spawnOnce sync.Once
	spawnCh   = make(chan spawnReq)
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

func startCmd(c *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	r := spawnReq{cmd: c, err: make(chan error, 1)}
	spawnCh <- r
	return <-r.err
}
