package health

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-zookeeper/zk"
)

// Member is one server of a ZooKeeper ensemble: the node it runs on, for messages (may be
// empty), and the address of its client port.
type Member struct {
	Node string
	Addr string
}

// String names the member for messages: "member able (10.11.11.151:2181)".
func (m Member) String() string {
	if m.Node == "" {
		return "member " + m.Addr
	}
	return fmt.Sprintf("member %s (%s)", m.Node, m.Addr)
}

// ErrNotServing is wrapped by the error of a ZooKeeper server that runs but does not serve
// requests: it has no quorum, is still syncing with its leader, or serves read-only.
var ErrNotServing = errors.New("not serving")

// errNotAllowed is a four-letter word the server's 4lw.commands.whitelist leaves out.
var errNotAllowed = errors.New("not in 4lw.commands.whitelist")

// WriteReadPath is the znode under which the write and read check creates, reads back and
// deletes an ephemeral sequential znode. It is created, once, as a persistent znode.
const WriteReadPath = "/cluster-as-code-health"

const (
	// maxAnswer bounds how much of a four-letter word's answer is read (mntr is about 20 KiB).
	maxAnswer = 1 << 20
	// zkSessionTimeout is the write and read client's session timeout; the server clamps it
	// to between 2 and 20 ticks.
	zkSessionTimeout = 10 * time.Second
)

// ZooKeeper checks an ensemble: every member serves (srvr, or mntr where only that is
// allowed), exactly leaders of them lead (standalone servers count as leaders; leaders < 1
// means 1), and, with one leader, the leader's mntr counts every other member as a synced
// follower (when mntr is allowed). With writeRead it then connects to the ensemble, creates an
// ephemeral sequential znode under WriteReadPath, reads it back and deletes it.
//
// Every member is asked on a new connection, all at once. Failures name the member and its
// address, for example `member frozen (127.0.0.1:2183): not serving (This ZooKeeper instance
// is not currently serving requests)`.
func ZooKeeper(ctx context.Context, members []Member, leaders int, writeRead bool) error {
	return zooKeeper(ctx, members, leaders, writeRead, "")
}

// zooKeeper is ZooKeeper that, when rejoined names a member's node, also requires that member
// to lead or follow.
func zooKeeper(ctx context.Context, members []Member, leaders int, writeRead bool, rejoined string) error {
	if len(members) == 0 {
		return errors.New("no ZooKeeper members")
	}
	leaders = max(leaders, 1)
	modes := make([]string, len(members))
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		wg.Go(func() {
			modes[i], errs[i] = ZooKeeperMode(ctx, m.Addr)
			if errs[i] != nil {
				errs[i] = fmt.Errorf("%s: %w", m, errs[i])
			}
		})
	}
	wg.Wait()
	if err := joinErrors(errs); err != nil {
		return err
	}

	var leading []Member
	for i, m := range members {
		if modes[i] == "leader" || modes[i] == "standalone" {
			leading = append(leading, m)
		}
		if rejoined != "" && m.Node == rejoined {
			ok := modes[i] == "leader" || modes[i] == "follower" ||
				modes[i] == "standalone" && len(members) == 1
			if !ok {
				return fmt.Errorf("%s serves as %s, not as leader or follower", m, modes[i])
			}
		}
	}
	if len(leading) != leaders {
		names := make([]string, len(leading))
		for i, m := range leading {
			names[i] = m.String()
		}
		if len(leading) == 0 {
			return fmt.Errorf("no leader among %d members, want %d", len(members), leaders)
		}
		return fmt.Errorf("%d %s among %d members (%s), want %d",
			len(leading), plural(len(leading), "leader"), len(members), strings.Join(names, ", "), leaders)
	}
	if leaders == 1 && len(members) > 1 && modes[indexOf(members, leading[0])] == "leader" {
		synced, err := zkSyncedFollowers(ctx, leading[0].Addr)
		switch {
		case errors.Is(err, errNotAllowed):
		case err != nil:
			return fmt.Errorf("%s: %w", leading[0], err)
		case synced >= 0 && synced < len(members)-1:
			return fmt.Errorf("%s leads %d synced %s, want %d",
				leading[0], synced, plural(synced, "follower"), len(members)-1)
		}
	}
	if writeRead {
		addrs := make([]string, len(members))
		for i, m := range members {
			addrs[i] = m.Addr
		}
		if err := zkWriteRead(ctx, addrs); err != nil {
			return fmt.Errorf("writing and reading a znode: %w", err)
		}
	}
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func indexOf(members []Member, m Member) int {
	for i, o := range members {
		if o == m {
			return i
		}
	}
	return -1
}

