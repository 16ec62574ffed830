// Package health runs a rollout's health gates: the checks of a cluster's spec
// (specs/clusters/*.yaml) against the running nodes, polled after each re-provisioned node and
// after each wave until they pass or their timeout ends.
//
// A check applies to the nodes of its role. ZooKeeper and etcd checks are about an ensemble and
// always look at every node of the role; HTTP and TCP checks are about one node and, after a
// node, look at that node only (after a wave, at every node of the role). The single checks
// (ZooKeeper, Etcd, HTTP, TCP) are exported for other callers and tests.
package health

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// Ports a check uses when its spec names none.
const (
	DefaultZooKeeperPort = 2181
	DefaultEtcdPort      = 2379
	DefaultHTTPPort      = 80
)

// DefaultInterval is how long a gate waits between two attempts of a failing check.
const DefaultInterval = time.Second

const (
	// minInterval keeps a tiny configured interval from spinning.
	minInterval = 10 * time.Millisecond
	// attemptTimeout bounds one attempt of a check, so that a server that hangs leaves room for
	// more attempts within the check's timeout.
	attemptTimeout = 10 * time.Second
	// parallelTargets bounds how many nodes one check asks at once.
	parallelTargets = 16
)

// ErrInvalidCheck is wrapped by the error of a check that cannot run as written (no role, no
// port for a TCP check, a body that is not a regular expression, …). Validation reports the
// same problems before a rollout starts.
var ErrInvalidCheck = errors.New("invalid check")

// Resolver maps a node and a port to the address to dial, host:port.
type Resolver func(node *model.Node, port int) string

// DefaultResolver dials the node's LAN IP, without its prefix length: 10.11.11.151:2181 for a
// node with IP 10.11.11.151/24.
func DefaultResolver(node *model.Node, port int) string {
	ip, _, _ := strings.Cut(node.LAN.IP.V, "/")
	return net.JoinHostPort(ip, strconv.Itoa(port))
}

// Options tune how gates run. The zero value is ready to use.
type Options struct {
	// Resolver maps a node and a port to an address; nil means DefaultResolver.
	Resolver Resolver
	// Interval is the pause between two attempts of a failing check; zero means
	// DefaultInterval. It is at least 10ms, and never longer than the check's remaining time.
	// A check's first attempt is immediate.
	Interval time.Duration
	// HTTPClient makes the etcd and HTTP checks' requests; nil means a client that opens a new
	// connection for every request, ignores proxy settings and gives up on one request after
	// 10s.
	HTTPClient *http.Client
	// Timeout, when set and positive for a check, overrides the check's own timeout. A check's
	// own timeout is its spec's, or model.DefaultCheckTimeout.
	Timeout func(model.Check) time.Duration
}

// Gates are the health gates of one cluster. They are safe for concurrent use.
type Gates struct {
	cluster  *model.Cluster
	gates    []*gate
	resolver Resolver
	interval time.Duration
	client   *http.Client
}

// gate is one check of the cluster's spec, ready to run.
type gate struct {
	check   model.Check
	name    string
	role    model.Role
	timeout time.Duration
	port    int
	body    *regexp.Regexp // HTTP checks: the body must match, when set
	invalid error          // why the check cannot run, wrapping ErrInvalidCheck
}

// New builds the gates of cluster from the specs whose cluster is cluster's name; specs may be
// every cluster spec of the repository. A cluster without a spec has no gates. A check that
// cannot run as written fails when it runs, with ErrInvalidCheck.
func New(cluster *model.Cluster, specs []*model.ClusterSpec, opts Options) *Gates {
	g := &Gates{
		cluster:  cluster,
		resolver: opts.Resolver,
		interval: opts.Interval,
		client:   opts.HTTPClient,
	}
	if g.resolver == nil {
		g.resolver = DefaultResolver
	}
	if g.interval == 0 {
		g.interval = DefaultInterval
	}
	g.interval = max(g.interval, minInterval)
	if g.client == nil {
		g.client = newClient()
	}
	for _, s := range specs {
		if s.Cluster.V != cluster.Name.V {
			continue
		}
		for _, c := range s.Checks {
			gt := newGate(c, opts.Timeout)
			if gt.invalid == nil && len(cluster.RoleNodes(gt.role)) == 0 {
				gt.invalid = fmt.Errorf("%w: cluster %s has no %s", ErrInvalidCheck, cluster.Name.V, gt.role)
			}
			g.gates = append(g.gates, gt)
		}
	}
	return g
}

