//go:build !linux

package servertest

import "syscall"

// SysProcAttr puts a server in a process group of its own, which its package kills as a whole.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
