package githubapp

import (
	"maps"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

func review(login, state string) *github.PullRequestReview {
	return &github.PullRequestReview{User: &github.User{Login: github.String(login)}, State: github.String(state)}
}

func run(name, status, conclusion string) *github.CheckRun {
	r := &github.CheckRun{Name: github.String(name), Status: github.String(status)}
	if conclusion != "" {
		r.Conclusion = github.String(conclusion)
	}
	return r
}

func runs(rs ...*github.CheckRun) map[string]*github.CheckRun {
	m := map[string]*github.CheckRun{}
	for _, r := range rs {
		m[r.GetName()] = r
	}
	return m
}

func TestApprovers(t *testing.T) {
	cases := []struct {
		name    string
		reviews []*github.PullRequestReview
		want    []string
	}{
		{"none", nil, nil},
		{"approved", []*github.PullRequestReview{review("bob", "APPROVED")}, []string{"bob"}},
		{"the author's own review does not count", []*github.PullRequestReview{review("Alice", "APPROVED")}, nil},
		{"a later comment keeps the approval", []*github.PullRequestReview{review("bob", "APPROVED"), review("bob", "COMMENTED")}, []string{"bob"}},
		{"a later request for changes withdraws it", []*github.PullRequestReview{review("bob", "APPROVED"), review("bob", "CHANGES_REQUESTED")}, nil},
		{"a dismissed approval does not count", []*github.PullRequestReview{review("bob", "DISMISSED")}, nil},
		{"approved again after requesting changes", []*github.PullRequestReview{review("bob", "CHANGES_REQUESTED"), review("bob", "APPROVED")}, []string{"bob"}},
		{"one reviewer's changes do not withdraw another's approval",
			[]*github.PullRequestReview{review("bob", "APPROVED"), review("carol", "CHANGES_REQUESTED")}, []string{"bob"}},
		{"logins differ in case only", []*github.PullRequestReview{review("Bob", "APPROVED"), review("bob", "DISMISSED")}, nil},
		{"a pending review is no decision", []*github.PullRequestReview{review("bob", "APPROVED"), review("bob", "PENDING")}, []string{"bob"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := approvers(c.reviews, "alice"); !reflect.DeepEqual(got, c.want) {
				t.Errorf("approvers = %v, want %v", got, c.want)
			}
		})
	}
}

func TestUnmet(t *testing.T) {
	yes, no := true, false
	const head = "0123456789abcdef0123456789abcdef01234567"
	met := applyFacts{
		head: head, author: "alice",
		runs:    runs(run("plan", "completed", "success"), run("image: agent", "completed", "success")),
		builds:  []string{"agent"},
		reviews: []*github.PullRequestReview{review("bob", "APPROVED")}, mergeable: &yes, mergeableState: "clean",
	}
	with := func(f func(*applyFacts)) applyFacts {
		c := met
		c.runs = maps.Clone(met.runs)
		f(&c)
		return c
	}
	cases := []struct {
		name  string
		reqs  []Requirement
		facts applyFacts
		want  []string // one per unmet requirement, each a part of its sentence
	}{
		{"all met", AllRequirements(), met, nil},
		{"no requirement", []Requirement{}, applyFacts{head: head}, nil},
		{"nothing met, each said once, in order", AllRequirements(), applyFacts{head: head, author: "alice", builds: []string{"agent"}},
			[]string{"**plan**: the head 0123456 has no `plan` check run", "**images**: the plan builds the image `agent` and the head 0123456 has no `image: agent` check run",
				"**approved**: no one but the author", "**mergeable**: GitHub has not computed yet"}},
		{"plan still running", AllRequirements(), with(func(f *applyFacts) {
			f.runs = runs(run("plan", "in_progress", ""), run("image: agent", "completed", "success"))
		}),
			[]string{"`plan` check run of the head 0123456 is still in progress"}},
		{"plan failed", AllRequirements(), with(func(f *applyFacts) {
			f.runs = runs(run("plan", "completed", "failure"), run("image: agent", "completed", "success"))
		}),
			[]string{"concluded `failure`, not `success`"}},
		{"a neutral plan (no change) is not a success", []Requirement{RequirePlan}, with(func(f *applyFacts) { f.runs = runs(run("plan", "completed", "neutral")) }),
			[]string{"concluded `neutral`"}},
		{"an image still building and another failed", []Requirement{RequireImages},
			with(func(f *applyFacts) {
				f.builds = []string{"agent", "dns"}
				f.runs = runs(run("plan", "completed", "success"), run("image: agent", "queued", ""), run("image: dns", "completed", "failure"))
			}),
			[]string{"`image: agent` is still queued", "`image: dns` concluded `failure`"}},
		{"an image check run of the head that failed counts, even if this plan does not build it", []Requirement{RequireImages},
			with(func(f *applyFacts) { f.runs["image: old"] = run("image: old", "completed", "cancelled") }),
			[]string{"`image: old` concluded `cancelled`"}},
		{"approved only by the author", []Requirement{RequireApproved}, with(func(f *applyFacts) {
			f.reviews = []*github.PullRequestReview{review("alice", "COMMENTED")}
		}), []string{"**approved**"}},
		{"conflicts", []Requirement{RequireMergeable}, with(func(f *applyFacts) { f.mergeable, f.mergeableState = &no, "dirty" }),
			[]string{"cannot be merged (mergeable state `dirty`)"}},
		{"a requirement not asked for is not checked", []Requirement{RequirePlan}, with(func(f *applyFacts) { f.mergeable = nil; f.reviews = nil }), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := unmet(c.reqs, c.facts)
			if len(got) != len(c.want) {
				t.Fatalf("unmet = %q, want %d sentences like %q", got, len(c.want), c.want)
			}
			for i := range got {
				if !strings.Contains(got[i], c.want[i]) {
					t.Errorf("unmet[%d] = %q, want it to say %q", i, got[i], c.want[i])
				}
			}
		})
	}
}

