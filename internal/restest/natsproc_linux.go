package restest

import (
	"os/exec"
	"syscall"
)

// setPdeathsig kills the child when the test process dies, so that a
// crashed or killed test leaves no nats-server behind.
func setPdeathsig(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
