package validate_test

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/validate"
)

// validDir is a small fleet that loads and validates without a single finding. Every broken
// case in rules_test.go is this fleet with one mistake in it.
const validDir = "testdata/valid"

// fixture returns an in-memory copy of the valid fleet, for a case to break.
func fixture(t *testing.T) fstest.MapFS {
	t.Helper()
	src := os.DirFS(validDir)
	out := fstest.MapFS{}
	err := fs.WalkDir(src, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(src, p)
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = &fstest.MapFile{Data: data, Mode: info.Mode()}
		return nil
	})
	if err != nil {
		t.Fatalf("copying %s: %v", validDir, err)
	}
	return out
}

// check loads fsys and validates it, returning the loader's and the validator's findings.
func check(t *testing.T, fsys fs.FS) (*model.Repo, []finding.Finding) {
	t.Helper()
	repo, findings, err := model.Load(context.Background(), fsys)
	if err != nil {
		t.Fatalf("model.Load: %v", err)
	}
	return repo, append(findings, validate.Check(repo)...)
}

// list renders findings one per line for failure messages.
func list(fs []finding.Finding) string {
	if len(fs) == 0 {
		return "\t(none)"
	}
	var b strings.Builder
	for _, f := range fs {
		fmt.Fprintf(&b, "\t%s\n", f)
	}
	return strings.TrimRight(b.String(), "\n")
}

func TestValidFleet(t *testing.T) {
	repo, findings := check(t, os.DirFS(validDir))
	if len(findings) != 0 {
		t.Errorf("the valid fleet has %d findings, want none:\n%s", len(findings), list(findings))
	}

	// The fleet must hold what the broken cases break; an empty fleet would also be valid.
	counts := []struct {
		what      string
		got, want int
	}{
		{"hardware profiles", len(repo.Profiles), 1},
		{"racks", len(repo.Racks), 1},
		{"switches", len(repo.Switches), 2},
		{"servers", len(repo.Servers), 5},
		{"image variants", len(repo.Variants), 1},
		{"clusters", len(repo.Clusters), 1},
		{"images", len(repo.Images), 2},
		{"image specs", len(repo.ImageSpecs), 1},
		{"cluster specs", len(repo.ClusterSpecs), 1},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("the valid fleet has %d %s, want %d", c.got, c.what, c.want)
		}
	}
	if len(repo.Clusters) == 1 {
		cl := repo.Clusters[0]
		for _, rc := range []struct {
			role model.Role
			want int
		}{{model.Masters, 3}, {model.DNSServers, 0}, {model.Agents, 1}} {
			if got := len(cl.RoleNodes(rc.role)); got != rc.want {
				t.Errorf("cluster %s has %d %s, want %d", cl.Name.V, got, rc.role, rc.want)
			}
		}
	}
	if img := repo.Image("child"); img == nil || img.Parent.V != "base" || img.Dockerfile == nil {
		t.Errorf("image child = %+v, want one built on base with a Dockerfile", img)
	}
}

// TestRuleIDsUnique guards the table below: two rules with one id would make a case ambiguous.
func TestRuleIDsUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range validate.Rules() {
		if r.ID == "" || r.Summary == "" {
			t.Errorf("rule %+v has no id or no summary", r)
		}
		if seen[r.ID] {
			t.Errorf("rule %q is listed twice in Rules()", r.ID)
		}
		seen[r.ID] = true
	}
}
