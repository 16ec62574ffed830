package rollout_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
)

// fixedImages resolves every image to a URL under base, without a store.
type fixedImages struct{ base string }

func (f fixedImages) Resolve(_ context.Context, id string) (ironic.Image, error) {
	return ironic.Image{URL: f.base + "/" + id + "/disk.qcow2", SHA256: strings.Repeat("ab", 32), Kind: "whole-disk", Format: "qcow2"}, nil
}

func TestDryRunPrintsTheIronicCallsOfEveryNodeInWaveOrder(t *testing.T) {
	f := &fixture{t: t, cluster: "c000"}
	v1 := f.snapshot(fleetConfig(12), "v1")
	cfg2 := fleetConfig(12)
	cfg2.AgentPackages = "xfsprogs=6.1.0-1 jq"
	cfg2.MasterPackages = "chrony=4.3-2+deb12u1 jq"
	v2 := f.snapshot(cfg2, "v2")
	spec, err := rollout.NewSpec(context.Background(), plan.Compute(v1, v2), "c000", v2.Repo, "acme/fleet", "cli", fixedImages{"http://images.example/images"})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := rollout.DryRun(context.Background(), spec, rollout.DryRunConfig{Gates: []string{"zk (masters, 30s)", "web (agents, 10s)"}})
	if err != nil {
		t.Fatal(err)
	}
	out := strings.Join(lines, "\n")
	t.Log("\n" + out)
	// Every node: one PATCH of instance_info and extra, then one rebuild, in the plan's order.
	var order []string
	for _, l := range lines {
		if strings.Contains(l, `"target":"rebuild"`) {
			for _, n := range spec.Nodes {
				if strings.Contains(l, n.IronicID) {
					order = append(order, n.Name)
				}
			}
		}
	}
	var want []string
	for _, w := range spec.Waves {
		want = append(want, w.Nodes...)
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("rebuilds in order %v; want the waves' order %v", order, want)
	}
	if n := strings.Count(out, "PATCH /v1/nodes/"); n != 2*len(spec.Nodes) {
		t.Errorf("%d PATCHes; want two per node (prepare, finalize) for %d nodes", n, len(spec.Nodes))
	}
	for _, want := range []string{"image_source", "http://images.example/images/", "gates after srv00000: zk (masters, 30s)", "gates after the wave", "a real run would halt here", "unreachable"} {
		if !strings.Contains(out, want) {
			t.Errorf("dry run does not show %q", want)
		}
	}
	if strings.Contains(out, "user_data") {
		t.Error("the dry run shows the config drive's content")
	}
}

// missingImages resolves nothing.
type missingImages struct{}

func (missingImages) Resolve(context.Context, string) (ironic.Image, error) {
	return ironic.Image{}, errors.New("not published")
}

func TestAnUnpublishedImageIsReportedOnceWithTheNodesThatNeedIt(t *testing.T) {
	f := &fixture{t: t, cluster: "c000"}
	v1 := f.snapshot(fleetConfig(12), "v1")
	cfg2 := fleetConfig(12)
	cfg2.AgentPackages = "xfsprogs=6.1.0-1 jq"
	v2 := f.snapshot(cfg2, "v2")
	_, err := rollout.NewSpec(context.Background(), plan.Compute(v1, v2), "c000", v2.Repo, "acme/fleet", "cli", missingImages{})
	if err == nil {
		t.Fatal("a rollout of unpublished images was specified")
	}
	msg := err.Error()
	if strings.Count(msg, "not published") != 1 || !strings.Contains(msg, "image agent (") || !strings.Contains(msg, "needed by srv00005, srv00006") {
		t.Errorf("error = %s; want the agent image once, with the agents that need it", msg)
	}
}
