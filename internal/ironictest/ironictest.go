// Package ironictest starts a real OpenStack Ironic for one test: standalone (no Keystone, no
// message bus), API and conductor in one process, the fake-hardware driver, an SQLite database,
// listening on a free port of 127.0.0.1, all in the test's temporary directory.
//
// It needs Debian's ironic-common package (the ironic and ironic-dbsync commands). Where they are
// missing the test is skipped, except under CI (the CI environment variable is set), where it
// fails. scripts/ironic.sh starts the same server by hand.
package ironictest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/servertest"
)

// Options shape the fake hardware of the server. The fake driver sleeps for whole seconds only,
// so each delay must be a whole number of seconds; zero means no delay.
type Options struct {
	// DeployDelay is how long each fake deploy operation sleeps (prepare, deploy, tear down,
	// clean up): a deploy or rebuild runs at least two of them.
	DeployDelay time.Duration
	// PowerDelay is how long each fake power operation sleeps (get, set, reboot). Of the
	// provisioning steps only manage (which validates power) waits for it; the fake deploy
	// never touches power.
	PowerDelay time.Duration
	// BootDelay is how long each fake boot operation sleeps (prepare and clean up ramdisk).
	// The fake deploy calls none, so deploys and rebuilds do not wait for it.
	BootDelay time.Duration
	// ReadyTimeout bounds how long Start waits for the API to answer; zero means 60s. On this
	// kind of machine it answers within about 1.5 s.
	ReadyTimeout time.Duration
}

// Server is a running standalone Ironic. Its methods are not safe for concurrent use.
type Server struct {
	dir     string
	config  string
	port    int
	url     string
	opts    Options
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // cmd.Wait's result, valid once exited is closed
}

// Commands are the programs Start runs, found on PATH.
const (
	serverCommand = "ironic"        // API and conductor in one process
	dbsyncCommand = "ironic-dbsync" // creates the database schema
)

// Installed reports whether the Ironic commands are on PATH, and if not, why.
func Installed() error {
	for _, name := range []string{serverCommand, dbsyncCommand} {
		if _, err := exec.LookPath(name); err != nil {
			return fmt.Errorf("%s not found (apt-get install ironic-common): %w", name, err)
		}
	}
	return nil
}

// Start starts a fresh Ironic for t and waits until its API answers. The server is stopped, its
// whole process group killed, when t and its subtests finish. Start skips t when Ironic is not
// installed, or fails it under CI.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	servertest.Require(t, "ironictest", Installed())
	for name, d := range map[string]time.Duration{
		"DeployDelay": opts.DeployDelay, "PowerDelay": opts.PowerDelay, "BootDelay": opts.BootDelay,
	} {
		if d < 0 || d%time.Second != 0 {
			t.Fatalf("ironictest: Options.%s = %v: the fake driver takes whole seconds only", name, d)
		}
	}

	s := &Server{dir: t.TempDir(), opts: opts}
	s.config = filepath.Join(s.dir, "ironic.conf")
	// Ironic reads every file in its default config directories (/etc/ironic/ironic.conf.d)
	// unless given one; this empty one keeps the machine's configuration out.
	for _, d := range []string{"conf.d", "tmp"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o755); err != nil {
			t.Fatalf("ironictest: %v", err)
		}
	}
	// Registered before the server starts: it runs before t.TempDir removes the directory.
	t.Cleanup(s.stop)

	// A port that was free a moment ago may be taken before Ironic binds it; then try another.
	var err error
	for attempt := 1; attempt <= 5; attempt++ {
		ports, perr := servertest.FreePorts(1)
		if perr != nil {
			t.Fatalf("ironictest: %v", perr)
		}
		s.port = ports[0]
		s.url = fmt.Sprintf("http://127.0.0.1:%d", s.port)
		if err = os.WriteFile(s.config, []byte(Config(s.dir, s.port, opts)), 0o644); err != nil {
			t.Fatalf("ironictest: %v", err)
		}
		if attempt == 1 {
			s.dbsync(t)
		}
		if err = s.start(); err == nil {
			return s
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
		_ = os.Remove(s.LogPath())
	}
	t.Fatalf("ironictest: %v\n%s", err, s.logTail())
	return nil
}

// URL is the base URL of the API, without a trailing slash: http://127.0.0.1:PORT.
func (s *Server) URL() string { return s.url }

// LogPath is the server's log file.
func (s *Server) LogPath() string { return filepath.Join(s.dir, "ironic.log") }

// Dir is the directory that holds the configuration, the database and the logs.
func (s *Server) Dir() string { return s.dir }

