package plan_test

import (
	"context"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/fleetgen"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/render"
	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

// snapshotOf turns generated files into an in-memory snapshot.
func snapshotOf(tb testing.TB, files map[string][]byte) *repofs.Snapshot {
	tb.Helper()
	m := make(map[string]repofs.File, len(files))
	for p, data := range files {
		m[p] = repofs.File{Data: data, Mode: 0o644}
	}
	s, err := repofs.New(m)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// loadAndPlan is the work of one pull request: load and validate base and head (sharing one
// loader, as the bot does), plan, and render the Markdown summary.
func loadAndPlan(tb testing.TB, base, head *repofs.Snapshot) *plan.Plan {
	ctx := context.Background()
	r := fleet.NewReader()
	b, err := r.LoadBase(ctx, base, "base", "")
	if err != nil {
		tb.Fatal(err)
	}
	h, err := r.Load(ctx, head, "head", "")
	if err != nil {
		tb.Fatal(err)
	}
	p := plan.Compute(b, h)
	_ = render.Markdown(p, 0)
	return p
}

// The target: 10,000 nodes in 100 clusters and 250 racks, load + validate + plan under
// 0.5 s and 300 MB peak on a 2-core machine. Peak memory is measured on the command line (see
// README); here B/op is the total allocated per plan.
func BenchmarkPlan10kNodes(b *testing.B) {
	base := snapshotOf(b, fleetgen.Generate(fleetgen.Config{}))
	cases := []struct {
		name string
		cfg  fleetgen.Config
		want func(*plan.Plan) bool
	}{
		{"one-image", fleetgen.Config{AgentPackages: "xfsprogs=6.1.0-1 gdisk=1.0.9-2.1"}, func(p *plan.Plan) bool {
			return p.Summary.ImagesToBuild == 1 && p.Summary.Reprovision == 100*95
		}},
		{"every-cluster", fleetgen.Config{Nameserver: "10.0.0.54"}, func(p *plan.Plan) bool {
			return p.Summary.ImagesToBuild == 0 && p.Summary.Reprovision == 10000
		}},
	}
	for _, c := range cases {
		head := snapshotOf(b, fleetgen.Generate(c.cfg))
		b.Run(c.name, func(b *testing.B) {
			p := loadAndPlan(b, base, head)
			if !p.Valid || !c.want(p) {
				b.Fatalf("unexpected plan: valid=%v summary=%+v first findings=%v", p.Valid, p.Summary, p.Findings[:min(3, len(p.Findings))])
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				loadAndPlan(b, base, head)
			}
		})
	}
}

func TestGeneratedFleetIsValid(t *testing.T) {
	files := fleetgen.Generate(fleetgen.Config{Racks: 5, ServersPerRack: 40, Clusters: 2})
	r := fleet.NewReader()
	s, err := r.Load(context.Background(), snapshotOf(t, files), "gen", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Findings) > 0 {
		t.Fatalf("the generated fleet has %d findings, first: %v", len(s.Findings), s.Findings[0])
	}
	if got := len(s.Repo.Servers); got != 200 {
		t.Errorf("servers: got %d, want 200", got)
	}
}
