package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/health"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
	"github.com/cluster-as-code/cluster-as-code/internal/zktest"
)

// zkSpec is the cluster's spec: the masters' ZooKeeper ensemble must have every member
// serving and one leader, within timeout.
func zkSpec(timeout string) string {
	return fmt.Sprintf(`cluster: c000
checks:
  - name: zookeeper-one-leader
    role: masters
    zookeeper: {port: 2181, leaders: 1}
    timeout: %s
`, timeout)
}

// ensembleFor maps the cluster's masters to the members of a real ZooKeeper ensemble: the
// gates reach master i's port 2181 at member i, and re-imaging master i stops member i from
// its trigger until Ironic reports the node active again.
type ensembleFor struct {
	zk      *zktest.Ensemble
	members map[string]int
	mu      sync.Mutex
	errs    []error
}

func newEnsembleFor(t testing.TB, head *model.Repo, cluster string) *ensembleFor {
	e := &ensembleFor{zk: zktest.Start(t, 3), members: map[string]int{}}
	for _, c := range head.Clusters {
		if c.Name.V != cluster {
			continue
		}
		for i, m := range c.RoleNodes(model.Masters) {
			e.members[m.Name.V] = i
		}
	}
	return e
}

func (e *ensembleFor) resolver(n *model.Node, port int) string {
	if i, ok := e.members[n.Name.V]; ok && port == 2181 {
		return e.zk.Members()[i].ClientAddr
	}
	return health.DefaultResolver(n, port)
}

// gates are the cluster's gates, reaching the masters' ZooKeeper at the ensemble.
func (e *ensembleFor) gates(head *model.Repo, cluster string) *health.Gates {
	return health.New(clusterOf(head, cluster), head.ClusterSpecs, health.Options{Resolver: e.resolver, Interval: 100 * time.Millisecond})
}

// event stops and starts members as their masters go down and come back.
func (e *ensembleFor) event(ev store.RolloutEvent) {
	i, ok := e.members[ev.Node]
	if !ok {
		return
	}
	var err error
	switch {
	case ev.Step == string(ironic.StepTrigger) && ev.Phase == string(ironic.Begin):
		err = e.zk.Stop(i)
	case ev.Step == string(ironic.StepWait) && ev.Phase == string(ironic.End) && ev.Error == "":
		err = e.zk.Start(i)
	}
	if err != nil {
		e.mu.Lock()
		e.errs = append(e.errs, err)
		e.mu.Unlock()
	}
}

func (e *ensembleFor) err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return errors.Join(e.errs...)
}

func TestMastersRollOneAtATimeBehindARealZooKeeperEnsemble(t *testing.T) {
	f := newFixture(t, ironictest.Options{DeployDelay: time.Second})
	v1, v2 := f.deployedThenChanged(change{servers: 8, master: true, extra: []string{"specs/clusters/c000.yaml", zkSpec("60s")}})
	zk := newEnsembleFor(t, v2.Repo, f.cluster)
	r := f.runner(v2.Repo, zk.gates(v2.Repo, f.cluster))
	r.Events = zk.event
	id, spec := f.start(r, v1, v2)
	if len(spec.Waves) != 3 {
		t.Fatalf("%d waves; want one per master", len(spec.Waves))
	}
	if err := r.Run(context.Background(), id); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := zk.err(); err != nil {
		t.Fatal(err)
	}
	f.checkDeployed(spec)
	if got := zk.zk.MaxDown(); got != 1 {
		t.Errorf("at most %d ZooKeeper members were down at once; want 1 (one master at a time, each back before the next)", got)
	}
	events, _ := f.store.RolloutEvents(context.Background(), id, 0)
	var gated []string
	for _, e := range events {
		if e.Step == rollout.StepGate && e.Phase == string(ironic.End) && e.Error == "" {
			gated = append(gated, e.Node)
		}
	}
	slices.Sort(gated)
	if len(gated) != 3 {
		t.Errorf("node gates passed for %v; want each of the 3 masters", gated)
	}
}

