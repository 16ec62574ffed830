package render_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/fleetgen"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/render"
	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// exampleFleet reads the repository's own example fleet into an editable map.
func exampleFleet(t *testing.T) map[string]repofs.File {
	t.Helper()
	snap, err := repofs.FromDir(filepath.Join("..", ".."), model.Folders()...)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]repofs.File{}
	for _, p := range snap.Paths() {
		data, err := snap.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		mode, _ := snap.Mode(p)
		files[p] = repofs.File{Data: data, Mode: mode}
	}
	return files
}

// edit replaces old with new in one file, failing when old is not there exactly once.
func edit(t *testing.T, files map[string]repofs.File, path, old, new string) {
	t.Helper()
	f, ok := files[path]
	if !ok || strings.Count(string(f.Data), old) != 1 {
		t.Fatalf("%s does not contain %q exactly once", path, old)
	}
	f.Data = []byte(strings.Replace(string(f.Data), old, new, 1))
	files[path] = f
}

func snapshot(t *testing.T, r *fleet.Reader, files map[string]repofs.File, rev, commit string) plan.Snapshot {
	t.Helper()
	fsys := model.Empty()
	if files != nil {
		s, err := repofs.New(files)
		if err != nil {
			t.Fatal(err)
		}
		fsys = s
	}
	snap, err := r.Load(context.Background(), fsys, rev, commit)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file; run `go test ./internal/render -update` and review the diff.\ngot:\n%s", name, got)
	}
}

const (
	baseCommit = "1111111111111111111111111111111111111111"
	headCommit = "2222222222222222222222222222222222222222"
)

// changedFleet is the example fleet after a pull request that rebuilds the agent image,
// points the Marathon password at a new secret and removes agent facit.
func changedFleet(t *testing.T) map[string]repofs.File {
	files := exampleFleet(t)
	df := files["images/mesos-agent/Dockerfile"]
	df.Data = append(df.Data, "LABEL org.cluster-as-code.rebuild=\"2\"\n"...)
	files["images/mesos-agent/Dockerfile"] = df
	edit(t, files, "clusters/green-cluster.yaml", "secret: vault:secret/green-cluster/marathon#password", "secret: vault:secret/green-cluster/marathon-2026#password")
	cluster := string(files["clusters/green-cluster.yaml"].Data)
	start := strings.Index(cluster, "      facit:\n")
	end := strings.Index(cluster[start:], "image: *mesos-agent-persistent-storage\n") + start + len("image: *mesos-agent-persistent-storage\n")
	edit(t, files, "clusters/green-cluster.yaml", cluster[start:end], "")
	return files
}

func TestGolden(t *testing.T) {
	cases := []struct {
		name       string
		base, head func(*testing.T) map[string]repofs.File
	}{
		{"bootstrap", func(*testing.T) map[string]repofs.File { return nil }, exampleFleet},
		{"change", exampleFleet, changedFleet},
		{"no-change", exampleFleet, exampleFleet},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := fleet.NewReader()
			base := snapshot(t, r, c.base(t), "main", baseCommit)
			head := snapshot(t, r, c.head(t), "pull/7/head", headCommit)
			p := plan.Compute(base, head)
			js, err := render.JSON(p)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.name+".md", []byte(render.Markdown(p, 0)))
			golden(t, c.name+".json", js)
		})
	}
}

// TestChangePlan asserts what a reviewer of the change must see, independently of the golden
// files (which -update would accept whatever they say).
func TestChangePlan(t *testing.T) {
	r := fleet.NewReader()
	p := plan.Compute(snapshot(t, r, exampleFleet(t), "main", baseCommit), snapshot(t, r, changedFleet(t), "pr", headCommit))
	if len(p.Images) != 1 || p.Images[0].Variant != "mesos-agent-persistent-storage" || p.Images[0].Action != plan.ImageBuild {
		t.Fatalf("images: got %+v, want one build of mesos-agent-persistent-storage", p.Images)
	}
	if !strings.Contains(strings.Join(p.Images[0].Reasons, ";"), "Dockerfile") {
		t.Errorf("image reasons %q do not name the Dockerfile", p.Images[0].Reasons)
	}
	c := p.Clusters[0]
	if c.Counts != (plan.Counts{Reprovision: 3 + 7, Decommission: 1, Unchanged: 2}) {
		t.Errorf("counts: got %+v, want 10 re-provisioned (3 masters for the secret, 7 agents for the image), 1 decommissioned, 2 unchanged", c.Counts)
	}
	var roles []string
	for _, w := range c.Waves {
		roles = append(roles, string(w.Role)+":"+string(w.Action)+":"+strings.Join(w.Nodes, ","))
	}
	want := []string{
		"masters:reprovision:able", "masters:reprovision:theta", "masters:reprovision:frozen",
		"agents:reprovision:earner,farlo", "agents:reprovision:cirrus,overall", "agents:reprovision:subsidy,senior", "agents:reprovision:draft",
		"agents:decommission:facit",
	}
	if strings.Join(roles, " ") != strings.Join(want, " ") {
		t.Errorf("waves:\ngot  %v\nwant %v", roles, want)
	}
	for _, n := range c.Nodes {
		if n.Name == "able" && strings.Join(n.Reasons, ";") != "marathon.password changed" {
			t.Errorf("able's reasons: got %q, want only the secret, without its value", n.Reasons)
		}
	}
}

