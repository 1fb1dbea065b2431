//go:build !linux

package redistest

import "syscall"

// nodeProcAttr is nil where the kernel cannot kill a child with its parent.
func nodeProcAttr() *syscall.SysProcAttr { return nil }