func TestAGateThatNeverTurnsHealthyHaltsTheRollout(t *testing.T) {
	f := newFixture(t, ironictest.Options{DeployDelay: time.Second})
	v1, v2 := f.deployedThenChanged(change{servers: 8, master: true, extra: []string{"specs/clusters/c000.yaml", zkSpec("3s")}})
	zk := newEnsembleFor(t, v2.Repo, f.cluster)
	r := f.runner(v2.Repo, zk.gates(v2.Repo, f.cluster))
	// The first master never comes back: its member stays stopped.
	first := ""
	r.Events = func(ev store.RolloutEvent) {
		if ev.Step == string(ironic.StepTrigger) && ev.Phase == string(ironic.Begin) && first == "" {
			first = ev.Node
			zk.zk.Stop(zk.members[ev.Node])
		}
	}
	id, spec := f.start(r, v1, v2)
	before := f.deployTriggers()
	err := r.Run(context.Background(), id)
	var halt *rollout.HaltError
	if !errors.As(err, &halt) || halt.Wave != 1 {
		t.Fatalf("Run = %v; want a halt in wave 1", err)
	}
	for _, want := range []string{`gate "zookeeper-one-leader"`, first, "not healthy within 3s"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("halt message does not say %q: %v", want, err)
		}
	}
	after := f.deployTriggers()
	for _, w := range spec.Waves[1:] {
		for _, name := range w.Nodes {
			n, _ := spec.Node(name)
			if after[n.IronicID] != before[n.IronicID] {
				t.Errorf("master %s was re-imaged after the gate failed", name)
			}
		}
	}
}

func clusterOf(r *model.Repo, name string) *model.Cluster {
	for _, c := range r.Clusters {
		if c.Name.V == name {
			return c
		}
	}
	return nil
}

// BenchmarkRollout re-images 60 agents (max 10 down at once) and 3 masters (one at a time,
// each behind a real ZooKeeper ensemble's gate) on a real Ironic whose fake deploys take D,
// and reports the wall time against the ideal 6·D + 3·(D + gate), where gate is the measured
// mean of the masters' gates. D is CAC_BENCH_DEPLOY (default 10s; whole seconds, even).
//
//	go test -run '^$' -bench Rollout -benchtime 1x -timeout 30m ./internal/rollout/
func BenchmarkRollout(b *testing.B) {
	d := 10 * time.Second
	if v := os.Getenv("CAC_BENCH_DEPLOY"); v != "" {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		b.StopTimer()
		// The fake deploy sleeps deploy_delay twice.
		f := newFixture(b, ironictest.Options{DeployDelay: d / 2})
		f.cfg.PollInterval = time.Second
		v1, v2 := f.deployedThenChanged(change{servers: 65, agents: true, master: true, extra: []string{"specs/clusters/c000.yaml", zkSpec("60s")}})
		zk := newEnsembleFor(b, v2.Repo, f.cluster)
		r := f.runner(v2.Repo, zk.gates(v2.Repo, f.cluster))
		r.Events = zk.event
		id, spec := f.start(r, v1, v2)
		if got := countActions(spec, model.Agents); got != 60 {
			b.Fatalf("%d agents to re-image, want 60", got)
		}
		calls := len(f.proxy.Calls())
		start := time.Now()
		b.StartTimer()
		if err := r.Run(context.Background(), id); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		wall := time.Since(start)
		calls = len(f.proxy.Calls()) - calls
		events, _ := f.store.RolloutEvents(context.Background(), id, 0)
		gate := meanGate(events, model.Masters, spec)
		deploy := meanDeploy(events)
		ideal := 6*d + 3*(d+gate)
		b.ReportMetric(wall.Seconds(), "wall-s")
		b.ReportMetric(ideal.Seconds(), "ideal-s")
		b.ReportMetric(wall.Seconds()/ideal.Seconds(), "wall/ideal")
		b.ReportMetric(gate.Seconds(), "master-gate-s")
		b.ReportMetric(deploy.Seconds(), "ironic-deploy-s")
		b.ReportMetric(float64(calls)/float64(len(spec.Nodes)), "ironic-calls/node")
		own := ironicDeployTime(b, f.ironic, start)
		b.ReportMetric(own.Seconds(), "ironic-own-deploy-s")
		b.ReportMetric(wall.Seconds()/(6*own+3*(own+gate)).Seconds(), "wall/ideal-with-ironic-own-D")
		head, tail := waveOverheads(events)
		b.ReportMetric(head.Seconds(), "wave-start-s")
		b.ReportMetric(tail.Seconds(), "wave-end-s")
		if err := zk.err(); err != nil {
			b.Fatal(err)
		}
		if zk.zk.MaxDown() != 1 {
			b.Fatalf("%d ZooKeeper members down at once", zk.zk.MaxDown())
		}
	}
}

