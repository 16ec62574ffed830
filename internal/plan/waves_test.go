package plan_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

// example returns the repository's example fleet as editable files.
func example(t *testing.T) map[string][]byte {
	t.Helper()
	snap, err := repofs.FromDir(filepath.Join("..", ".."), model.Folders()...)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, p := range snap.Paths() {
		if files[p], err = snap.ReadFile(p); err != nil {
			t.Fatal(err)
		}
	}
	return files
}

func planOf(t *testing.T, base, head map[string][]byte) *plan.Plan {
	t.Helper()
	r := fleet.NewReader()
	var b plan.Snapshot
	var err error
	if base == nil {
		b, err = r.Empty(context.Background())
	} else {
		b, err = r.LoadBase(context.Background(), snapshotOf(t, base), "base", "")
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Load(context.Background(), snapshotOf(t, head), "head", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Findings) > 0 {
		t.Fatalf("head has findings: %v", h.Findings)
	}
	return plan.Compute(b, h)
}

func waveList(c plan.ClusterPlan) string {
	var out []string
	for _, w := range c.Waves {
		out = append(out, string(w.Role)+":"+string(w.Action)+":"+strings.Join(w.Nodes, ","))
	}
	return strings.Join(out, " ")
}

func TestWaves(t *testing.T) {
	const cluster = "clusters/green-cluster.yaml"
	cases := []struct {
		name  string
		base  func(map[string][]byte) map[string][]byte
		edit  func(map[string][]byte)
		waves string
	}{
		{
			name:  "bootstrap: every role's new nodes together, masters first",
			base:  func(map[string][]byte) map[string][]byte { return nil },
			edit:  func(map[string][]byte) {},
			waves: "masters:provision:able,theta,frozen dns_servers:provision:tobias,fitch agents:provision:earner,farlo,cirrus,overall,subsidy,senior,draft,facit",
		},
		{
			// theta's own address changes; every other node only learns the new master list.
			// theta goes first, so nobody is told of an address that does not answer yet.
			name: "a master moves: it goes first, then the others, one at a time",
			edit: func(f map[string][]byte) {
				f[cluster] = []byte(strings.Replace(string(f[cluster]), "ip: 10.11.11.152/24", "ip: 10.11.11.154/24", 1))
			},
			waves: "masters:reprovision:theta masters:reprovision:able masters:reprovision:frozen " +
				"dns_servers:reprovision:tobias dns_servers:reprovision:fitch " +
				"agents:reprovision:earner,farlo agents:reprovision:cirrus,overall agents:reprovision:subsidy,senior agents:reprovision:draft,facit",
		},
		{
			name: "the DNS domain changes: every node, in rollout order and batches",
			edit: func(f map[string][]byte) {
				f[cluster] = []byte(strings.Replace(string(f[cluster]), "data_domain: nodes.zbi.cba", "data_domain: nodes.example.org", 1))
			},
			waves: "masters:reprovision:able masters:reprovision:theta masters:reprovision:frozen " +
				"dns_servers:reprovision:tobias dns_servers:reprovision:fitch " +
				"agents:reprovision:earner,farlo agents:reprovision:cirrus,overall agents:reprovision:subsidy,senior agents:reprovision:draft,facit",
		},
		{
			name: "agents may go down four at a time",
			edit: func(f map[string][]byte) {
				s := strings.Replace(string(f[cluster]), "agents: 2", "agents: 4", 1)
				f[cluster] = []byte(strings.Replace(s, "data_domain: nodes.zbi.cba", "data_domain: nodes.example.org", 1))
			},
			waves: "masters:reprovision:able masters:reprovision:theta masters:reprovision:frozen " +
				"dns_servers:reprovision:tobias dns_servers:reprovision:fitch " +
				"agents:reprovision:earner,farlo,cirrus,overall agents:reprovision:subsidy,senior,draft,facit",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			head := example(t)
			c.edit(head)
			base := example(t)
			if c.base != nil {
				base = c.base(base)
			}
			p := planOf(t, base, head)
			if got := waveList(p.Clusters[0]); got != c.waves {
				t.Errorf("waves:\ngot  %s\nwant %s", got, c.waves)
			}
			for _, w := range p.Clusters[0].Waves {
				if w.Action == plan.Reprovision && w.Down != len(w.Nodes) || w.Action == plan.Provision && w.Down != 0 {
					t.Errorf("wave %d: %d nodes, %d down", w.Number, len(w.Nodes), w.Down)
				}
			}
		})
	}
}

func TestMasterMoveReasons(t *testing.T) {
	head := example(t)
	const cluster = "clusters/green-cluster.yaml"
	head[cluster] = []byte(strings.Replace(string(head[cluster]), "ip: 10.11.11.152/24", "ip: 10.11.11.154/24", 1))
	p := planOf(t, example(t), head)
	reasons := map[string]string{}
	for _, n := range p.Clusters[0].Nodes {
		reasons[n.Name] = strings.Join(n.Reasons, "; ")
	}
	if want := "lan.ip: 10.11.11.152/24 → 10.11.11.154/24"; !strings.Contains(reasons["theta"], want) {
		t.Errorf("theta: got %q, want it to contain %q", reasons["theta"], want)
	}
	if want := "master list changed: +theta=2@10.11.11.154/24 -theta=2@10.11.11.152/24"; reasons["earner"] != want {
		t.Errorf("earner: got %q, want %q", reasons["earner"], want)
	}
	if p.Summary.ImagesToBuild != 0 {
		t.Errorf("a network change must build no image, got %d", p.Summary.ImagesToBuild)
	}
}
