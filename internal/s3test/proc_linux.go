package s3test

import (
	"os/exec"
	"syscall"
)

// setDeathSignal kills the server if the test binary dies first.
func setDeathSignal(c *exec.Cmd) {
	c.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
