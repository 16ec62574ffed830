// Package etcdtest starts a real etcd for one test — a single member (Start) or a cluster of
// several (StartCluster) — on free ports of 127.0.0.1, with data and logs in the test's
// temporary directory.
//
// It needs Debian's etcd-server package (/usr/bin/etcd, etcd 3.4). Where it is missing the test
// is skipped, except under CI (the CI environment variable is set), where it fails.
package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/servertest"
)

// ErrUnhealthy is wrapped by a start's error when the server ran but did not become healthy in
// time.
var ErrUnhealthy = errors.New("not healthy")

// command is the etcd server, found on PATH.
const command = "etcd"

// readyTimeout bounds how long a start waits for /health; etcd answers within a second.
const readyTimeout = 30 * time.Second

// Server is one etcd member: a single-member etcd from Start, or a member of a Cluster. Its
// methods are safe for concurrent use.
type Server struct {
	dir        string
	name       string
	clientAddr string
	peerAddr   string
	// initialCluster is --initial-cluster; empty means the server alone.
	initialCluster string

	op      sync.Mutex // serialises Start and Stop
	mu      sync.Mutex // guards the fields below
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // cmd.Wait's result, valid once exited is closed
}

// Installed reports whether etcd is on PATH, and if not, why.
func Installed() error {
	if _, err := exec.LookPath(command); err != nil {
		return fmt.Errorf("%s not found (apt-get install etcd-server): %w", command, err)
	}
	return nil
}

// Start starts a fresh etcd for t and waits until GET /health answers {"health":"true"}. The
// server's process group is killed when t and its subtests finish; if t failed, the tail of
// its log is logged first. Start skips t when etcd is not installed, or fails it under CI.
func Start(t testing.TB) *Server {
	t.Helper()
	servertest.Require(t, "etcdtest", Installed())
	s := &Server{dir: t.TempDir(), name: "etcdtest"}
	// Registered before the server starts: it runs before t.TempDir removes the directory.
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(s.LogTail())
		}
		s.kill()
	})

	// A port that was free a moment ago may be taken before etcd binds it; then try others.
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		var ports []int
		if ports, err = servertest.FreePorts(2); err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		s.clientAddr = fmt.Sprintf("127.0.0.1:%d", ports[0])
		s.peerAddr = fmt.Sprintf("127.0.0.1:%d", ports[1])
		if err = s.Start(); err == nil {
			return s
		}
		if !strings.Contains(s.readLog(), "address already in use") {
			break
		}
		_ = os.RemoveAll(filepath.Join(s.dir, "data"))
		_ = os.Remove(s.LogPath())
	}
	t.Fatalf("etcdtest: %v\n%s", err, s.LogTail())
	return nil
}

// ClientAddr is where clients connect: 127.0.0.1:PORT.
func (s *Server) ClientAddr() string { return s.clientAddr }

// URL is the client URL: http://127.0.0.1:PORT.
func (s *Server) URL() string { return "http://" + s.clientAddr }

// LogPath is the server's log.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "etcd.log") }

// Name is the member's name (--name).
func (s *Server) Name() string { return s.name }

// PeerURL is the member's peer URL: http://127.0.0.1:PORT.
func (s *Server) PeerURL() string { return "http://" + s.peerAddr }

// DataDir is the member's data directory.
func (s *Server) DataDir() string { return filepath.Join(s.dir, "data") }

// Start starts the server (again, on its data and ports) with --initial-cluster-state new and
// waits until it is healthy. Starting a running server is an error.
func (s *Server) Start() error { return s.StartState("new", readyTimeout) }

// StartExisting starts the server with --initial-cluster-state existing — how a member that
// was added to a running cluster (etcdctl member add) first starts — and waits until it is
// healthy.
func (s *Server) StartExisting() error { return s.StartState("existing", readyTimeout) }

