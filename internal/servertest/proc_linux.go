package servertest

import "syscall"

// SysProcAttr puts a server in a process group of its own, which its package kills as a whole,
// and has the kernel kill it should the test binary die without cleaning up.
func SysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
