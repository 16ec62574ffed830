package health_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/etcdtest"
	"github.com/cluster-as-code/cluster-as-code/internal/health"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/zktest"
)

// greenCluster loads the repository's green cluster and its specs.
func greenCluster(t *testing.T) (*model.Cluster, []*model.ClusterSpec) {
	t.Helper()
	repo, _, err := model.Load(context.Background(), os.DirFS("../.."))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range repo.Clusters {
		if c.Name.V == "green-cluster" {
			return c, repo.ClusterSpecs
		}
	}
	t.Fatal("no green-cluster in the repository")
	return nil, nil
}

// mesos answers like the Mesos masters and agents (/health) and Marathon (/ping) of a healthy
// cluster, with one line of text.
func mesos(t *testing.T) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
		case "/ping":
			fmt.Fprintln(w, "pong")
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// listen returns the address of a TCP listener that accepts and closes connections until the
// test ends.
func listen(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return l.Addr().String()
}

// TestGreenCluster runs the green cluster's own spec against real servers: a ZooKeeper
// ensemble, one etcd standing in for the masters' etcd, and an HTTP server and a TCP listener
// for Mesos, Marathon and Mesos-DNS.
func TestGreenCluster(t *testing.T) {
	cluster, specs := greenCluster(t)
	ensemble := zktest.Start(t, 3)
	etcd := etcdtest.Start(t)
	web, dns := mesos(t).Listener.Addr().String(), listen(t)

	masters := cluster.RoleNodes(model.Masters)
	if len(masters) != 3 {
		t.Fatalf("green cluster has %d masters, want 3", len(masters))
	}
	member := map[string]int{} // master's name → ensemble member
	for i, n := range masters {
		member[n.Name.V] = i
	}
	resolve := func(n *model.Node, port int) string {
		switch port {
		case 2181:
			return ensemble.Members()[member[n.Name.V]].ClientAddr
		case 2379:
			return etcd.ClientAddr()
		case 5050, 5051, 8080:
			return web
		case 53:
			return dns
		}
		t.Errorf("no server for port %d of node %s", port, n.Name.V)
		return "127.0.0.1:1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	gates := health.New(cluster, specs, health.Options{Resolver: resolve, Interval: 100 * time.Millisecond})
	short := health.New(cluster, specs, health.Options{
		Resolver: resolve,
		Interval: 100 * time.Millisecond,
		Timeout:  func(model.Check) time.Duration { return time.Second },
	})

	t.Run("describe", func(t *testing.T) {
		want := []string{
			"zookeeper-write-read (masters, 30s)",
			"zookeeper-one-leader (masters, 30s)",
			"etcd-healthy (masters, 30s)",
			"mesos-master-health (masters, 30s)",
			"marathon-ping (masters, 30s)",
			"mesos-dns-answers (dns_servers, 10s)",
			"mesos-agent-health (agents, 10s)",
		}
		if got := gates.Describe(); !slices.Equal(got, want) {
			t.Errorf("Describe():\ngot  %q\nwant %q", got, want)
		}
	})

	t.Run("healthy", func(t *testing.T) {
		if err := gates.AfterWave(ctx); err != nil {
			t.Errorf("AfterWave: %v", err)
		}
		for _, n := range cluster.Nodes {
			if err := gates.AfterNode(ctx, n.Name.V); err != nil {
				t.Errorf("AfterNode(%s): %v", n.Name.V, err)
			}
		}
	})

	frozen := member["frozen"]
	addr := ensemble.Members()[frozen].ClientAddr

	t.Run("member down", func(t *testing.T) {
		if err := ensemble.Stop(frozen); err != nil {
			t.Fatal(err)
		}
		defer restart(t, ctx, ensemble, frozen)
		err := short.AfterNode(ctx, "frozen")
		var ge *health.GateError
		if !errors.As(err, &ge) {
			t.Fatalf("got %v, want a *GateError", err)
		}
		if !strings.HasPrefix(ge.Check, "zookeeper-") || ge.Node != "frozen" || ge.Timeout != time.Second || ge.Interrupted != nil {
			t.Errorf("got %+v, want a zookeeper check after node frozen timed out after 1s", ge)
		}
		want := fmt.Sprintf("gate %q after node frozen: not healthy within 1s: member frozen (%s): ", ge.Check, addr)
		if !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %q, want %q… connection refused", err, want)
		}
		// The other masters' gates look at the whole ensemble too.
		if err := short.AfterNode(ctx, "able"); err == nil || !strings.Contains(err.Error(), "member frozen") {
			t.Errorf("AfterNode(able): got %v, want member frozen named", err)
		}
		if err := short.AfterWave(ctx); err == nil || !strings.Contains(err.Error(), "member frozen") {
			t.Errorf("AfterWave: got %v, want member frozen named", err)
		}
		// The agents' gate does not look at the masters.
		if err := short.AfterNode(ctx, "earner"); err != nil {
			t.Errorf("AfterNode(earner): got %v, want no error", err)
		}
	})

	// The gate waits while the member restarts: what a rollout does after re-imaging a master.
	for _, which := range []string{"follower", "leader"} {
		t.Run(which+" restarts while the gate waits", func(t *testing.T) {
			i := follower(t, ctx, ensemble)
			if which == "leader" {
				var err error
				if i, err = ensemble.Leader(ctx); err != nil {
					t.Fatal(err)
				}
			}
			node := masters[i].Name.V
			stopped := time.Now()
			if err := ensemble.Stop(i); err != nil {
				t.Fatal(err)
			}
			gate := make(chan error, 1)
			go func() { gate <- gates.AfterNode(ctx, node) }()
			started := time.Now()
			if err := ensemble.Start(i); err != nil {
				t.Fatal(err)
			}
			if err := <-gate; err != nil {
				t.Fatalf("AfterNode(%s): %v\n%s", node, err, ensemble.LogTail(i))
			}
			t.Logf("%s %s: healthy again %v after its stop, %v after its start",
				which, node, time.Since(stopped).Round(time.Millisecond), time.Since(started).Round(time.Millisecond))
		})
	}

	t.Run("etcd down", func(t *testing.T) {
		etcd.Stop()
		err := short.AfterNode(ctx, "theta")
		var ge *health.GateError
		if !errors.As(err, &ge) || ge.Check != "etcd-healthy" || ge.Node != "theta" {
			t.Fatalf("got %v, want gate etcd-healthy after node theta", err)
		}
		// Every master's etcd is the one server here: the first master's is named first.
		want := fmt.Sprintf("node able (%s): Get \"http://%s/health\": ", etcd.ClientAddr(), etcd.ClientAddr())
		if !strings.Contains(err.Error(), want) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %q, want %q… connection refused", err, want)
		}
		gate := make(chan error, 1)
		go func() { gate <- gates.AfterNode(ctx, "theta") }()
		if err := etcd.Start(); err != nil {
			t.Fatal(err)
		}
		if err := <-gate; err != nil {
			t.Errorf("after etcd started again: %v", err)
		}
	})

	if got := ensemble.MaxDown(); got != 1 {
		t.Errorf("MaxDown() = %d, want 1", got)
	}
}

