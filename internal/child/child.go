package child

import (
	"os/exec"
	"runtime"
	"sync"
)

var (
	spawnOnce sync.Once
	spawnCh   = make(chan spawnReq)

	mu      sync.Mutex
	running = map[*exec.Cmd]bool{}
)

type spawnReq struct {
	cmd *exec.Cmd
	err chan error
}

// Start starts cmd as Cmd.Start does, with the parent-death signal set
// where the platform has it, and remembers it until Forget.
func Start(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		go func() {
			runtime.LockOSThread() // never unlocked: the thread lives as long as the process
			for r := range spawnCh {
				r.err <- r.cmd.Start()
			}
		}()
	})
	setParentDeathSignal(cmd)
	r := spawnReq{cmd: cmd, err: make(chan error, 1)}
	spawnCh <- r
	if err := <-r.err; err != nil {
		return err
	}
	mu.Lock()
	running[cmd] = true
	mu.Unlock()
	return nil
}

// Forget drops cmd, which has exited (call it after Cmd.Wait), from what
// KillAll kills.
func Forget(cmd *exec.Cmd) {
	mu.Lock()
	delete(running, cmd)
	mu.Unlock()
}

// KillAll kills every child started and not forgotten.
func KillAll() {
	mu.Lock()
	defer mu.Unlock()
	for c := range running {
		if c.Process != nil {
			_ = c.Process.Kill()
		}
	}
}
