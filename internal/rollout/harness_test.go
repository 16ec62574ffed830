package rollout_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/cloudconfig"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/fleetgen"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout/rollouttest"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// fixture is a real Ironic behind the fault-injection proxy, a real store, and an artifact
// store served over HTTP, around one synthetic fleet with one cluster.
type fixture struct {
	t       testing.TB
	ironic  *ironictest.Server
	proxy   *ironictest.Proxy
	api     *ironic.Client
	cfg     ironic.Config
	store   *store.Store
	images  *artifacts.Store
	imgURL  string
	cluster string
}

// fleetConfig is a fleet of one cluster: 3 masters, 2 DNS servers and agents.
func fleetConfig(servers int) fleetgen.Config {
	return fleetgen.Config{Racks: (servers + 39) / 40, ServersPerRack: 40, ServerCount: servers, Clusters: 1}
}

func newFixture(t testing.TB, opts ironictest.Options) *fixture {
	t.Helper()
	f := &fixture{t: t, cluster: "c000"}
	f.ironic = ironictest.Start(t, opts)
	f.proxy = ironictest.NewProxy(t, f.ironic.URL())
	f.cfg = ironic.Config{URL: f.proxy.URL(), PollInterval: 200 * time.Millisecond, Timeout: 2 * time.Minute, RetryBase: 50 * time.Millisecond}
	ctx := context.Background()
	api, err := ironic.NewClient(ctx, f.cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.api = api
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.store = st
	images, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f.images = images
	srv := httptest.NewServer(images.Handler("/images/"))
	t.Cleanup(srv.Close)
	f.imgURL = srv.URL + "/images"
	return f
}

// snapshot loads a generated fleet, with extra files (specs, say) added.
func (f *fixture) snapshot(cfg fleetgen.Config, rev string, extra ...string) plan.Snapshot {
	f.t.Helper()
	fsys := fstest.MapFS{}
	for path, data := range fleetgen.Generate(cfg) {
		fsys[path] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	for i := 0; i+1 < len(extra); i += 2 {
		fsys[extra[i]] = &fstest.MapFile{Data: []byte(extra[i+1]), Mode: 0o644}
	}
	s, err := fleet.NewReader().Load(context.Background(), fsys, rev, rev)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// enroll registers the fleet's servers in Ironic (state enroll).
func (f *fixture) enroll(repo *model.Repo) {
	f.t.Helper()
	specs, err := ironic.EnrollSpecs(repo, "fake-hardware")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := ironic.Enroll(context.Background(), f.api, specs, nil); err != nil {
		f.t.Fatal(err)
	}
}

// publish puts a stand-in artifact in the store for every image the plan deploys.
func (f *fixture) publish(p *plan.Plan) {
	f.t.Helper()
	if err := rollouttest.PublishImages(context.Background(), f.images, p); err != nil {
		f.t.Fatal(err)
	}
}

// testSecrets resolves every reference to a fixed value.
type testSecrets struct{}

func (testSecrets) Resolve(_ context.Context, ref string) (string, error) {
	return "s3cret-" + ref, nil
}

// runner is a Runner over the fixture for head's repository.
func (f *fixture) runner(head *model.Repo, gates rollout.Gates) *rollout.Runner {
	return &rollout.Runner{
		Journal:     f.store,
		Provisioner: ironic.NewProvisioner(f.api, f.cfg),
		Gates:       gates,
		Tree:        rollout.TreeDigest(head),
		ConfigDrive: func(ctx context.Context, node string, joinExisting bool) (json.RawMessage, error) {
			d, err := cloudconfig.ForNodeWith(ctx, head, f.cluster, node, testSecrets{}, cloudconfig.Options{JoinExisting: joinExisting})
			if err != nil {
				return nil, err
			}
			return d.JSON()
		},
	}
}

// start plans base → head, publishes the images and journals a rollout of the cluster.
func (f *fixture) start(r *rollout.Runner, base, head plan.Snapshot) (string, rollout.Spec) {
	f.t.Helper()
	p := plan.Compute(base, head)
	f.publish(p)
	spec, err := rollout.NewSpec(context.Background(), p, f.cluster, head.Repo, "acme/fleet", "test", rollout.HTTPImages{Base: f.imgURL})
	if err != nil {
		f.t.Fatal(err)
	}
	id, err := r.Create(context.Background(), spec)
	if err != nil {
		f.t.Fatal(err)
	}
	return id, spec
}

// node reads a node from Ironic, bypassing the proxy.
func (f *fixture) node(id string) ironic.Node {
	f.t.Helper()
	n, err := f.api.GetNode(context.Background(), id)
	if err != nil {
		f.t.Fatal(err)
	}
	return n
}

// deployTriggers counts, per Ironic node id, the provision-state PUTs that deploy an image
// (target active or rebuild), as the proxy saw them.
func (f *fixture) deployTriggers() map[string]int {
	out := map[string]int{}
	for _, c := range f.proxy.ProvisionCalls() {
		if c.Target == "active" || c.Target == "rebuild" {
			out[c.Node]++
		}
	}
	return out
}

// overlap tracks the most nodes of each role down at once, from journal events: a node is
// down from its trigger to the end of its wait.
type overlap struct {
	mu    sync.Mutex
	down  map[string]bool
	roles map[string]model.Role
	cur   map[model.Role]int
	max   map[model.Role]int
}

func newOverlap(spec rollout.Spec) *overlap {
	o := &overlap{down: map[string]bool{}, roles: map[string]model.Role{}, cur: map[model.Role]int{}, max: map[model.Role]int{}}
	for _, n := range spec.Nodes {
		o.roles[n.Name] = n.Role
	}
	return o
}

func (o *overlap) event(e store.RolloutEvent) {
	o.mu.Lock()
	defer o.mu.Unlock()
	role := o.roles[e.Node]
	switch {
	case e.Step == string(ironic.StepTrigger) && e.Phase == string(ironic.Begin) && !o.down[e.Node]:
		o.down[e.Node] = true
		o.cur[role]++
		o.max[role] = max(o.max[role], o.cur[role])
	case (e.Step == string(ironic.StepWait) || e.Step == rollout.StepNode) && e.Phase == string(ironic.End) && o.down[e.Node]:
		o.down[e.Node] = false
		o.cur[role]--
	}
}

// recordingProvisioner deploys nothing: it records, in order, each node's deploy and whether
// its config drive joins a running cluster; a node in failDeploy fails once, a node deployed
// is skipped. It calls a target's BeforeTrigger where the real one does: right before a
// trigger.
type recordingProvisioner struct {
	mu         sync.Mutex
	log        []string
	failDeploy map[string]bool
	// deployed are the nodes deployed: Deploy skips them, as Ironic's extra makes it.
	deployed map[string]bool
}

func (p *recordingProvisioner) add(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, s)
}

func (p *recordingProvisioner) Preflight(context.Context, []ironic.Target) error { return nil }

func (p *recordingProvisioner) Deploy(ctx context.Context, t ironic.Target, _ ironic.Observer) (ironic.Result, error) {
	if p.deployed[t.Node] {
		return ironic.Result{Outcome: ironic.Skipped}, nil
	}
	if t.BeforeTrigger != nil {
		if err := t.BeforeTrigger(ctx); err != nil {
			return ironic.Result{}, err
		}
	}
	drive, err := t.ConfigDrive(ctx)
	if err != nil {
		return ironic.Result{}, err
	}
	p.add("deploy " + t.Node + " " + string(drive))
	if p.failDeploy[t.Node] {
		delete(p.failDeploy, t.Node)
		return ironic.Result{}, &ironic.NodeError{Node: t.Node, Step: "deploy", Err: context.DeadlineExceeded}
	}
	if p.deployed == nil {
		p.deployed = map[string]bool{}
	}
	p.deployed[t.Node] = true
	return ironic.Result{Outcome: ironic.Deployed}, nil
}

func (p *recordingProvisioner) Undeploy(context.Context, ironic.Target, ironic.Observer) (ironic.Result, error) {
	return ironic.Result{}, nil
}

// TestBeforeNode: a node joining its running cluster is prepared (journaled as "before") right
// before it is deployed, with a drive that joins; a new cluster's nodes are not; a failed
// preparation halts before the node is touched; a resumed rollout does not prepare a node
// twice.
func TestBeforeNode(t *testing.T) {
	ctx := context.Background()
	spec := func(action plan.Action) rollout.Spec {
		return rollout.Spec{Schema: rollout.SpecSchema, Repo: "acme/fleet", Cluster: "c",
			Waves: []plan.Wave{{Number: 1, Role: model.Masters, Action: action, Nodes: []string{"m1", "m2"}}},
			Nodes: []rollout.Node{{Name: "m1", Role: model.Masters, Action: action}, {Name: "m2", Role: model.Masters, Action: action}}}
	}
	type result struct {
		log []string
		err error
		j   *rollout.MemoryJournal
	}
	run := func(t *testing.T, s rollout.Spec, prov *recordingProvisioner, fail map[string]error, j *rollout.MemoryJournal, id string) (string, result) {
		t.Helper()
		r := &rollout.Runner{Journal: j, Provisioner: prov, Sequential: true,
			ConfigDrive: func(_ context.Context, _ string, joinExisting bool) (json.RawMessage, error) {
				if joinExisting {
					return json.RawMessage(`"existing"`), nil
				}
				return json.RawMessage(`"new"`), nil
			},
			BeforeNode: func(_ context.Context, n rollout.Node) error {
				prov.add("before " + n.Name)
				return fail[n.Name]
			},
		}
		if id == "" {
			var err error
			if id, err = r.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		err := r.Run(ctx, id)
		return id, result{log: prov.log, err: err, j: j}
	}
	equal := func(t *testing.T, got, want []string) {
		t.Helper()
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	}

	t.Run("reprovision", func(t *testing.T) {
		j := rollout.NewMemoryJournal()
		id, res := run(t, spec(plan.Reprovision), &recordingProvisioner{}, nil, j, "")
		if res.err != nil {
			t.Fatal(res.err)
		}
		equal(t, res.log, []string{"before m1", `deploy m1 "existing"`, "before m2", `deploy m2 "existing"`})
		events, _ := j.RolloutEvents(ctx, id, 0)
		var steps []string
		for _, e := range events {
			if e.Step == rollout.StepBefore {
				steps = append(steps, e.Node+" "+e.Phase)
			}
		}
		equal(t, steps, []string{"m1 begin", "m1 end", "m2 begin", "m2 end"})
	})
	t.Run("new cluster", func(t *testing.T) {
		_, res := run(t, spec(plan.Provision), &recordingProvisioner{}, nil, rollout.NewMemoryJournal(), "")
		if res.err != nil {
			t.Fatal(res.err)
		}
		equal(t, res.log, []string{`deploy m1 "new"`, `deploy m2 "new"`})
	})
	t.Run("failure halts, resume prepares again", func(t *testing.T) {
		j := rollout.NewMemoryJournal()
		prov := &recordingProvisioner{}
		id, res := run(t, spec(plan.Reprovision), prov, map[string]error{"m1": errors.New("quorum")}, j, "")
		var halt *rollout.HaltError
		if !errors.As(res.err, &halt) || !strings.Contains(res.err.Error(), "quorum") {
			t.Fatalf("got %v, want a halt with the preparation's error", res.err)
		}
		equal(t, res.log, []string{"before m1"})
		if rec, _ := j.Rollout(ctx, id); rec.Status != store.RolloutHalted {
			t.Errorf("status %s, want halted", rec.Status)
		}
		_, res = run(t, spec(plan.Reprovision), prov, nil, j, id)
		if res.err != nil {
			t.Fatal(res.err)
		}
		equal(t, res.log, []string{"before m1", "before m1", `deploy m1 "existing"`, "before m2", `deploy m2 "existing"`})
	})
	t.Run("the same plan again prepares nothing", func(t *testing.T) {
		prov := &recordingProvisioner{}
		if _, res := run(t, spec(plan.Reprovision), prov, nil, rollout.NewMemoryJournal(), ""); res.err != nil {
			t.Fatal(res.err)
		}
		// A new rollout of the same plan: every node is deployed already, so no etcd member
		// of a running master may be replaced.
		_, res := run(t, spec(plan.Reprovision), prov, nil, rollout.NewMemoryJournal(), "")
		if res.err != nil {
			t.Fatal(res.err)
		}
		equal(t, res.log, []string{"before m1", `deploy m1 "existing"`, "before m2", `deploy m2 "existing"`})
	})
	t.Run("resume after a failed deploy does not prepare again", func(t *testing.T) {
		j := rollout.NewMemoryJournal()
		prov := &recordingProvisioner{failDeploy: map[string]bool{"m1": true}}
		id, res := run(t, spec(plan.Reprovision), prov, nil, j, "")
		if res.err == nil {
			t.Fatal("the failed deploy did not halt the rollout")
		}
		_, res = run(t, spec(plan.Reprovision), prov, nil, j, id)
		if res.err != nil {
			t.Fatal(res.err)
		}
		equal(t, res.log, []string{"before m1", `deploy m1 "existing"`, `deploy m1 "existing"`, "before m2", `deploy m2 "existing"`})
	})
}