func newGate(c model.Check, override func(model.Check) time.Duration) *gate {
	gt := &gate{check: c, name: c.Name.V, role: model.Role(c.Role.V), timeout: c.Timeout.V}
	if override != nil {
		if d := override(c); d > 0 {
			gt.timeout = d
		}
	}
	if gt.timeout <= 0 {
		gt.timeout = model.DefaultCheckTimeout
	}
	if err := gt.prepare(); err != nil {
		gt.invalid = fmt.Errorf("%w: %w", ErrInvalidCheck, err)
	}
	return gt
}

// prepare fills in the gate's port and body pattern, or says why the check cannot run.
func (gt *gate) prepare() error {
	c := gt.check
	kinds := 0
	var port model.Value[int]
	def := 0
	if c.ZooKeeper != nil {
		kinds++
		port, def = c.ZooKeeper.Port, DefaultZooKeeperPort
		if c.ZooKeeper.Leaders.Set() && c.ZooKeeper.Leaders.V < 1 {
			return fmt.Errorf("leaders is %d, not at least 1", c.ZooKeeper.Leaders.V)
		}
	}
	if c.Etcd != nil {
		kinds++
		port, def = c.Etcd.Port, DefaultEtcdPort
	}
	if c.HTTP != nil {
		kinds++
		port, def = c.HTTP.Port, DefaultHTTPPort
		if s := c.HTTP.Status.V; c.HTTP.Status.Set() && (s < 100 || s > 599) {
			return fmt.Errorf("status %d is not an HTTP status", s)
		}
		if c.HTTP.Body.Set() {
			re, err := regexp.Compile(c.HTTP.Body.V)
			if err != nil {
				return fmt.Errorf("body: %w", err)
			}
			gt.body = re
		}
	}
	if c.TCP != nil {
		kinds++
		port = c.TCP.Port
		if !port.Set() {
			return errors.New("a tcp check needs a port")
		}
	}
	if kinds != 1 {
		return fmt.Errorf("it has %d kinds, not exactly one of zookeeper, etcd, http, tcp", kinds)
	}
	if gt.role == "" {
		return errors.New("no role")
	}
	gt.port = def
	if port.Set() {
		gt.port = port.V
	}
	if gt.port < 1 || gt.port > 65535 {
		return fmt.Errorf("port %d is not between 1 and 65535", gt.port)
	}
	return nil
}

// Describe lists the gates in spec order, for plans and dry runs:
// "zookeeper-one-leader (masters, 30s)".
func (g *Gates) Describe() []string {
	out := make([]string, 0, len(g.gates))
	for _, gt := range g.gates {
		out = append(out, fmt.Sprintf("%s (%s, %s)", gt.name, gt.role, formatDuration(gt.timeout)))
	}
	return out
}

// AfterNode runs, once the named node was re-provisioned, every check of the node's role, and
// waits until all pass or one's timeout ends. A ZooKeeper check also requires the node itself
// to serve as leader or follower again. A failure is a *GateError; a node the cluster does not
// have is a plain error.
func (g *Gates) AfterNode(ctx context.Context, node string) error {
	var n *model.Node
	for _, c := range g.cluster.Nodes {
		if c.Name.V == node {
			n = c
			break
		}
	}
	if n == nil {
		return fmt.Errorf("cluster %q has no node %q", g.cluster.Name.V, node)
	}
	var runs []run
	for _, gt := range g.gates {
		if gt.role != n.Role {
			continue
		}
		nodes := []*model.Node{n}
		if gt.check.ZooKeeper != nil || gt.check.Etcd != nil {
			nodes = g.cluster.RoleNodes(gt.role)
		}
		runs = append(runs, run{gate: gt, node: node, probe: g.probe(gt, nodes, node)})
	}
	return g.runAll(ctx, runs)
}