func TestSecretsNeverRendered(t *testing.T) {
	const literal = "ZjX4F9nslBeoo7pbDkto"
	files := exampleFleet(t)
	edit(t, files, "clusters/green-cluster.yaml", "      password:\n        secret: vault:secret/green-cluster/marathon#password", "      password: "+literal)
	r := fleet.NewReader()
	p := plan.Compute(snapshot(t, r, exampleFleet(t), "main", baseCommit), snapshot(t, r, files, "pr", headCommit))
	js, err := render.JSON(p)
	if err != nil {
		t.Fatal(err)
	}
	md := render.Markdown(p, 0)
	for name, out := range map[string]string{"markdown": md, "json": string(js)} {
		if strings.Contains(out, literal) {
			t.Errorf("the %s plan shows the literal password", name)
		}
	}
	if p.Valid || !strings.Contains(md, "secret-literal") {
		t.Errorf("a literal secret must make the plan invalid and be named: valid=%v", p.Valid)
	}
	if !strings.Contains(md, "password: "+model.Masked) {
		t.Errorf("the diff does not show the masked password line")
	}
}

func TestMarkdownFitsGitHubLimit(t *testing.T) {
	gen := func(ns string) map[string]repofs.File {
		files := map[string]repofs.File{}
		for p, d := range fleetgen.Generate(fleetgen.Config{Racks: 75, Clusters: 30, Nameserver: ns}) {
			files[p] = repofs.File{Data: d, Mode: 0o644}
		}
		return files
	}
	r := fleet.NewReader()
	p := plan.Compute(snapshot(t, r, gen("10.0.0.53"), "main", baseCommit), snapshot(t, r, gen("10.0.0.54"), "pr", headCommit))
	if p.Summary.Reprovision != 3000 {
		t.Fatalf("reprovision: got %d, want 3000", p.Summary.Reprovision)
	}
	md := render.Markdown(p, 0)
	if len(md) > render.MaxMarkdown {
		t.Errorf("markdown is %d bytes, over GitHub's %d", len(md), render.MaxMarkdown)
	}
	for _, want := range []string{"Cut short", "bot plan --format json", "3000 nodes to re-provision"} {
		if !strings.Contains(md, want) {
			t.Errorf("truncated markdown lacks %q", want)
		}
	}
	if strings.Count(md, "<details>") != strings.Count(md, "</details>") || strings.Count(md, "```")%2 != 0 {
		t.Errorf("truncation left an open <details> or code fence")
	}
	if small := render.Markdown(p, 4000); len(small) > 4000 {
		t.Errorf("markdown with limit 4000 is %d bytes", len(small))
	}
}

func TestDeterministic(t *testing.T) {
	var outs []string
	var firstJSON []byte
	for workers := 1; workers <= 3; workers++ {
		r := &fleet.Reader{Loader: &model.Loader{Workers: workers}}
		p := plan.Compute(snapshot(t, r, exampleFleet(t), "main", baseCommit), snapshot(t, r, changedFleet(t), "pr", headCommit))
		js, err := render.JSON(p)
		if err != nil {
			t.Fatal(err)
		}
		if firstJSON == nil {
			firstJSON = js
		}
		outs = append(outs, string(js)+render.Markdown(p, 0))
	}
	for i := 1; i < len(outs); i++ {
		if outs[i] != outs[0] {
			t.Fatalf("run %d rendered differently from run 0", i)
		}
	}
	var decoded map[string]any
	if err := json.Unmarshal(firstJSON, &decoded); err != nil {
		t.Fatalf("JSON plan does not parse: %v", err)
	}
	if decoded["schema"] != plan.Schema {
		t.Errorf("schema: got %v, want %s", decoded["schema"], plan.Schema)
	}
}
