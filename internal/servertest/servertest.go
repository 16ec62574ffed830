// Package servertest holds what the packages that start real servers for tests (ironictest,
// zktest, etcdtest) share: skipping where the server is not installed (failing under CI),
// free loopback ports, a process group of its own for each server, and the end of a log for
// failure messages.
package servertest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Require skips t when installed is an error, the server missing, except under CI (the CI
// environment variable is set), where missing servers fail the test: CI installs them.
func Require(t testing.TB, what string, installed error) {
	t.Helper()
	if installed == nil {
		return
	}
	if os.Getenv("CI") != "" {
		t.Fatalf("%s: %v", what, installed)
	}
	t.Skipf("%s: %v", what, installed)
}

// FreePorts returns n distinct loopback TCP ports that nothing listens on right now.
func FreePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close() // held until all are found, so that none repeats
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Tail is the last n lines of text.
func Tail(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// EndGroup ends the process group a server leads (pid, started with SysProcAttr): sig, then
// SIGKILL if exited is not closed within 10 s; whatever outlived the leader in its group goes
// too. exited is closed once the leader has been waited for.
func EndGroup(pid int, sig syscall.Signal, exited <-chan struct{}) {
	_ = syscall.Kill(-pid, sig)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		<-exited
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
}