// StartState starts the server with --initial-cluster-state state ("new" or "existing") and
// waits up to timeout for it to become healthy; zero means 30s. A server that is not healthy
// by then is killed and the error says so.
func (s *Server) StartState(state string, timeout time.Duration) error {
	if timeout <= 0 {
		timeout = readyTimeout
	}
	s.op.Lock()
	defer s.op.Unlock()
	s.mu.Lock()
	running := s.cmd != nil
	if running {
		select {
		case <-s.exited: // it ended on its own: start it again
			running, s.cmd = false, nil
		default:
		}
	}
	s.mu.Unlock()
	if running {
		return errors.New("etcdtest: the server already runs")
	}

	out, err := os.OpenFile(s.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	defer out.Close()
	client, peer := "http://"+s.clientAddr, "http://"+s.peerAddr
	initial := s.initialCluster
	if initial == "" {
		initial = s.name + "=" + peer
	}
	cmd := exec.Command(command,
		"--name", s.name,
		"--data-dir", s.DataDir(),
		"--listen-client-urls", client,
		"--advertise-client-urls", client,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", initial,
		"--initial-cluster-state", state,
		"--initial-cluster-token", "etcdtest",
		"--logger", "zap",
		"--log-outputs", "stderr",
	)
	cmd.Dir = s.dir
	cmd.Env = cleanEnv()
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = servertest.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("etcdtest: starting %s: %w", command, err)
	}
	exited := make(chan struct{})
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	go func() {
		err := cmd.Wait()
		s.mu.Lock()
		s.waitErr = err
		s.mu.Unlock()
		close(exited)
	}()

	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	hc := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if healthy(ctx, hc, s.URL()+"/health") {
			return nil
		}
		select {
		case <-exited:
			s.mu.Lock()
			s.cmd = nil
			err := s.waitErr
			s.mu.Unlock()
			return fmt.Errorf("etcdtest: %s exited before it was healthy: %v", command, err)
		case <-ctx.Done():
			s.signal(syscall.SIGKILL)
			return fmt.Errorf("etcdtest: %w: GET %s/health did not answer {\"health\":\"true\"} within %v", ErrUnhealthy, s.URL(), timeout)
		case <-tick.C:
		}
	}
}

func healthy(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode == http.StatusOK && strings.Contains(string(body), `"health":"true"`)
}

// Stop stops the server with SIGTERM and waits for it to end (SIGKILL after 10 s). Stopping a
// stopped server does nothing.
func (s *Server) Stop() {
	s.op.Lock()
	defer s.op.Unlock()
	s.signal(syscall.SIGTERM)
}

// Wipe deletes the member's data directory, as re-imaging its machine would. The server must be
// stopped.
func (s *Server) Wipe() error {
	s.mu.Lock()
	running := s.cmd != nil
	if running {
		select {
		case <-s.exited:
			running = false
		default:
		}
	}
	s.mu.Unlock()
	if running {
		return errors.New("etcdtest: wiping a running server")
	}
	if err := os.RemoveAll(s.DataDir()); err != nil {
		return fmt.Errorf("etcdtest: %w", err)
	}
	return nil
}

// kill ends the server's process group at once.
func (s *Server) kill() {
	s.op.Lock()
	defer s.op.Unlock()
	s.signal(syscall.SIGKILL)
}

// signal ends the server's process group with sig and waits for it; the caller holds s.op.
func (s *Server) signal(sig syscall.Signal) {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	servertest.EndGroup(cmd.Process.Pid, sig, exited)
}

func (s *Server) readLog() string {
	data, _ := os.ReadFile(s.LogPath())
	return string(data)
}

// LogTail is the last lines of the server's log, for failure messages.
func (s *Server) LogTail() string {
	return "etcd log (" + s.LogPath() + "), last lines:\n" + servertest.Tail(s.readLog(), 30)
}

// cleanEnv is the test's environment without the ETCD_* variables etcd would read as flags.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") && !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return env
}