// ZooKeeperMode asks the ZooKeeper server at addr how it serves: leader, follower, standalone
// or observer (srvr, or mntr where only that is allowed). A server that runs but does not
// serve, or serves read-only, is an error wrapping ErrNotServing.
func ZooKeeperMode(ctx context.Context, addr string) (string, error) {
	answer, err := fourLetter(ctx, addr, "srvr")
	if errors.Is(err, errNotAllowed) {
		return zkModeMntr(ctx, addr)
	}
	if err != nil {
		return "", err
	}
	return parseMode("srvr", answer, "Mode:")
}

// zkModeMntr is ZooKeeperMode for a server that allows mntr but not srvr.
func zkModeMntr(ctx context.Context, addr string) (string, error) {
	answer, err := fourLetter(ctx, addr, "mntr")
	if err != nil {
		return "", err
	}
	return parseMode("mntr", answer, "zk_server_state")
}

func parseMode(word, answer, key string) (string, error) {
	mode, ok := field(answer, key)
	switch {
	case !ok:
		return "", fmt.Errorf("%s answered %s, without %s", word, quote(answer), key)
	case mode == "read-only":
		return "", fmt.Errorf("%w (read-only: no quorum)", ErrNotServing)
	case mode == "leader" || mode == "follower" || mode == "standalone" || mode == "observer":
		return mode, nil
	default:
		return "", fmt.Errorf("%w (%s says mode %q)", ErrNotServing, word, mode)
	}
}

// zkSyncedFollowers returns the zk_synced_followers of the leader at addr, or -1 when its mntr
// has none.
func zkSyncedFollowers(ctx context.Context, addr string) (int, error) {
	answer, err := fourLetter(ctx, addr, "mntr")
	if err != nil {
		return 0, err
	}
	v, ok := field(answer, "zk_synced_followers")
	if !ok {
		return -1, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("mntr: zk_synced_followers %q: %w", v, err)
	}
	return n, nil
}

// field finds "key value" or "key: value" among the lines of a four-letter word's answer.
func field(answer, key string) (string, bool) {
	sc := bufio.NewScanner(strings.NewReader(answer))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok && rest != "" &&
			(rest[0] == ' ' || rest[0] == '\t' || key[len(key)-1] == ':') {
			return strings.TrimSpace(rest), true
		}
	}
	return "", false
}

// fourLetter sends a four-letter word to the server at addr on a new connection and reads the
// answer to its end. ctx bounds it (10s when ctx has no deadline); cancelling ctx ends it at
// once.
func fourLetter(ctx context.Context, addr, word string) (string, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, attemptTimeout)
		defer cancel()
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	if _, err := io.WriteString(conn, word); err != nil {
		return "", fmt.Errorf("%s: %w", word, ctxErr(ctx, err))
	}
	data, err := io.ReadAll(io.LimitReader(conn, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("%s: %w", word, ctxErr(ctx, err))
	}
	answer := string(data)
	switch {
	case strings.Contains(answer, "not currently serving requests"):
		return "", fmt.Errorf("%w (%s)", ErrNotServing, strings.TrimSpace(answer))
	case strings.Contains(answer, "not in the whitelist"), strings.Contains(answer, "not in the allow list"):
		return "", fmt.Errorf("%s: %w", word, errNotAllowed)
	case strings.TrimSpace(answer) == "":
		return "", fmt.Errorf("%s: empty answer", word)
	}
	return answer, nil
}

