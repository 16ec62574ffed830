//go:build !linux

package etcdtest

import "syscall"

// sysProcAttr puts the server in a process group of its own, which Stop kills as a whole.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
