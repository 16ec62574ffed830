// Package zktest starts a real ZooKeeper ensemble for one test: every member a
// `zkServer.sh start-foreground` process of its own on free ports of 127.0.0.1, with its
// configuration, data and log in the test's temporary directory, tuned so that elections and
// syncs take a fraction of a second.
//
// A test stops and starts members to act out a rolling re-provisioning, and asks the ensemble
// afterwards how many members were ever down at once (MaxDown).
//
// It needs Debian's zookeeper package (/usr/share/zookeeper/bin/zkServer.sh, OpenJDK). Where it
// is missing the test is skipped, except under CI (the CI environment variable is set), where it
// fails.
package zktest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/health"
	"github.com/cluster-as-code/cluster-as-code/internal/servertest"
)

// Timing of the ensemble, written to every zoo.cfg. A tick of 200 ms lets a follower sync
// within 5 s (initLimit) and be dropped after 2 s of silence (syncLimit): fast elections, yet
// room for three JVMs on two busy cores.
const (
	TickTime  = 200 * time.Millisecond
	InitLimit = 25 // ticks
	SyncLimit = 10 // ticks
)

// readyTimeout bounds how long Start waits for the ensemble to serve with one leader. Three
// JVMs starting at once on two cores take about 2 s.
const readyTimeout = 90 * time.Second

// Member is one server of the ensemble.
type Member struct {
	// ID is the server's myid, from 1; member i of Members has ID i+1.
	ID int
	// ClientAddr is where clients connect: 127.0.0.1:PORT.
	ClientAddr string
	// QuorumAddr and ElectionAddr are the ports the members talk to each other on.
	QuorumAddr   string
	ElectionAddr string
	// Dir holds the member's zoo.cfg, data directory and log.
	Dir string
}

// LogPath is the member's log: the output of zkServer.sh and ZooKeeper's own log lines.
func (m Member) LogPath() string { return filepath.Join(m.Dir, "zookeeper.log") }

// Ensemble is a running ZooKeeper ensemble. Its methods are safe for concurrent use; a test may
// restart a member while another goroutine watches the ensemble.
type Ensemble struct {
	server  string // zkServer.sh
	jvm     string // JVMFLAGS
	members []*member

	mu      sync.Mutex // guards the fields below and every member's process fields
	maxDown int
}

type member struct {
	Member
	op sync.Mutex // serialises Start and Stop of this member

	// Guarded by Ensemble.mu.
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error         // cmd.Wait's result, valid once exited is closed
	serving bool          // seen serving since it was last started
}

// serverScript finds zkServer.sh: on PATH (an upstream tarball's bin/), else where Debian puts it.
func serverScript() (string, error) {
	if p, err := exec.LookPath("zkServer.sh"); err == nil {
		return p, nil
	}
	const debian = "/usr/share/zookeeper/bin/zkServer.sh"
	if _, err := os.Stat(debian); err != nil {
		return "", fmt.Errorf("zkServer.sh not found on PATH nor at %s (apt-get install zookeeper)", debian)
	}
	if _, err := exec.LookPath("java"); err != nil {
		return "", fmt.Errorf("java not found (apt-get install zookeeper brings default-jre-headless): %w", err)
	}
	return debian, nil
}

// Installed reports whether ZooKeeper is installed, and if not, why.
func Installed() error {
	_, err := serverScript()
	return err
}

