package rollout

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// DryRunConfig is what a dry run reads from.
type DryRunConfig struct {
	// Read is a real Ironic to read nodes from (never written to); nil means the nodes are
	// taken to be as the plan's base says: active with the base's image id and config hash,
	// or available for new nodes.
	Read ironic.API
	// Gates lists the gates by name (health.Gates.Describe); they are shown, not run.
	Gates []string
	// ConfigDrive builds config drives; nil means a placeholder. A dry run's drives should not
	// resolve secrets.
	ConfigDrive DriveFunc
	// Ironic is the provisioner's configuration (timeouts); its URL is not used.
	Ironic ironic.Config
	// Before describes what a real run's Runner.BeforeNode would do for a node joining a
	// running cluster ("" for nothing); it is shown, not done. Nil means nothing is shown.
	Before func(n Node) string
}

// DryRun walks spec with the same interpreter as a real rollout, over a recording
// provisioner, and returns what a real run would do: per wave and node, the exact Ironic
// calls in order, and the gates it would wait for. Nothing is changed and nothing journaled.
func DryRun(ctx context.Context, spec Spec, cfg DryRunConfig) ([]string, error) {
	rec := ironic.NewRecorder(cfg.Read, seedNodes(spec, cfg.Read), seedPorts(spec, cfg.Read))
	icfg := cfg.Ironic
	icfg.PollInterval = time.Millisecond
	out := &transcript{}
	prov := &dryProvisioner{inner: ironic.NewProvisioner(rec, icfg), rec: rec, out: out}
	drive := cfg.ConfigDrive
	if drive == nil {
		drive = func(_ context.Context, node string, _ bool) (json.RawMessage, error) {
			return json.RawMessage(`{"meta_data":{"name":` + quoteJSON(node) + `}}`), nil
		}
	}
	r := &Runner{
		Journal:     NewMemoryJournal(),
		Provisioner: prov,
		Gates:       dryGates{names: cfg.Gates, spec: spec, out: out},
		ConfigDrive: drive,
		Sequential:  true,
		BeforeNode:  dryBefore(cfg.Before, out),
		Events: func(e store.RolloutEvent) {
			if e.Step == StepWave && e.Phase == string(ironic.Begin) {
				out.add(fmt.Sprintf("wave %d: %s", e.Wave, e.Detail))
			}
		},
	}
	id, err := r.Create(ctx, spec)
	if err != nil {
		return nil, err
	}
	err = r.Run(ctx, id)
	return out.lines, err
}

func quoteJSON(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// seedNodes are the nodes as the plan's base has them, for a dry run without Ironic.
func seedNodes(spec Spec, read ironic.API) []ironic.Node {
	if read != nil {
		return nil
	}
	var out []ironic.Node
	for _, n := range spec.Nodes {
		node := ironic.Node{UUID: n.IronicID, Name: n.Name, Driver: "ipmi", ProvisionState: "active",
			ProvisionUpdatedAt: "2000-01-01T00:00:00.000000+00:00", Extra: map[string]any{}, InstanceInfo: map[string]any{}}
		switch {
		case n.Action == plan.Provision:
			node.ProvisionState = "available"
		case n.BaseImageID != "":
			node.Extra[ironic.ExtraImageID] = n.BaseImageID
			node.Extra[ironic.ExtraConfigHash] = n.BaseConfigHash
		}
		out = append(out, node)
	}
	return out
}

func seedPorts(spec Spec, read ironic.API) []ironic.Port {
	if read != nil {
		return nil
	}
	var out []ironic.Port
	for _, n := range spec.Nodes {
		for _, mac := range n.MACs {
			out = append(out, ironic.Port{NodeUUID: n.IronicID, Address: mac})
		}
	}
	return out
}

// transcript collects a dry run's lines.
type transcript struct {
	mu    sync.Mutex
	lines []string
}

func (t *transcript) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, line)
}

// dryProvisioner runs the real provisioner over the recorder and copies each node's calls
// into the transcript. The runner is Sequential, so calls belong to the node being worked.
type dryProvisioner struct {
	inner *ironic.Provisioner
	rec   *ironic.Recorder
	out   *transcript
}

func (d *dryProvisioner) calls(from int, indent string) {
	for _, c := range d.rec.Calls()[from:] {
		d.out.add(indent + c.String())
	}
}

func (d *dryProvisioner) Preflight(ctx context.Context, targets []ironic.Target) error {
	from := len(d.rec.Calls())
	d.out.add(fmt.Sprintf("preflight: %d nodes", len(targets)))
	err := d.inner.Preflight(ctx, targets)
	d.calls(from, "  ")
	if err != nil {
		// Shown, not obeyed: the dry run goes on to show what would follow once it is fixed.
		d.out.add("  a real run would halt here: " + strings.ReplaceAll(err.Error(), "\n", "\n  "))
		d.out.add("  (the calls below assume the problems are fixed)")
	}
	return nil
}

func (d *dryProvisioner) Deploy(ctx context.Context, t ironic.Target, obs ironic.Observer) (ironic.Result, error) {
	from := len(d.rec.Calls())
	d.out.add(fmt.Sprintf("  node %s (%s): image %.12s, config %.12s", t.Node, t.IronicID, t.ImageID, t.ConfigHash))
	res, err := d.inner.Deploy(ctx, t, obs)
	d.calls(from, "    ")
	if err == nil {
		d.out.add(fmt.Sprintf("    → %s", res.Outcome))
	}
	return res, err
}

func (d *dryProvisioner) Undeploy(ctx context.Context, t ironic.Target, obs ironic.Observer) (ironic.Result, error) {
	from := len(d.rec.Calls())
	d.out.add(fmt.Sprintf("  node %s (%s): decommission", t.Node, t.IronicID))
	res, err := d.inner.Undeploy(ctx, t, obs)
	d.calls(from, "    ")
	return res, err
}

// dryBefore shows what BeforeNode would do, before the node's Ironic calls.
func dryBefore(describe func(Node) string, out *transcript) func(context.Context, Node) error {
	if describe == nil {
		return nil
	}
	return func(_ context.Context, n Node) error {
		if line := describe(n); line != "" {
			out.add(fmt.Sprintf("  before node %s: %s", n.Name, line))
		}
		return nil
	}
}

// dryGates shows the gates a real run would wait for. Gate names are as health.Gates
// describes them: "name (role, timeout)".
type dryGates struct {
	names []string
	spec  Spec
	out   *transcript
}

func (g dryGates) AfterNode(_ context.Context, node string) error {
	n, _ := g.spec.Node(node)
	var mine []string
	for _, name := range g.names {
		if strings.Contains(name, "("+string(n.Role)+",") {
			mine = append(mine, name)
		}
	}
	if len(mine) > 0 {
		g.out.add(fmt.Sprintf("    gates after %s: %s", node, strings.Join(mine, "; ")))
	}
	return nil
}

func (g dryGates) AfterWave(context.Context) error {
	if len(g.names) > 0 {
		g.out.add("  gates after the wave: " + strings.Join(g.names, "; "))
	}
	return nil
}