// ctxErr prefers ctx's error to the one a closed connection or its deadline (ctx's) gave.
func ctxErr(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w (%v)", ctx.Err(), err)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}

// quote shows at most 200 bytes of an answer.
func quote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 200 {
		return strconv.Quote(s[:200]) + "…"
	}
	return strconv.Quote(s)
}

// zkWriteRead creates an ephemeral sequential znode under WriteReadPath through a client of the
// ensemble, reads it back and deletes it. The client is closed, and its goroutines have ended,
// when it returns; only when ctx ends first does the client finish closing in the background,
// within about a second.
func zkWriteRead(ctx context.Context, addrs []string) error {
	d := newZKDialer()
	logs := &zkLog{}
	conn, events, err := zk.Connect(addrs, zkSessionTimeout,
		zk.WithDialer(d.dial), zk.WithLogger(logs), zk.WithLogInfo(false))
	if err != nil {
		d.shutdown()
		return err
	}
	done := make(chan error, 1)
	go func() { done <- writeReadOn(conn) }()
	select {
	case err := <-done:
		conn.Close()
		d.shutdown()
		drain(events)
		return err
	case <-ctx.Done():
		last := logs.last() // before the shutdown adds its own complaints
		// Cutting the connections first makes the client give up at once.
		d.shutdown()
		go func() {
			conn.Close()
			drain(events)
			<-done
		}()
		if last != "" {
			return fmt.Errorf("%w (client: %s)", ctx.Err(), last)
		}
		return ctx.Err()
	}
}

func writeReadOn(conn *zk.Conn) error {
	acl := zk.WorldACL(zk.PermAll)
	if _, err := conn.Create(WriteReadPath, nil, zk.FlagPersistent, acl); err != nil && !errors.Is(err, zk.ErrNodeExists) {
		return fmt.Errorf("creating %s: %w", WriteReadPath, err)
	}
	want := rand.Text()
	path, err := conn.Create(WriteReadPath+"/check-", []byte(want), zk.FlagEphemeralSequential, acl)
	if err != nil {
		return fmt.Errorf("creating %s/check-: %w", WriteReadPath, err)
	}
	got, _, err := conn.Get(path)
	if err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	if string(got) != want {
		return fmt.Errorf("reading %s: got %q, want %q", path, got, want)
	}
	if err := conn.Delete(path, -1); err != nil {
		return fmt.Errorf("deleting %s: %w", path, err)
	}
	return nil
}

// drain reads a client's events until the client's last goroutine closes the channel.
func drain(events <-chan zk.Event) {
	for range events {
	}
}

// zkDialer dials for one ZooKeeper client and can cut every connection it made, so that the
// client's goroutines end without waiting for a server.
type zkDialer struct {
	ctx    context.Context
	cancel context.CancelFunc
	mu     sync.Mutex
	conns  []net.Conn
}

func newZKDialer() *zkDialer {
	ctx, cancel := context.WithCancel(context.Background())
	return &zkDialer{ctx: ctx, cancel: cancel}
}

func (d *zkDialer) dial(network, addr string, timeout time.Duration) (net.Conn, error) {
	nd := net.Dialer{Timeout: timeout}
	c, err := nd.DialContext(d.ctx, network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx.Err() != nil {
		c.Close()
		return nil, d.ctx.Err()
	}
	d.conns = append(d.conns, c)
	return c, nil
}

// shutdown refuses further dials and closes every connection.
func (d *zkDialer) shutdown() {
	d.cancel()
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
	d.conns = nil
}

// zkLog keeps the client library's last message, for the error when the client gets nowhere.
type zkLog struct {
	mu  sync.Mutex
	msg string
}

func (l *zkLog) Printf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.msg = fmt.Sprintf(format, args...)
}

func (l *zkLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.msg
}