func restart(t *testing.T, ctx context.Context, e *zktest.Ensemble, i int) {
	t.Helper()
	if err := e.Start(i); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
}

// cluster is a small cluster without servers behind it: masters able and theta, agent earner.
func cluster() *model.Cluster {
	node := func(name string, role model.Role, ip string) *model.Node {
		return &model.Node{Name: model.Value[string]{V: name}, Role: role, LAN: model.LAN{IP: model.Value[string]{V: ip}}}
	}
	return &model.Cluster{
		Name: model.Value[string]{V: "test"},
		Nodes: []*model.Node{
			node("able", model.Masters, "10.11.11.151/24"),
			node("theta", model.Masters, "10.11.11.152/24"),
			node("earner", model.Agents, "10.11.11.161/24"),
		},
	}
}

// set marks a value as read from a file.
func set[T any](v T) model.Value[T] { return model.Value[T]{V: v, Pos: model.Pos{Line: 1}} }

func httpCheck(name string, role model.Role, port int, path string, status int, body string) model.Check {
	c := model.Check{
		Name: set(name), Role: set(string(role)),
		HTTP: &model.HTTPCheck{Port: set(port), Path: set(path)},
	}
	if status != 0 {
		c.HTTP.Status = set(status)
	}
	if body != "" {
		c.HTTP.Body = set(body)
	}
	return c
}

