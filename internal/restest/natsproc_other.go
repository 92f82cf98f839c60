//go:build !linux

package restest

import "os/exec"

// setPdeathsig does nothing outside Linux.
func setPdeathsig(*exec.Cmd) {}