// Start starts an ensemble of members servers (1 runs standalone) and waits until every member
// serves and exactly one leads. The members' process groups are killed when t and its subtests
// finish; if t failed, the tail of every member's log is logged first. Start skips t when
// ZooKeeper is not installed, or fails it under CI.
func Start(t testing.TB, members int) *Ensemble {
	t.Helper()
	server, err := serverScript()
	servertest.Require(t, "zktest", err)
	if members < 1 {
		t.Fatalf("zktest: an ensemble needs at least one member, not %d", members)
	}
	e := &Ensemble{server: server, jvm: jvmFlags()}
	dir := t.TempDir()
	for i := range members {
		m := &member{Member: Member{ID: i + 1, Dir: filepath.Join(dir, fmt.Sprintf("member%d", i+1))}}
		if err := os.MkdirAll(filepath.Join(m.Dir, "data"), 0o755); err != nil {
			t.Fatalf("zktest: %v", err)
		}
		e.members = append(e.members, m)
	}
	// Registered before any member starts: it runs before t.TempDir removes the directory.
	t.Cleanup(func() {
		if t.Failed() {
			for i := range e.members {
				t.Log(e.LogTail(i))
			}
		}
		e.killAll()
	})

	// A port that was free a moment ago may be taken before ZooKeeper binds it; then try others.
	for attempt := 1; ; attempt++ {
		err = e.launch()
		if err == nil {
			return e
		}
		e.killAll()
		if !errors.Is(err, errPortTaken) || attempt == 5 {
			break
		}
		for _, m := range e.members {
			_ = os.Remove(m.LogPath())
		}
	}
	var tails []string
	for i := range e.members {
		tails = append(tails, e.LogTail(i))
	}
	t.Fatalf("zktest: starting %d members: %v\n%s", members, err, strings.Join(tails, "\n"))
	return nil
}

var errPortTaken = errors.New("port taken")

