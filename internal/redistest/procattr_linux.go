package redistest

import "syscall"

// nodeProcAttr makes a cluster node die with the process that started it
// (a test binary or loadbench killed before it could stop the cluster).
func nodeProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
