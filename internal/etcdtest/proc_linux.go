package etcdtest

import "syscall"

// sysProcAttr puts the server in a process group of its own, which Stop kills as a whole, and has
// the kernel kill it should the test binary die without cleaning up.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