// launch picks ports, writes every zoo.cfg, starts every member and waits for a leader.
func (e *Ensemble) launch() error {
	ports, err := servertest.FreePorts(3 * len(e.members))
	if err != nil {
		return err
	}
	for i, m := range e.members {
		m.ClientAddr = fmt.Sprintf("127.0.0.1:%d", ports[3*i])
		m.QuorumAddr = fmt.Sprintf("127.0.0.1:%d", ports[3*i+1])
		m.ElectionAddr = fmt.Sprintf("127.0.0.1:%d", ports[3*i+2])
	}
	for _, m := range e.members {
		if err := os.WriteFile(filepath.Join(m.Dir, "data", "myid"), fmt.Appendf(nil, "%d\n", m.ID), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(m.configPath(), []byte(e.config(m)), 0o644); err != nil {
			return err
		}
		if err := e.Start(m.ID - 1); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := e.WaitReady(ctx); err != nil {
		for _, m := range e.members {
			if logHas(m.LogPath(), "Address already in use") {
				return fmt.Errorf("%w: member %d: %v", errPortTaken, m.ID, err)
			}
		}
		return err
	}
	return nil
}

func (m *member) configPath() string { return filepath.Join(m.Dir, "zoo.cfg") }

// config renders a member's zoo.cfg.
func (e *Ensemble) config(m *member) string {
	var b strings.Builder
	fmt.Fprintf(&b, `tickTime=%d
initLimit=%d
syncLimit=%d
dataDir=%s
clientPort=%s
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=mntr,ruok,srvr
# A 1 MiB transaction log instead of 64 MiB per member.
preAllocSize=1024
`, TickTime.Milliseconds(), InitLimit, SyncLimit, filepath.Join(m.Dir, "data"), port(m.ClientAddr))
	if len(e.members) > 1 {
		for _, o := range e.members {
			fmt.Fprintf(&b, "server.%d=127.0.0.1:%s:%s\n", o.ID, port(o.QuorumAddr), port(o.ElectionAddr))
		}
	}
	return b.String()
}

// jvmFlags are the JVMFLAGS of every member: a small heap, a JIT and a collector that start
// fast, and ZooKeeper's log lines on stderr (slf4j-simple) where Debian's classpath has no
// logging backend at all. zkServer.sh passes them after its own -cp, so this -cp wins.
func jvmFlags() string {
	flags := []string{
		"-Xms32m", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:-UsePerfData",
		"-Djava.net.preferIPv4Stack=true",
	}
	const jar, simple = "/usr/share/java/zookeeper.jar", "/usr/share/java/slf4j-simple.jar"
	if fileExists(jar) && fileExists(simple) {
		flags = append(flags,
			"-cp", "/etc/zookeeper/conf:"+jar+":"+simple,
			"-Dorg.slf4j.simpleLogger.showDateTime=true",
			"-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
		)
	}
	return strings.Join(flags, " ")
}

// Members returns the members, in ID order.
func (e *Ensemble) Members() []Member {
	out := make([]Member, len(e.members))
	for i, m := range e.members {
		out[i] = m.Member
	}
	return out
}

// ClientAddrs returns every member's client address, in ID order.
func (e *Ensemble) ClientAddrs() []string {
	out := make([]string, len(e.members))
	for i, m := range e.members {
		out[i] = m.ClientAddr
	}
	return out
}

// ConnectString is the ensemble as a ZooKeeper client takes it: "127.0.0.1:P1,127.0.0.1:P2,…".
func (e *Ensemble) ConnectString() string { return strings.Join(e.ClientAddrs(), ",") }

func (e *Ensemble) member(i int) (*member, error) {
	if i < 0 || i >= len(e.members) {
		return nil, fmt.Errorf("zktest: no member %d (the ensemble has %d, from 0)", i, len(e.members))
	}
	return e.members[i], nil
}

// Start starts member i (an index into Members) again, on its data and ports, and returns once
// its process runs; WaitServing waits until it serves. Starting a running member is an error.
func (e *Ensemble) Start(i int) error {
	m, err := e.member(i)
	if err != nil {
		return err
	}
	m.op.Lock()
	defer m.op.Unlock()
	e.mu.Lock()
	running := m.alive()
	e.mu.Unlock()
	if running {
		return fmt.Errorf("zktest: member %d already runs", m.ID)
	}

	out, err := os.OpenFile(m.LogPath(), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("zktest: %w", err)
	}
	defer out.Close()
	cmd := exec.Command(e.server, "start-foreground", m.configPath())
	cmd.Dir = m.Dir
	cmd.Env = append(cleanEnv(),
		"JMXDISABLE=true",
		"JVMFLAGS="+e.jvm,
		"ZOO_LOG_DIR="+m.Dir,
	)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = servertest.SysProcAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("zktest: starting member %d: %w", m.ID, err)
	}
	exited := make(chan struct{})
	e.mu.Lock()
	m.cmd, m.exited, m.serving = cmd, exited, false
	e.mu.Unlock()
	go func() {
		err := cmd.Wait()
		e.mu.Lock()
		m.waitErr = err
		e.mu.Unlock()
		close(exited)
	}()
	return nil
}

// Stop stops member i (an index into Members) with SIGTERM and waits for its process to end
// (SIGKILL after 10 s). Stopping a stopped member does nothing.
func (e *Ensemble) Stop(i int) error { return e.stop(i, syscall.SIGTERM, true) }

// Kill ends member i at once with SIGKILL, as a power loss would.
func (e *Ensemble) Kill(i int) error { return e.stop(i, syscall.SIGKILL, true) }

// stop signals member i's process group and waits for it; count says whether the stop counts
// towards MaxDown (not at clean-up).
func (e *Ensemble) stop(i int, sig syscall.Signal, count bool) error {
	m, err := e.member(i)
	if err != nil {
		return err
	}
	m.op.Lock()
	defer m.op.Unlock()
	if count {
		// A member that serves by now was up until this moment, whether or not anyone looked.
		e.refreshServing()
	}

	e.mu.Lock()
	cmd, exited := m.cmd, m.exited
	if cmd == nil {
		e.mu.Unlock()
		return nil
	}
	m.cmd, m.serving = nil, false
	if count {
		e.maxDown = max(e.maxDown, e.downLocked())
	}
	e.mu.Unlock()

	servertest.EndGroup(cmd.Process.Pid, sig, exited)
	return nil
}

// Restart stops member i and starts it again; it does not wait until the member serves.
func (e *Ensemble) Restart(i int) error {
	if err := e.Stop(i); err != nil {
		return err
	}
	return e.Start(i)
}

// Down returns how many members are down now: stopped, exited, or started again but not yet
// seen serving. Members being started are asked (srvr) whether they serve.
func (e *Ensemble) Down() int {
	e.refreshServing()
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.downLocked()
}

// MaxDown returns the most members that were ever down at once since Start returned (see
// Down): 1 for a rolling restart that waited for each member to serve again before stopping
// the next. It is counted when a member stops, after asking the members being started whether
// they serve by then.
func (e *Ensemble) MaxDown() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxDown
}

func (e *Ensemble) downLocked() int {
	n := 0
	for _, m := range e.members {
		if !m.serving || !m.alive() {
			n++
		}
	}
	return n
}