func countActions(s rollout.Spec, role model.Role) int {
	n := 0
	for _, x := range s.Nodes {
		if x.Role == role && x.Action == plan.Reprovision {
			n++
		}
	}
	return n
}

// meanGate is the mean time the node gates of a role's nodes took.
func meanGate(events []store.RolloutEvent, role model.Role, spec rollout.Spec) time.Duration {
	begins := map[string]time.Time{}
	var sum time.Duration
	n := 0
	for _, e := range events {
		node, ok := spec.Node(e.Node)
		if e.Step != rollout.StepGate || !ok || node.Role != role {
			continue
		}
		if e.Phase == string(ironic.Begin) {
			begins[e.Node] = e.At
		} else if t, ok := begins[e.Node]; ok {
			sum += e.At.Sub(t)
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// meanDeploy is the mean time from a node's trigger to the end of its wait: what Ironic took.
func meanDeploy(events []store.RolloutEvent) time.Duration {
	begins := map[string]time.Time{}
	var sum time.Duration
	n := 0
	for _, e := range events {
		switch {
		case e.Step == string(ironic.StepTrigger) && e.Phase == string(ironic.Begin):
			begins[e.Node] = e.At
		case e.Step == string(ironic.StepWait) && e.Phase == string(ironic.End):
			if t, ok := begins[e.Node]; ok {
				sum += e.At.Sub(t)
				n++
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}

// waveOverheads is the mean time a wave spends before its last node is triggered (observe,
// prepare, trigger) and after its last node's deploy ended (finalize, gates).
func waveOverheads(events []store.RolloutEvent) (head, tail time.Duration) {
	type span struct{ begin, lastTrigger, lastWait, end time.Time }
	waves := map[int]*span{}
	for _, e := range events {
		if e.Wave == 0 {
			continue
		}
		w := waves[e.Wave]
		if w == nil {
			w = &span{}
			waves[e.Wave] = w
		}
		switch {
		case e.Step == rollout.StepWave && e.Phase == string(ironic.Begin):
			w.begin = e.At
		case e.Step == rollout.StepWave && e.Phase == string(ironic.End):
			w.end = e.At
		case e.Step == string(ironic.StepTrigger) && e.Phase == string(ironic.End) && e.At.After(w.lastTrigger):
			w.lastTrigger = e.At
		case e.Step == string(ironic.StepWait) && e.Phase == string(ironic.End) && e.At.After(w.lastWait):
			w.lastWait = e.At
		}
	}
	for _, w := range waves {
		head += w.lastTrigger.Sub(w.begin)
		tail += w.end.Sub(w.lastWait)
	}
	n := time.Duration(max(len(waves), 1))
	return head / n, tail / n
}

// ironicDeployTime is the mean time Ironic itself took from "deploying" to "active" for the
// deploys that began after since, from its log: D as Ironic ran it on this machine.
func ironicDeployTime(tb testing.TB, s *ironictest.Server, since time.Time) time.Duration {
	transitions, err := s.Transitions()
	if err != nil {
		tb.Fatal(err)
	}
	begins := map[string]time.Time{}
	var sum time.Duration
	n := 0
	for _, tr := range transitions {
		if tr.At.Before(since.Add(-time.Second)) {
			continue
		}
		switch tr.To {
		case "deploying":
			begins[tr.Node] = tr.At
		case "active":
			if b, ok := begins[tr.Node]; ok {
				sum += tr.At.Sub(b)
				n++
				delete(begins, tr.Node)
			}
		}
	}
	if n == 0 {
		return 0
	}
	return sum / time.Duration(n)
}
