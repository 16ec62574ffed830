package githubtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
)

func TestReviews(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	s.SetPermission("octo", "fleet", "bob", "write")
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()

	s.Review("octo", "fleet", pr.Number, "bob", "APPROVED")
	gitRun(t, fx.dir, "checkout", "-q", "change")
	writeFile(t, fx.dir, "clusters/stage.yaml", "name: stage\nnodes: 2\n")
	gitRun(t, fx.dir, "commit", "-q", "-am", "size stage")
	gitRun(t, fx.dir, "checkout", "-q", "main")
	newHead := s.PushPullRequest("octo", "fleet", pr.Number).HeadSHA
	s.Review("octo", "fleet", pr.Number, "eve", "CHANGES_REQUESTED")
	s.Review("octo", "fleet", pr.Number, "bob", "COMMENTED")
	s.Review("octo", "fleet", pr.Number, "ada", "COMMENTED") // an author may comment
	dismissed := s.Review("octo", "fleet", pr.Number, "eve", "DISMISSED")
	if dismissed.State != "DISMISSED" || dismissed.CommitID != newHead {
		t.Errorf("dismissed review = %+v", dismissed)
	}
	if errs := rec.take(); len(errs) != 0 {
		t.Fatalf("reported failures %q", errs)
	}

	var got []string
	opts := &github.ListOptions{PerPage: 3}
	for {
		page, resp, err := c.PullRequests.ListReviews(ctx, "octo", "fleet", pr.Number, opts)
		if err != nil {
			t.Fatalf("list reviews: %v", err)
		}
		for _, rv := range page {
			got = append(got, fmt.Sprintf("%s %s %s %s", rv.GetUser().GetLogin(), rv.GetState(), rv.GetCommitID()[:7], rv.GetAuthorAssociation()))
			if rv.GetSubmittedAt().IsZero() || rv.GetID() == 0 || !strings.HasSuffix(rv.GetHTMLURL(), fmt.Sprintf("#pullrequestreview-%d", rv.GetID())) {
				t.Errorf("review %d: submitted %v html %s", rv.GetID(), rv.GetSubmittedAt(), rv.GetHTMLURL())
			}
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	want := []string{
		"bob APPROVED " + fx.headSHA[:7] + " COLLABORATOR",
		"eve DISMISSED " + newHead[:7] + " CONTRIBUTOR",
		"bob COMMENTED " + newHead[:7] + " COLLABORATOR",
		"ada COMMENTED " + newHead[:7] + " CONTRIBUTOR",
	}
	if !slices.Equal(got, want) {
		t.Errorf("reviews:\n got %q\nwant %q", got, want)
	}
	if n := len(s.Reviews("octo", "fleet", pr.Number)); n != 4 {
		t.Errorf("Reviews: %d, want 4", n)
	}

	// What GitHub refuses fails the test.
	for _, tc := range []struct{ login, state, complaint string }{
		{"ada", "APPROVED", "their own pull request"},
		{"ada", "CHANGES_REQUESTED", "their own pull request"},
		{"bob", "PENDING", "unknown state"},
		{"carl", "DISMISSED", "no approval or request for changes"},
	} {
		errs := rec.fatal(func() { s.Review("octo", "fleet", pr.Number, tc.login, tc.state) })
		if len(errs) != 1 || !strings.Contains(errs[0], tc.complaint) {
			t.Errorf("Review by %s %s: failures %q, want one mentioning %q", tc.login, tc.state, errs, tc.complaint)
		}
	}
	if _, resp, err := c.PullRequests.ListReviews(ctx, "octo", "fleet", 99, nil); err == nil || resp.StatusCode != 404 {
		t.Errorf("reviews of an unknown pull request: %v, want a 404", err)
	}
}

func TestMergeable(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()
	check := func(step string, mergeable *bool, state string) {
		t.Helper()
		got, _, err := c.PullRequests.Get(ctx, "octo", "fleet", pr.Number)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if optional(got.Mergeable) != optional(mergeable) || got.GetMergeableState() != state {
			t.Errorf("%s: mergeable %s %q, want %s %q", step, optional(got.Mergeable), got.GetMergeableState(), optional(mergeable), state)
		}
	}
	yes, no := true, false
	check("as opened", nil, "unknown")
	s.SetMergeable("octo", "fleet", pr.Number, &yes, "clean")
	check("clean", &yes, "clean")
	s.SetMergeable("octo", "fleet", pr.Number, &yes, "blocked")
	check("blocked", &yes, "blocked")
	s.SetMergeable("octo", "fleet", pr.Number, &no, "dirty")
	check("dirty", &no, "dirty")
	s.PushPullRequest("octo", "fleet", pr.Number)
	check("after a push", nil, "unknown")
	s.SetMergeable("octo", "fleet", pr.Number, &yes, "clean")
	s.MergePullRequest("octo", "fleet", pr.Number)
	check("merged", nil, "unknown")

	rec := &recorder{TB: t}
	s2 := New(rec)
	s2.AddRepo("octo", "fleet", fx.dir)
	pr2 := s2.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	if errs := rec.fatal(func() { s2.SetMergeable("octo", "fleet", pr2.Number, &yes, "mergeable") }); len(errs) != 1 || !strings.Contains(errs[0], "unknown mergeable_state") {
		t.Errorf("SetMergeable with a made-up state: failures %q", errs)
	}
}

// optional formats an optional bool: null, true or false.
func optional(b *bool) string {
	if b == nil {
		return "null"
	}
	return fmt.Sprint(*b)
}

func TestMergeAndAssociatedPullRequests(t *testing.T) {
	for _, bare := range []bool{false, true} {
		t.Run(fmt.Sprintf("bare=%v", bare), func(t *testing.T) {
			s := New(t)
			fx := newFixture(t)
			dir := fx.dir
			if bare {
				dir = t.TempDir()
				gitRun(t, dir, "clone", "-q", "--bare", fx.dir, ".")
			}
			s.AddRepo("octo", "fleet", dir)
			pr := s.OpenPullRequest("octo", "fleet", PullRequest{Title: "Grow prod", HeadRef: "change", Author: "ada"})
			other := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "bob"})
			c, _ := installationClient(t, s)
			ctx := context.Background()
			associated := func(ref string) []int {
				t.Helper()
				prs, _, err := c.PullRequests.ListPullRequestsWithCommit(ctx, "octo", "fleet", ref, nil)
				if err != nil {
					t.Fatalf("pull requests of %s: %v", ref, err)
				}
				var out []int
				for _, p := range prs {
					out = append(out, p.GetNumber())
					if p.GetHead().GetRepo().GetFullName() != "octo/fleet" || p.Mergeable != nil {
						t.Errorf("pull request %d: head repo %q, mergeable %v: not a simple pull request", p.GetNumber(), p.GetHead().GetRepo().GetFullName(), p.Mergeable)
					}
				}
				return out
			}

			// Before the merge the head is only on the branch: the open
			// pull requests have it.
			if got := associated(fx.headSHA); !slices.Equal(got, []int{pr.Number, other.Number}) {
				t.Errorf("before the merge: %v, want both open pull requests", got)
			}
			if got := associated(fx.baseSHA); len(got) != 0 {
				t.Errorf("the base commit: %v, want none", got)
			}

			merge := s.MergePullRequest("octo", "fleet", pr.Number)
			s.ClosePullRequest("octo", "fleet", other.Number, false)
			if got := gitRun(t, dir, "rev-parse", "main"); got != merge {
				t.Errorf("main is at %s, want the merge %s", got, merge)
			}
			parents := strings.Fields(gitRun(t, dir, "log", "-1", "--format=%P", merge))
			if !slices.Equal(parents, []string{fx.baseSHA, fx.headSHA}) {
				t.Errorf("merge parents %v, want main's and the head", parents)
			}
			if msg := gitRun(t, dir, "log", "-1", "--format=%B", merge); msg != "Merge pull request #1 from octo/change\n\nGrow prod" {
				t.Errorf("merge message %q", msg)
			}
			if !bare {
				if got := gitRun(t, dir, "show", "HEAD:clusters/prod.yaml"); !strings.Contains(got, "nodes: 5") {
					t.Errorf("checked out main: prod.yaml %q", got)
				}
				if status := gitRun(t, dir, "status", "--porcelain"); status != "" {
					t.Errorf("work tree after the merge: %q, want clean", status)
				}
			}
			got := s.PullRequest("octo", "fleet", pr.Number)
			if got.State != "closed" || !got.Merged || got.MergeCommitSHA != merge {
				t.Errorf("merged pull request = %+v", got)
			}
			fetched, _, err := c.PullRequests.Get(ctx, "octo", "fleet", pr.Number)
			if err != nil {
				t.Fatal(err)
			}
			if !fetched.GetMerged() || fetched.GetMergeCommitSHA() != merge {
				t.Errorf("GET merged %v merge commit %s", fetched.GetMerged(), fetched.GetMergeCommitSHA())
			}

			// On main now: the merged pull request brought both commits.
			for _, ref := range []string{merge, fx.headSHA, "main"} {
				if got := associated(ref); !slices.Equal(got, []int{pr.Number}) {
					t.Errorf("pull requests of %s after the merge: %v, want #%d", ref, got, pr.Number)
				}
			}
		})
	}
}

func TestClosePullRequestFindsMergeCommit(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	gitRun(t, fx.dir, "merge", "-q", "--squash", "change")
	gitRun(t, fx.dir, "commit", "-q", "-m", "Grow prod (#1)")
	squash := gitRun(t, fx.dir, "rev-parse", "HEAD")
	s.ClosePullRequest("octo", "fleet", pr.Number, true)
	c, _ := installationClient(t, s)
	prs, _, err := c.PullRequests.ListPullRequestsWithCommit(context.Background(), "octo", "fleet", squash, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(prs) != 1 || prs[0].GetNumber() != pr.Number || prs[0].GetMergeCommitSHA() != squash || prs[0].MergedAt == nil {
		t.Errorf("pull requests of the squash commit: %d, want #%d merged as %s", len(prs), pr.Number, squash)
	}
}