// alive reports whether m's process runs: started, not stopped, not exited. The caller holds
// Ensemble.mu.
func (m *member) alive() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.exited:
		return false
	default:
		return true
	}
}

// refreshServing asks every member that runs but was not yet seen serving whether it serves.
func (e *Ensemble) refreshServing() {
	e.mu.Lock()
	var ask []*member
	for _, m := range e.members {
		if m.cmd != nil && !m.serving {
			ask = append(ask, m)
		}
	}
	e.mu.Unlock()
	for _, m := range ask {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		mode, err := Mode(ctx, m.ClientAddr)
		cancel()
		if err == nil && mode != "" {
			e.mu.Lock()
			if m.cmd != nil {
				m.serving = true
			}
			e.mu.Unlock()
		}
	}
}

// Leader returns the index of the member that leads now (or runs standalone), or an error
// when none or several do.
func (e *Ensemble) Leader(ctx context.Context) (int, error) {
	leader := -1
	var errs []error
	for i, m := range e.members {
		mode, err := Mode(ctx, m.ClientAddr)
		if err != nil {
			errs = append(errs, fmt.Errorf("member %d: %w", m.ID, err))
			continue
		}
		if mode == "leader" || mode == "standalone" {
			if leader >= 0 {
				return -1, fmt.Errorf("members %d and %d both lead", e.members[leader].ID, m.ID)
			}
			leader = i
		}
	}
	if leader < 0 {
		return -1, fmt.Errorf("no member leads: %w", errors.Join(errs...))
	}
	return leader, nil
}

// WaitServing waits until member i serves (as leader, follower or standalone).
func (e *Ensemble) WaitServing(ctx context.Context, i int) error {
	m, err := e.member(i)
	if err != nil {
		return err
	}
	return poll(ctx, func() error {
		if err := e.exitedEarly(m); err != nil {
			return permanent{err}
		}
		_, err := Mode(ctx, m.ClientAddr)
		if err == nil {
			e.mu.Lock()
			if m.cmd != nil {
				m.serving = true
			}
			e.mu.Unlock()
		}
		return err
	})
}

// WaitReady waits until every member serves and exactly one leads.
func (e *Ensemble) WaitReady(ctx context.Context) error {
	for i := range e.members {
		if err := e.WaitServing(ctx, i); err != nil {
			return fmt.Errorf("member %d: %w", e.members[i].ID, err)
		}
	}
	return poll(ctx, func() error {
		_, err := e.Leader(ctx)
		return err
	})
}

// exitedEarly returns an error when m's process ended without Stop.
func (e *Ensemble) exitedEarly(m *member) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m.cmd == nil {
		return fmt.Errorf("member %d is stopped", m.ID)
	}
	select {
	case <-m.exited:
		return fmt.Errorf("member %d exited: %v", m.ID, m.waitErr)
	default:
		return nil
	}
}

// killAll ends every member's process group at once.
func (e *Ensemble) killAll() {
	for i := range e.members {
		_ = e.stop(i, syscall.SIGKILL, false)
	}
}

// LogTail is the last lines of member i's log, for failure messages.
func (e *Ensemble) LogTail(i int) string {
	m, err := e.member(i)
	if err != nil {
		return err.Error()
	}
	data, _ := os.ReadFile(m.LogPath())
	return fmt.Sprintf("zookeeper member %d log (%s), last lines:\n%s", m.ID, m.LogPath(), servertest.Tail(string(data), 30))
}

// Mode asks the server at addr how it serves ("leader", "follower", "standalone",
// "observer"), within 2 s: health.ZooKeeperMode. A server that runs but does not serve is an
// error.
func Mode(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return health.ZooKeeperMode(ctx, addr)
}

// permanent marks an error that polling again cannot cure.
type permanent struct{ error }

// poll calls try every 50 ms until it succeeds, fails permanently or ctx ends.
func poll(ctx context.Context, try func() error) error {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := try()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) {
			return p.error
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// cleanEnv is the test's environment without the variables zkServer.sh would take from it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "ZOO") || strings.HasPrefix(name, "JMX") ||
			strings.HasSuffix(name, "JVMFLAGS") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func logHas(path, s string) bool {
	data, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(data), s)
}
