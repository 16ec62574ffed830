package rollout_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// bootstrap enrolls the fleet and provisions every node from nothing.
func (f *fixture) bootstrap(head plan.Snapshot) {
	f.t.Helper()
	f.enroll(head.Repo)
	empty, err := fleet.NewReader().Empty(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	r := f.runner(head.Repo, nil)
	id, _ := f.start(r, empty, head)
	if err := r.Run(context.Background(), id); err != nil {
		f.t.Fatalf("bootstrap rollout: %v", err)
	}
}

// checkDeployed asserts that every node of the spec is active on Ironic with its image id and
// config hash in extra.
func (f *fixture) checkDeployed(spec rollout.Spec) {
	f.t.Helper()
	for _, n := range spec.Nodes {
		got := f.node(n.IronicID)
		if got.ProvisionState != "active" || got.Extra[ironic.ExtraImageID] != n.ImageID || got.Extra[ironic.ExtraConfigHash] != n.ConfigHash {
			f.t.Errorf("node %s: state %q, extra image %v config %v; want active, %.12s, %.12s",
				n.Name, got.ProvisionState, got.Extra[ironic.ExtraImageID], got.Extra[ironic.ExtraConfigHash], n.ImageID, n.ConfigHash)
		}
		if _, pending := got.Extra[ironic.ExtraPending]; pending {
			f.t.Errorf("node %s still has %s in extra", n.Name, ironic.ExtraPending)
		}
	}
}

// change describes a change to the fleet: which images it changes, and the spec files both
// sides carry.
type change struct {
	servers        int
	agents, master bool
	extra          []string
}

// deployedThenChanged bootstraps the fleet (v1) and returns it with the changed fleet (v2).
func (f *fixture) deployedThenChanged(c change) (v1, v2 plan.Snapshot) {
	f.t.Helper()
	v1 = f.snapshot(fleetConfig(c.servers), "v1", c.extra...)
	f.bootstrap(v1)
	cfg := fleetConfig(c.servers)
	if c.agents {
		cfg.AgentPackages = "xfsprogs=6.1.0-1 jq"
	}
	if c.master {
		cfg.MasterPackages = "chrony=4.3-2+deb12u1 jq"
	}
	return v1, f.snapshot(cfg, "v2", c.extra...)
}

func TestRolloutRespectsMaxDownAndASecondRunChangesNothing(t *testing.T) {
	f := newFixture(t, ironictest.Options{DeployDelay: time.Second})
	v1, v2 := f.deployedThenChanged(change{servers: 25, agents: true})
	r := f.runner(v2.Repo, nil)
	id, spec := f.start(r, v1, v2)
	if len(spec.Waves) != 2 || len(spec.Nodes) != 20 {
		t.Fatalf("plan: %d waves of %d nodes; want the 20 agents in 2 waves of 10", len(spec.Waves), len(spec.Nodes))
	}
	before := f.deployTriggers()
	ov := newOverlap(spec)
	r.Events = ov.event
	if err := r.Run(context.Background(), id); err != nil {
		t.Fatalf("Run: %v", err)
	}
	f.checkDeployed(spec)
	after := f.deployTriggers()
	for _, n := range spec.Nodes {
		if d := after[n.IronicID] - before[n.IronicID]; d != 1 {
			t.Errorf("node %s was triggered %d times, want once", n.Name, d)
		}
	}
	if ov.max[model.Agents] != 10 {
		t.Errorf("at most %d agents were down at once; want exactly max_down = 10", ov.max[model.Agents])
	}
	rec, _ := f.store.Rollout(context.Background(), id)
	if rec.Status != store.RolloutSucceeded {
		t.Errorf("status %q, want succeeded", rec.Status)
	}
	d, err := f.store.Deployed(context.Background(), "acme/fleet", f.cluster)
	if err != nil || d.Commit != "v2" {
		t.Errorf("deployed commit = %+v, %v; want v2", d, err)
	}

	// The same plan again: every node is skipped, and Ironic sees no write at all.
	writes := f.proxy.Count("PATCH|PUT|POST|DELETE", ".*")
	r2 := f.runner(v2.Repo, nil)
	id2, _ := f.start(r2, v1, v2)
	if err := r2.Run(context.Background(), id2); err != nil {
		t.Fatalf("second Run: %v", err)
	}
	if w := f.proxy.Count("PATCH|PUT|POST|DELETE", ".*") - writes; w != 0 {
		t.Errorf("the second run of the same plan made %d writes to Ironic; want none", w)
	}
}

func TestRolloutHaltsAtAFailedNodeAndResumes(t *testing.T) {
	f := newFixture(t, ironictest.Options{DeployDelay: time.Second})
	v1, v2 := f.deployedThenChanged(change{servers: 25, agents: true})
	r := f.runner(v2.Repo, nil)
	id, spec := f.start(r, v1, v2)
	victim, _ := spec.Node(spec.Waves[0].Nodes[3])
	var once sync.Once
	r.Events = func(e store.RolloutEvent) {
		if e.Node == victim.Name && e.Step == string(ironic.StepTrigger) && e.Phase == string(ironic.End) {
			once.Do(func() { f.proxy.ReportState(victim.IronicID, "deploy failed", "Image checksum mismatch (injected)") })
		}
	}
	before := f.deployTriggers()
	err := r.Run(context.Background(), id)
	var halt *rollout.HaltError
	if !errors.As(err, &halt) {
		t.Fatalf("Run = %v; want a HaltError", err)
	}
	if halt.Wave != 1 || halt.Node != victim.Name || !strings.Contains(err.Error(), "Image checksum mismatch (injected)") || !strings.Contains(err.Error(), "deploy failed") {
		t.Errorf("halt = %v (wave %d, node %s); want wave 1, node %s, with Ironic's last_error", err, halt.Wave, halt.Node, victim.Name)
	}
	after := f.deployTriggers()
	for _, name := range spec.Waves[1].Nodes {
		n, _ := spec.Node(name)
		if after[n.IronicID] != before[n.IronicID] {
			t.Errorf("node %s of wave 2 was triggered after the halt", name)
		}
	}
	rec, _ := f.store.Rollout(context.Background(), id)
	if rec.Status != store.RolloutHalted || !strings.Contains(rec.Message, victim.Name) {
		t.Errorf("journal: status %q, message %q; want halted, naming %s", rec.Status, rec.Message, victim.Name)
	}

	// The operator fixes the cause and resumes: the failed node is rebuilt, the others of
	// wave 1 are not touched again, wave 2 runs.
	// Ironic keeps reporting the failure until the resumed run rebuilds the node.
	r2 := f.runner(v2.Repo, nil)
	r2.Events = func(e store.RolloutEvent) {
		if e.Node == victim.Name && e.Step == string(ironic.StepTrigger) && e.Phase == string(ironic.End) {
			f.proxy.ClearState(victim.IronicID)
		}
	}
	if err := r2.Run(context.Background(), id); err != nil {
		t.Fatalf("resume: %v", err)
	}
	f.checkDeployed(spec)
	final := f.deployTriggers()
	for _, n := range spec.Nodes {
		want := 1
		if n.Name == victim.Name {
			want = 2
		}
		if got := final[n.IronicID] - before[n.IronicID]; got != want {
			t.Errorf("node %s triggered %d times, want %d", n.Name, got, want)
		}
	}
}

func TestRolloutResumesAfterAnInterruptionWithoutReimagingAnyNodeTwice(t *testing.T) {
	f := newFixture(t, ironictest.Options{DeployDelay: time.Second})
	v1, v2 := f.deployedThenChanged(change{servers: 25, agents: true, master: true})
	before := f.deployTriggers()
	// Cut the run off at several points: right after a trigger, in the middle of a wait, at
	// a finalize.
	cuts := []func(e store.RolloutEvent) bool{
		func(e store.RolloutEvent) bool {
			return e.Step == string(ironic.StepTrigger) && e.Phase == string(ironic.End)
		},
		func(e store.RolloutEvent) bool {
			return e.Step == string(ironic.StepWait) && e.Phase == string(ironic.Begin) && e.Wave >= 4
		},
		func(e store.RolloutEvent) bool {
			return e.Step == string(ironic.StepFinalize) && e.Phase == string(ironic.Begin) && e.Wave >= 5
		},
	}
	var id string
	var spec rollout.Spec
	for i, cut := range cuts {
		r := f.runner(v2.Repo, nil)
		if i == 0 {
			id, spec = f.start(r, v1, v2)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r.Events = func(e store.RolloutEvent) {
			if cut(e) {
				cancel()
			}
		}
		err := r.Run(ctx, id)
		cancel()
		if err == nil {
			t.Fatalf("cut %d: the rollout finished before it was cut off", i)
		}
		rec, _ := f.store.Rollout(context.Background(), id)
		if rec.Status != store.RolloutRunning {
			t.Fatalf("cut %d: status %q after an interruption; want running (resumable)", i, rec.Status)
		}
	}
	r := f.runner(v2.Repo, nil)
	if err := r.Run(context.Background(), id); err != nil {
		t.Fatalf("final resume: %v", err)
	}
	f.checkDeployed(spec)
	after := f.deployTriggers()
	for _, n := range spec.Nodes {
		if d := after[n.IronicID] - before[n.IronicID]; d != 1 {
			t.Errorf("node %s was triggered %d times across the interruptions, want once", n.Name, d)
		}
	}
}

func TestPreflightReportsEveryBadNodeAndChangesNothing(t *testing.T) {
	f := newFixture(t, ironictest.Options{DeployDelay: time.Second})
	v1, v2 := f.deployedThenChanged(change{servers: 12, agents: true})
	r := f.runner(v2.Repo, nil)
	id, spec := f.start(r, v1, v2)
	ctx := context.Background()

	// One node in maintenance, one unknown to Ironic, and the agents' image gone from the
	// image server.
	inMaintenance, _ := spec.Node(spec.Waves[0].Nodes[0])
	f.ironic.Call(t, "1.59", http.MethodPut, "/v1/nodes/"+inMaintenance.IronicID+"/maintenance",
		map[string]string{"reason": "disk replacement"}, http.StatusAccepted, nil)
	unknown, _ := spec.Node(spec.Waves[0].Nodes[1])
	f.proxy.ReportMissing(unknown.IronicID)
	if err := os.Remove(f.images.Path(imageid.ID(spec.Nodes[2].ImageID), "disk.qcow2")); err != nil {
		t.Fatal(err)
	}

	writes := f.proxy.Count("PATCH|PUT|POST|DELETE", ".*")
	err := r.Run(ctx, id)
	var halt *rollout.HaltError
	if !errors.As(err, &halt) || halt.Wave != 0 {
		t.Fatalf("Run = %v; want a halt before the first wave", err)
	}
	msg := err.Error()
	for _, want := range []string{inMaintenance.Name, "maintenance", "disk replacement", unknown.Name, "unknown to Ironic", "404"} {
		if !strings.Contains(msg, want) {
			t.Errorf("preflight error does not say %q:\n%s", want, msg)
		}
	}
	if w := f.proxy.Count("PATCH|PUT|POST|DELETE", ".*") - writes; w != 0 {
		t.Errorf("preflight made %d writes to Ironic; want none", w)
	}

	// Ironic unreachable: one clear message naming it, nothing else tried.
	f.proxy.Down()
	err = f.runner(v2.Repo, nil).Run(ctx, id)
	if err == nil || !strings.Contains(err.Error(), f.proxy.URL()) {
		t.Errorf("with Ironic down: %v; want an error naming %s", err, f.proxy.URL())
	}
}