func spec(cluster string, checks ...model.Check) *model.ClusterSpec {
	return &model.ClusterSpec{Cluster: set(cluster), Checks: checks}
}

func TestDefaultResolver(t *testing.T) {
	n := &model.Node{LAN: model.LAN{IP: set("10.11.11.151/24")}}
	if got, want := health.DefaultResolver(n, 2181), "10.11.11.151:2181"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	n = &model.Node{LAN: model.LAN{IP: set("fd00::5/64")}}
	if got, want := health.DefaultResolver(n, 80), "[fd00::5]:80"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestNew(t *testing.T) {
	specs := []*model.ClusterSpec{
		spec("other", httpCheck("elsewhere", model.Masters, 80, "/", 0, "")),
		spec("test",
			httpCheck("web", model.Masters, 80, "/", 0, ""),
			model.Check{Name: set("dns"), Role: set("agents"), Timeout: set(90 * time.Second), TCP: &model.TCPCheck{Port: set(53)}},
		),
	}
	got := health.New(cluster(), specs, health.Options{}).Describe()
	want := []string{"web (masters, 30s)", "dns (agents, 1m30s)"}
	if !slices.Equal(got, want) {
		t.Errorf("Describe():\ngot  %q\nwant %q", got, want)
	}
	if got := health.New(cluster(), nil, health.Options{}).AfterWave(context.Background()); got != nil {
		t.Errorf("no spec: AfterWave got %v, want no error", got)
	}
}

func TestInvalidCheck(t *testing.T) {
	tests := []struct {
		name  string
		check model.Check
		want  string
	}{
		{"bad body", httpCheck("c", model.Masters, 80, "/", 0, "(pong"),
			`gate "c" after node able: invalid check: body: error parsing regexp: missing closing ): ` + "`(pong`"},
		{"tcp without port", model.Check{Name: set("c"), Role: set("masters"), TCP: &model.TCPCheck{}},
			`gate "c" after node able: invalid check: a tcp check needs a port`},
		{"no kind", model.Check{Name: set("c"), Role: set("masters")},
			`gate "c" after node able: invalid check: it has 0 kinds, not exactly one of zookeeper, etcd, http, tcp`},
	}
	// A role without nodes is found after a wave.
	t.Run("no nodes", func(t *testing.T) {
		c := model.Check{Name: set("c"), Role: set("dns_servers"), TCP: &model.TCPCheck{Port: set(53)}}
		err := health.New(cluster(), []*model.ClusterSpec{spec("test", c)}, health.Options{}).AfterWave(context.Background())
		want := `gate "c" after wave: invalid check: cluster test has no dns_servers`
		if err == nil || err.Error() != want || !errors.Is(err, health.ErrInvalidCheck) {
			t.Errorf("got %v, want %s", err, want)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := health.New(cluster(), []*model.ClusterSpec{spec("test", tt.check)}, health.Options{})
			// Reported at once, without waiting for the check's 30s.
			err := g.AfterNode(context.Background(), "able")
			if err == nil || err.Error() != tt.want || !errors.Is(err, health.ErrInvalidCheck) {
				t.Errorf("got %v, want %s", err, tt.want)
			}
		})
	}
}

func TestAfterNode(t *testing.T) {
	// able answers, theta does not: an HTTP gate after able looks at able only.
	up := mesos(t).Listener.Addr().String()
	down := closedAddr(t)
	addrs := map[string]string{"able": up, "theta": down, "earner": up}
	g := health.New(cluster(), []*model.ClusterSpec{spec("test",
		httpCheck("ping", model.Masters, 8080, "/ping", 200, "^pong$"),
	)}, health.Options{
		Resolver: func(n *model.Node, port int) string { return addrs[n.Name.V] },
		Interval: 10 * time.Millisecond,
		Timeout:  func(model.Check) time.Duration { return 200 * time.Millisecond },
	})
	ctx := context.Background()
	if err := g.AfterNode(ctx, "able"); err != nil {
		t.Errorf("AfterNode(able): got %v, want no error", err)
	}
	err := g.AfterNode(ctx, "theta")
	want := fmt.Sprintf(`gate "ping" after node theta: not healthy within 200ms: node theta (%s): Get "http://%s/ping": `, down, down)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("AfterNode(theta): got %v, want %s…", err, want)
	}
	err = g.AfterWave(ctx)
	want = fmt.Sprintf(`gate "ping" after wave: not healthy within 200ms: node theta (%s): `, down)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("AfterWave: got %v, want %s…", err, want)
	}
	if err := g.AfterNode(ctx, "earner"); err != nil {
		t.Errorf("AfterNode(earner), no agent checks: got %v, want no error", err)
	}
	if err := g.AfterNode(ctx, "nobody"); err == nil || err.Error() != `cluster "test" has no node "nobody"` {
		t.Errorf("AfterNode(nobody): got %v", err)
	}
}

