//go:build !linux

package ironictest

import "syscall"

// sysProcAttr puts the server in a process group of its own, which stop kills as a whole.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