// AfterWave runs every check of the cluster against every node of its role, and waits until
// all pass or one's timeout ends. A failure is a *GateError.
func (g *Gates) AfterWave(ctx context.Context) error {
	var runs []run
	for _, gt := range g.gates {
		runs = append(runs, run{gate: gt, probe: g.probe(gt, g.cluster.RoleNodes(gt.role), "")})
	}
	return g.runAll(ctx, runs)
}

// run is one gate to wait for, with the nodes it looks at bound into probe.
type run struct {
	gate  *gate
	node  string // the re-provisioned node; empty after a wave
	probe func(context.Context) error
}

// probe returns one attempt of gt against nodes. rejoined names the node a ZooKeeper check
// requires to lead or follow; empty after a wave.
func (g *Gates) probe(gt *gate, nodes []*model.Node, rejoined string) func(context.Context) error {
	targets := make([]target, len(nodes))
	var unresolved []error
	for i, n := range nodes {
		targets[i] = target{node: n.Name.V, addr: g.resolver(n, gt.port)}
		// An empty host would dial this machine instead of the node.
		if host, _, err := net.SplitHostPort(targets[i].addr); err != nil || host == "" {
			unresolved = append(unresolved, fmt.Errorf("node %s: no address to dial (%q)", n.Name.V, targets[i].addr))
		}
	}
	c := gt.check
	switch {
	case gt.invalid != nil:
		return func(context.Context) error { return gt.invalid }
	case len(unresolved) > 0:
		return func(context.Context) error { return joinErrors(unresolved) }
	case c.ZooKeeper != nil:
		members := make([]Member, len(targets))
		for i, t := range targets {
			members[i] = Member{Node: t.node, Addr: t.addr}
		}
		leaders := max(c.ZooKeeper.Leaders.V, 1)
		return func(ctx context.Context) error {
			return zooKeeper(ctx, members, leaders, c.ZooKeeper.WriteRead.V, rejoined)
		}
	case c.Etcd != nil:
		return func(ctx context.Context) error {
			return eachTarget(ctx, targets, func(ctx context.Context, t target) error {
				return Etcd(ctx, g.client, t.addr)
			})
		}
	case c.HTTP != nil:
		path := c.HTTP.Path.V
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		return func(ctx context.Context) error {
			return eachTarget(ctx, targets, func(ctx context.Context, t target) error {
				return HTTP(ctx, g.client, "http://"+t.addr+path, c.HTTP.Status.V, gt.body)
			})
		}
	default:
		return func(ctx context.Context) error {
			return eachTarget(ctx, targets, func(ctx context.Context, t target) error {
				return TCP(ctx, t.addr)
			})
		}
	}
}

// errSiblingFailed cancels the gates still waiting once one gate failed.
var errSiblingFailed = errors.New("another gate failed")

// runAll waits for every run at once and returns the first failure, which ends the others.
func (g *Gates) runAll(ctx context.Context, runs []run) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		first *GateError
		wg    sync.WaitGroup
	)
	for _, r := range runs {
		wg.Go(func() {
			err := g.wait(ctx, r)
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			if first == nil {
				first = err
				cancel(errSiblingFailed)
			}
		})
	}
	wg.Wait()
	if first == nil {
		return nil
	}
	return first
}