func TestParseRequirements(t *testing.T) {
	cases := []struct {
		in      string
		want    []Requirement
		wantErr string
	}{
		{"", AllRequirements(), ""},
		{"plan,images,approved,mergeable", AllRequirements(), ""},
		{" Approved , plan,plan", []Requirement{RequireApproved, RequirePlan}, ""},
		{"none", []Requirement{}, ""},
		{"NONE", []Requirement{}, ""},
		{"plan,reviewed", nil, `unknown apply requirement "reviewed"`},
		{"plan,none", nil, `unknown apply requirement "none"`},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseRequirements(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("error %v, want %q", err, c.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, c.want) || got == nil {
				t.Errorf("ParseRequirements(%q) = %#v, %v; want %#v", c.in, got, err, c.want)
			}
		})
	}
}

func TestSelectClusters(t *testing.T) {
	p := &plan.Plan{Valid: true, Clusters: []plan.ClusterPlan{
		{Name: "a", Waves: []plan.Wave{{Number: 1}}},
		{Name: "b"},
		{Name: "c", Waves: []plan.Wave{{Number: 1}}},
	}}
	cases := []struct {
		name     string
		args     []string
		clusters []string
		problems []string
	}{
		{"every cluster the plan changes", nil, []string{"a", "c"}, nil},
		{"named", []string{"c"}, []string{"c"}, nil},
		{"named twice", []string{"c", "c"}, []string{"c"}, nil},
		{"unchanged", []string{"a", "b"}, []string{"a"}, []string{"the plan changes nothing on `b` (it changes `a`, `c`)"}},
		{"unknown", []string{"x"}, nil, []string{"there is no cluster `x`"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clusters, problems := selectClusters(c.args, p, nil)
			if !reflect.DeepEqual(clusters, c.clusters) || len(problems) != len(c.problems) {
				t.Fatalf("selectClusters(%v) = %v, %q; want %v and %d problems", c.args, clusters, problems, c.clusters, len(c.problems))
			}
			for i := range problems {
				if !strings.Contains(problems[i], c.problems[i]) {
					t.Errorf("problem %q, want %q", problems[i], c.problems[i])
				}
			}
		})
	}
	if _, problems := selectClusters(nil, &plan.Plan{Valid: true}, nil); len(problems) != 1 || !strings.Contains(problems[0], "nothing to apply") {
		t.Errorf("a plan that changes no cluster: %q", problems)
	}
}