// Restart stops the server and starts it again on the same database, configuration and port,
// as after a crash of the machine that runs it. Nodes in a transient state (deploying, …) are
// left as a real conductor would leave them: taken over or failed on start-up.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.stop()
	if err := s.start(); err != nil {
		t.Fatalf("ironictest: restarting: %v\n%s", err, s.logTail())
	}
}

// Kill ends the server at once with SIGKILL, without letting it finish its work; Restart
// brings it back. It is how a test simulates a crash of Ironic itself.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

var errPortTaken = errors.New("port taken")

func (s *Server) dbsync(t testing.TB) {
	t.Helper()
	out, err := exec.Command(dbsyncCommand, s.args("create_schema")...).CombinedOutput()
	if err != nil {
		t.Fatalf("ironictest: %s create_schema: %v\n%s", dbsyncCommand, err, out)
	}
}

func (s *Server) args(extra ...string) []string {
	return append([]string{
		"--config-file", s.config,
		"--config-dir", filepath.Join(s.dir, "conf.d"),
	}, extra...)
}

// start runs the server and waits until GET /v1 answers 200.
func (s *Server) start() error {
	out, err := os.OpenFile(filepath.Join(s.dir, "stdout.log"),
		os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(serverCommand, s.args()...)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = servertest.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", serverCommand, err)
	}
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()

	timeout := s.opts.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if ready(ctx, client, s.url+"/v1") {
			return nil
		}
		select {
		case <-s.exited:
			s.cmd = nil
			if strings.Contains(s.readLogs(), "Address already in use") {
				return fmt.Errorf("%w: %d", errPortTaken, s.port)
			}
			return fmt.Errorf("%s exited before its API answered: %v", serverCommand, s.waitErr)
		case <-ctx.Done():
			s.stop()
			return fmt.Errorf("GET %s/v1 did not answer 200 within %v", s.url, timeout)
		case <-tick.C:
		}
	}
}

// ready reports whether GET url answers 200.
func ready(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// stop ends the server's process group: SIGTERM, then SIGKILL after 10 s. Ironic needs a
// second or two to stop cleanly.
func (s *Server) stop() {
	if s.cmd == nil {
		return
	}
	servertest.EndGroup(s.cmd.Process.Pid, syscall.SIGTERM, s.exited)
	s.cmd = nil
}

func (s *Server) readLogs() string {
	var b strings.Builder
	for _, name := range []string{"stdout.log", "ironic.log"} {
		data, err := os.ReadFile(filepath.Join(s.dir, name))
		if err == nil {
			b.Write(data)
		}
	}
	return b.String()
}

// logTail is the last lines of the server's output and log, for failure messages.
func (s *Server) logTail() string {
	return "ironic log (" + s.LogPath() + "), last lines:\n" + servertest.Tail(s.readLogs(), 40)
}

// Config renders the ironic.conf of a server in dir listening on 127.0.0.1:port. It is the
// configuration that scripts/ironic.sh writes too; keep the two in step.
func Config(dir string, port int, opts Options) string {
	secs := func(d time.Duration) int { return int(d / time.Second) }
	return fmt.Sprintf(`[DEFAULT]
# Standalone: no Keystone, no message bus (API and conductor talk in-process).
auth_strategy = noauth
rpc_transport = none
host = cac-test
enabled_hardware_types = fake-hardware
enabled_bios_interfaces = fake
enabled_boot_interfaces = fake
enabled_console_interfaces = fake
enabled_deploy_interfaces = fake
enabled_inspect_interfaces = fake
enabled_management_interfaces = fake
enabled_power_interfaces = fake
enabled_raid_interfaces = fake
enabled_rescue_interfaces = fake
enabled_vendor_interfaces = fake
enabled_network_interfaces = noop
enabled_storage_interfaces = noop
default_network_interface = noop
state_path = %[1]s
tempdir = %[1]s/tmp
log_dir = %[1]s
log_file = ironic.log
use_stderr = false

[api]
host_ip = 127.0.0.1
port = %[2]d

[conductor]
# provide goes straight from manageable to available.
automated_clean = false

[database]
connection = sqlite:///%[1]s/ironic.sqlite

[dhcp]
dhcp_provider = none

[fake]
deploy_delay = %[3]d
power_delay = %[4]d
boot_delay = %[5]d

[oslo_concurrency]
lock_path = %[1]s/tmp
`, dir, port, secs(opts.DeployDelay), secs(opts.PowerDelay), secs(opts.BootDelay))
}
