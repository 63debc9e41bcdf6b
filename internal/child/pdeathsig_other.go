//go:build !linux

package child

import "os/exec"

func setParentDeathSignal(*exec.Cmd) {}
