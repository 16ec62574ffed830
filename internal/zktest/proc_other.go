//go:build !linux

package zktest

import "syscall"

// sysProcAttr puts a member in a process group of its own, which Stop kills as a whole.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