// wait polls r until it passes, its timeout ends or ctx ends.
func (g *Gates) wait(ctx context.Context, r run) *GateError {
	gt := r.gate
	fail := func(last, interrupted error) *GateError {
		return &GateError{Check: gt.name, Node: r.node, Timeout: gt.timeout, Last: last, Interrupted: interrupted}
	}
	if gt.invalid != nil {
		return fail(gt.invalid, nil)
	}
	deadline := time.Now().Add(gt.timeout)
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last error
	for {
		actx, acancel := context.WithTimeout(wctx, attemptTimeout)
		err := r.probe(actx)
		acancel()
		if err == nil {
			return nil
		}
		// An attempt cut short by the end of the wait says less than the attempt before it.
		// (The clock decides: a dial may see its deadline pass before wctx reports it.)
		if last == nil || ctx.Err() == nil && time.Now().Before(deadline) {
			last = err
		}
		if ctx.Err() == nil && wctx.Err() == nil {
			timer := time.NewTimer(min(g.interval, time.Until(deadline)))
			select {
			case <-timer.C:
				continue
			case <-wctx.Done():
				timer.Stop()
			}
		}
		if ctx.Err() != nil {
			return fail(last, context.Cause(ctx))
		}
		return fail(last, nil)
	}
}

// GateError is a gate that did not pass: its check, the node after which it ran (empty after a
// wave), its timeout and the last failure seen. Interrupted is set when the wait ended before
// the timeout because the caller's context did.
type GateError struct {
	Check       string
	Node        string
	Timeout     time.Duration
	Last        error
	Interrupted error
}

// Error says which gate, after what, and why: `gate "zookeeper-one-leader" after node able:
// not healthy within 30s: member frozen (10.11.11.153:2181): not serving (…)`.
func (e *GateError) Error() string {
	where := "after wave"
	if e.Node != "" {
		where = "after node " + e.Node
	}
	switch {
	case errors.Is(e.Last, ErrInvalidCheck):
		return fmt.Sprintf("gate %q %s: %v", e.Check, where, e.Last)
	case e.Interrupted != nil && e.Last == nil:
		return fmt.Sprintf("gate %q %s: %v", e.Check, where, e.Interrupted)
	case e.Interrupted != nil:
		return fmt.Sprintf("gate %q %s: %v while waiting: %v", e.Check, where, e.Interrupted, e.Last)
	default:
		return fmt.Sprintf("gate %q %s: not healthy within %s: %v", e.Check, where, formatDuration(e.Timeout), e.Last)
	}
}

// Unwrap returns the interruption, if any, and the last failure.
func (e *GateError) Unwrap() []error {
	var out []error
	for _, err := range []error{e.Interrupted, e.Last} {
		if err != nil {
			out = append(out, err)
		}
	}
	return out
}

// target is one node a check looks at, and the address it dials there.
type target struct {
	node string
	addr string
}

func (t target) String() string { return fmt.Sprintf("node %s (%s)", t.node, t.addr) }

// eachTarget runs check against every target, a few at a time, and returns every failure,
// each naming its node and address.
func eachTarget(ctx context.Context, targets []target, check func(context.Context, target) error) error {
	errs := make([]error, len(targets))
	sem := make(chan struct{}, parallelTargets)
	var wg sync.WaitGroup
	for i, t := range targets {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := check(ctx, t); err != nil {
				errs[i] = fmt.Errorf("%s: %w", t, err)
			}
		})
	}
	wg.Wait()
	return joinErrors(errs)
}

// errorList is several failures, one per node or member, in their order.
type errorList []error

// shownErrors is how many failures an errorList spells out.
const shownErrors = 5

func (l errorList) Error() string {
	var parts []string
	for _, err := range l[:min(len(l), shownErrors)] {
		parts = append(parts, err.Error())
	}
	if len(l) > shownErrors {
		parts = append(parts, fmt.Sprintf("and %d more", len(l)-shownErrors))
	}
	return strings.Join(parts, "; ")
}

func (l errorList) Unwrap() []error { return l }

// joinErrors returns nil, the one failure, or an errorList of the non-nil errs.
func joinErrors(errs []error) error {
	var l errorList
	for _, err := range errs {
		if err != nil {
			l = append(l, err)
		}
	}
	switch len(l) {
	case 0:
		return nil
	case 1:
		return l[0]
	default:
		return l
	}
}

// formatDuration writes d without zero units: 30s, 2m, 1m30s, 500ms.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
