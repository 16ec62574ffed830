package githubapp

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

func TestConclusionAndTitle(t *testing.T) {
	cases := []struct {
		name       string
		plan       plan.Plan
		conclusion string
		title      string
	}{
		{"invalid head", plan.Plan{Valid: false, Summary: plan.Summary{Errors: 3, Reprovision: 2}}, "failure", "3 errors in the fleet: nothing may be applied"},
		{"one error", plan.Plan{Valid: false, Summary: plan.Summary{Errors: 1}}, "failure", "1 error in the fleet: nothing may be applied"},
		{"nothing changes", plan.Plan{Valid: true}, "neutral", "No change to images or nodes"},
		{"changes", plan.Plan{Valid: true, Summary: plan.Summary{ImagesToBuild: 1, Reprovision: 7, Decommission: 1}}, "success",
			"1 image to build, 7 nodes to re-provision, 1 node to decommission"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := conclusion(&c.plan); got != c.conclusion {
				t.Errorf("conclusion %q, want %q", got, c.conclusion)
			}
			if got := planTitle(&c.plan); got != c.title {
				t.Errorf("title %q, want %q", got, c.title)
			}
		})
	}
}

func TestAnnotationsOf(t *testing.T) {
	long := strings.Repeat("é", 40_000) // 80,000 bytes
	got := annotationsOf([]finding.Finding{
		{Pos: finding.Pos{File: "clusters/a.yaml", Line: 12, Col: 5}, Severity: finding.Error, Rule: "unknown-server", Message: "no server x"},
		{Pos: finding.Pos{File: "images/base/Dockerfile"}, Severity: finding.Warning, Rule: "unpinned", Message: long},
	})
	want0 := github.CheckRunAnnotation{Path: github.String("clusters/a.yaml"), StartLine: github.Int(12), EndLine: github.Int(12),
		StartColumn: github.Int(5), EndColumn: github.Int(5), AnnotationLevel: github.String("failure"),
		Title: github.String("unknown-server"), Message: github.String("no server x")}
	if !reflect.DeepEqual(*got[0], want0) {
		t.Errorf("got %+v\nwant %+v", github.Stringify(got[0]), github.Stringify(want0))
	}
	if got[1].GetStartLine() != 1 || got[1].GetAnnotationLevel() != "warning" || got[1].StartColumn != nil {
		t.Errorf("a finding about a whole file: %v, want line 1, a warning, no column", got[1])
	}
	if m := got[1].GetMessage(); len(m) > messageLimit || !utf8.ValidString(m) || !strings.HasSuffix(m, "…") {
		t.Errorf("long message: %d bytes, valid UTF-8 %v; want at most %d, cut at a rune and marked", len(m), utf8.ValidString(m), messageLimit)
	}
}