func TestNoAddress(t *testing.T) {
	c := cluster()
	c.Nodes[0].LAN.IP = model.Value[string]{} // able has no IP
	g := health.New(c, []*model.ClusterSpec{spec("test",
		model.Check{Name: set("dns"), Role: set("masters"), TCP: &model.TCPCheck{Port: set(53)}},
	)}, health.Options{Timeout: func(model.Check) time.Duration { return 50 * time.Millisecond }})
	err := g.AfterNode(context.Background(), "able")
	want := `gate "dns" after node able: not healthy within 50ms: node able: no address to dial (":53")`
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}

// TestWait checks how a gate waits: at once when it passes, until it passes, and no longer
// than its context.
func TestWait(t *testing.T) {
	var fails atomic.Int32 // how many more requests fail
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fails.Add(-1) >= 0 {
			http.Error(w, "starting", http.StatusServiceUnavailable)
		}
	}))
	defer s.Close()
	gates := func(interval, timeout time.Duration) *health.Gates {
		return health.New(cluster(), []*model.ClusterSpec{spec("test",
			httpCheck("web", model.Masters, 80, "/", 0, ""),
		)}, health.Options{
			Resolver: func(*model.Node, int) string { return s.Listener.Addr().String() },
			Interval: interval,
			Timeout:  func(model.Check) time.Duration { return timeout },
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	t.Run("passes at once", func(t *testing.T) {
		// An interval of an hour would hang the test if the gate paused before its first try.
		fails.Store(0)
		if err := gates(time.Hour, time.Hour).AfterWave(ctx); err != nil {
			t.Errorf("got %v, want no error", err)
		}
	})

	t.Run("passes after failures", func(t *testing.T) {
		fails.Store(3) // both masters' first tries, then one more
		if err := gates(10*time.Millisecond, time.Hour).AfterWave(ctx); err != nil {
			t.Errorf("got %v, want no error", err)
		}
	})

	t.Run("times out", func(t *testing.T) {
		fails.Store(1 << 30)
		err := gates(10*time.Millisecond, 300*time.Millisecond).AfterNode(ctx, "able")
		var ge *health.GateError
		if !errors.As(err, &ge) || ge.Timeout != 300*time.Millisecond || ge.Interrupted != nil {
			t.Fatalf("got %v, want a GateError after 300ms", err)
		}
		want := `gate "web" after node able: not healthy within 300ms: node able (` + s.Listener.Addr().String() +
			`): GET http://` + s.Listener.Addr().String() + `/: got status 503, want 200: "starting"`
		if err.Error() != want {
			t.Errorf("got  %s\nwant %s", err, want)
		}
	})

	t.Run("cancelled", func(t *testing.T) {
		fails.Store(1 << 30)
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- gates(10*time.Millisecond, time.Hour).AfterNode(cctx, "able") }()
		for fails.Load() > 1<<30-2 { // until a second try began, so the first one was answered
			time.Sleep(time.Millisecond)
		}
		cancel()
		err := <-done // an hour's timeout: only the cancellation ends it
		var ge *health.GateError
		if !errors.As(err, &ge) || !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want a GateError for context.Canceled", err)
		}
		want := `gate "web" after node able: context canceled while waiting: node able (` + s.Listener.Addr().String() +
			`): GET http://` + s.Listener.Addr().String() + `/: got status 503, want 200: "starting"`
		if err.Error() != want {
			t.Errorf("got  %s\nwant %s", err, want)
		}
	})
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
