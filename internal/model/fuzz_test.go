package model_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/render"
	"github.com/cluster-as-code/cluster-as-code/internal/validate"
)

// fuzzPaths are the places a fuzzed file is put: one of each kind the loader decodes.
var fuzzPaths = []string{
	"inventory/site.yaml",
	"clusters/c.yaml",
	"images/x/image.yaml",
	"images/x/Dockerfile",
	"specs/images/x.yaml",
	"specs/clusters/c.yaml",
}

// FuzzLoad feeds arbitrary bytes to the loader as every kind of file, then validates, plans
// and renders. Nothing may panic or hang, every finding must point into a file, and YAML the
// parser rejects must be reported as yaml-syntax. The seed corpus (the example fleet's files
// and tricky YAML) runs as part of go test.
func FuzzLoad(f *testing.F) {
	for _, dir := range []string{"inventory", "clusters", "specs/images", "specs/clusters", "images/base", "images/mesos-agent"} {
		entries, _ := os.ReadDir(filepath.Join("..", "..", dir))
		for _, e := range entries {
			if data, err := os.ReadFile(filepath.Join("..", "..", dir, e.Name())); err == nil && !e.IsDir() {
				f.Add(data)
			}
		}
	}
	for _, seed := range []string{
		"",
		"---\n---\n",
		"a: &a\n  b: *a\n",
		"racks:\n  - &r\n    name: r\n    devices: [*r, *r]\n",
		"x: &x [1, 2]\nracks: [*x, *x, *x]\n",
		"hardware_profiles:\n  p: &p {vendor: v, model: m, flavor: f}\nracks:\n  - {name: r, location: l, size: 2, devices: [{server: {<<: *p, name: s}}]}\n",
		"clusters:\n  c:\n    masters:\n      n: {<<: [*a, *b]}\n",
		"clusters: {c: {marathon: {password: [1, 2]}}}\n",
		"\t- tab\n",
		"a: 'unterminated\n",
		"{{{{{{{{{{{{{{{{{{{{",
		"ARG PARENT_IMAGE\nFROM ${PARENT_IMAGE}\nRUN a \\\n  b\n",
		"a: 0x1F\nb: !!binary aGVsbG8=\nc: 2016-09-09\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fsys := fstest.MapFS{}
		for _, p := range fuzzPaths {
			fsys[p] = &fstest.MapFile{Data: data, Mode: 0o644}
		}
		repo, findings, err := model.Load(context.Background(), fsys)
		if err != nil {
			t.Fatalf("Load returned an error for file content: %v", err)
		}
		findings = append(findings, validate.Check(repo)...)
		for _, fd := range findings {
			if fd.File == "" || fd.Rule == "" || fd.Message == "" {
				t.Fatalf("finding without file, rule or message: %+v", fd)
			}
			if fd.Rule == model.RuleYAMLSyntax && fd.Line < 1 {
				t.Fatalf("yaml-syntax finding without a line: %+v", fd)
			}
		}
		head := plan.Snapshot{Rev: "head", Repo: repo, FS: fsys, Findings: findings}
		base := plan.Snapshot{Rev: "base", Repo: &model.Repo{}, FS: model.Empty()}
		p := plan.Compute(base, head)
		if finding.Errors(findings) > 0 && p.Valid {
			t.Fatal("a plan with errors is marked valid")
		}
		if md := render.Markdown(p, 0); len(md) > render.MaxMarkdown || !strings.Contains(md, "## Plan") {
			t.Fatalf("markdown of %d bytes, or without its heading", len(md))
		}
		if _, err := render.JSON(p); err != nil {
			t.Fatal(err)
		}
	})
}
