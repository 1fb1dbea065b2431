package main

import (
	"os/exec"
	"syscall"
)

// terminate is the signal that asks an engine to shut down.
var terminate = syscall.SIGTERM

// setDeathSignal has the kernel kill the engine if loadbench itself dies
// without stopping it (SIGKILL, a crash).
func setDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
