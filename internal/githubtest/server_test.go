package githubtest

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
)

func TestAppAndInstallationToken(t *testing.T) {
	s := New(t)
	ctx := context.Background()

	app, _, err := appClient(t, s).Apps.Get(ctx, "")
	if err != nil {
		t.Fatalf("GET /app: %v", err)
	}
	if app.GetID() != s.AppID() || app.GetSlug() != s.AppSlug() {
		t.Errorf("GET /app = id %d slug %q, want %d %q", app.GetID(), app.GetSlug(), s.AppID(), s.AppSlug())
	}

	_, itr := installationClient(t, s)
	tok, err := itr.Token(ctx)
	if err != nil {
		t.Fatalf("installation token: %v", err)
	}
	if !strings.HasPrefix(tok, "ghs_") {
		t.Errorf("token = %q, want ghs_…", tok)
	}
	expires, _, err := itr.Expiry()
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(expires); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("token expires in %v, want an hour", d)
	}
}

func TestCheckRunWithManyAnnotations(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{Title: "Grow prod", BaseRef: "main", HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()

	var annotations []*github.CheckRunAnnotation
	for i := range 120 {
		annotations = append(annotations, &github.CheckRunAnnotation{
			Path:            github.String("clusters/prod.yaml"),
			StartLine:       github.Int(i + 1),
			EndLine:         github.Int(i + 1),
			AnnotationLevel: github.String("warning"),
			Message:         github.String(fmt.Sprintf("finding %d", i)),
		})
	}
	run, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", github.CreateCheckRunOptions{
		Name:       "plan",
		HeadSHA:    pr.HeadSHA,
		Status:     github.String("in_progress"),
		ExternalID: github.String("plan-1"),
		Output: &github.CheckRunOutput{
			Title:       github.String("Planning"),
			Summary:     github.String("working"),
			Annotations: annotations[:50],
		},
	})
	if err != nil {
		t.Fatalf("create check run: %v", err)
	}
	if len(run.PullRequests) != 1 || run.PullRequests[0].GetNumber() != pr.Number {
		t.Errorf("check run pull_requests = %v, want #%d", run.PullRequests, pr.Number)
	}
	for i := 50; i < len(annotations); i += 50 {
		opts := github.UpdateCheckRunOptions{Output: &github.CheckRunOutput{
			Title:       github.String("Plan"),
			Summary:     github.String("3 nodes re-provision"),
			Annotations: annotations[i:min(i+50, len(annotations))],
		}}
		if i+50 >= len(annotations) {
			opts.Conclusion = github.String("success")
			opts.Output.Text = github.String("details")
		}
		if _, _, err := c.Checks.UpdateCheckRun(ctx, "octo", "fleet", run.GetID(), opts); err != nil {
			t.Fatalf("update check run: %v", err)
		}
	}

	runs := s.CheckRuns("octo", "fleet")
	if len(runs) != 1 {
		t.Fatalf("got %d check runs, want 1", len(runs))
	}
	got := runs[0]
	if got.Name != "plan" || got.HeadSHA != pr.HeadSHA || got.Status != "completed" || got.Conclusion != "success" ||
		got.ExternalID != "plan-1" || got.Updates != 2 || got.CompletedAt.IsZero() {
		t.Errorf("check run = %+v", got)
	}
	if got.Output != (CheckRunOutput{Title: "Plan", Summary: "3 nodes re-provision", Text: "details"}) {
		t.Errorf("output = %+v", got.Output)
	}
	if len(got.Annotations) != 120 || got.Annotations[119].StartLine != 120 || got.Annotations[0].Message != "finding 0" {
		t.Errorf("got %d annotations (last %+v), want 120 in order", len(got.Annotations), got.Annotations[len(got.Annotations)-1])
	}

	fetched, _, err := c.Checks.GetCheckRun(ctx, "octo", "fleet", run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	if fetched.GetOutput().GetAnnotationsCount() != 120 || fetched.GetConclusion() != "success" {
		t.Errorf("GET check run: %d annotations, conclusion %q", fetched.GetOutput().GetAnnotationsCount(), fetched.GetConclusion())
	}
	// A second run of the same name: "latest" lists only the newer one.
	second, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", github.CreateCheckRunOptions{Name: "plan", HeadSHA: pr.HeadSHA})
	if err != nil {
		t.Fatal(err)
	}
	if second.GetID() <= run.GetID() {
		t.Errorf("ids %d then %d, want increasing", run.GetID(), second.GetID())
	}
	list, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo", "fleet", "change", &github.ListCheckRunsOptions{CheckName: github.String("plan")})
	if err != nil {
		t.Fatal(err)
	}
	if list.GetTotal() != 1 || list.CheckRuns[0].GetID() != second.GetID() || list.CheckRuns[0].GetStatus() != "queued" {
		t.Errorf("list for ref: %d runs, first %d %q, want the queued run %d", list.GetTotal(), list.CheckRuns[0].GetID(), list.CheckRuns[0].GetStatus(), second.GetID())
	}
	all, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo", "fleet", pr.HeadSHA, &github.ListCheckRunsOptions{Filter: github.String("all")})
	if err != nil {
		t.Fatal(err)
	}
	if all.GetTotal() != 2 {
		t.Errorf("filter=all listed %d runs, want 2", all.GetTotal())
	}

	creates, updates := 0, 0
	for _, r := range s.Requests() {
		switch {
		case r.Method == "POST" && r.Route == "/repos/{owner}/{repo}/check-runs":
			creates++
		case r.Method == "PATCH":
			updates++
		}
	}
	if creates != 2 || updates != 2 {
		t.Errorf("requests: %d creates, %d updates, want 2 and 2", creates, updates)
	}
}

func TestCommentsReactionsPermissions(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()

	comment, resp, err := c.Issues.CreateComment(ctx, "octo", "fleet", pr.Number, &github.IssueComment{Body: github.String("## Plan\n3 nodes")})
	if err != nil {
		t.Fatalf("create comment: %v", err)
	}
	if resp.StatusCode != http.StatusCreated || comment.GetUser().GetLogin() != s.BotLogin() || comment.GetUser().GetType() != "Bot" {
		t.Errorf("comment: status %d, user %q (%s)", resp.StatusCode, comment.GetUser().GetLogin(), comment.GetUser().GetType())
	}
	got := s.Comments("octo", "fleet", pr.Number)
	if len(got) != 1 || got[0].Body != "## Plan\n3 nodes" || got[0].User != s.BotLogin() || got[0].ID != comment.GetID() {
		t.Errorf("Comments = %+v", got)
	}

	_, userComment := s.IssueCommentEvent("octo", "fleet", pr.Number, "ada", "/apply")
	for i, want := range []int{http.StatusCreated, http.StatusOK} {
		_, resp, err := c.Reactions.CreateIssueCommentReaction(ctx, "octo", "fleet", userComment, "eyes")
		if err != nil {
			t.Fatalf("reaction %d: %v", i, err)
		}
		if resp.StatusCode != want {
			t.Errorf("reaction %d: status %d, want %d", i, resp.StatusCode, want)
		}
	}
	if _, _, err := c.Reactions.CreateIssueCommentReaction(ctx, "octo", "fleet", userComment, "rocket"); err != nil {
		t.Fatal(err)
	}
	if got := s.Reactions("octo", "fleet", userComment); !slices.Equal(got, []string{"eyes", "rocket"}) {
		t.Errorf("Reactions = %q, want eyes, rocket", got)
	}

	s.SetPermission("octo", "fleet", "ada", "maintain")
	s.SetPermission("octo", "fleet", "eve", "none")
	for _, tc := range []struct{ login, permission, role string }{
		{"ada", "write", "maintain"},
		{"bob", "read", "read"},
		{"eve", "none", "none"},
		{"octo", "admin", "admin"},
	} {
		p, _, err := c.Repositories.GetPermissionLevel(ctx, "octo", "fleet", tc.login)
		if err != nil {
			t.Fatalf("permission of %s: %v", tc.login, err)
		}
		if p.GetPermission() != tc.permission || p.GetRoleName() != tc.role || p.GetUser().GetLogin() != tc.login {
			t.Errorf("permission of %s = %q role %q user %q, want %q %q", tc.login, p.GetPermission(), p.GetRoleName(), p.GetUser().GetLogin(), tc.permission, tc.role)
		}
	}
}

func TestPullRequestAndCompare(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{Number: 7, Title: "Grow prod", BaseRef: "main", HeadRef: "change", Author: "ada"})
	if pr.HeadSHA != fx.headSHA || pr.BaseSHA != fx.baseSHA || pr.State != "open" {
		t.Fatalf("OpenPullRequest = %+v", pr)
	}
	c, _ := installationClient(t, s)
	ctx := context.Background()

	got, _, err := c.PullRequests.Get(ctx, "octo", "fleet", 7)
	if err != nil {
		t.Fatalf("get pull request: %v", err)
	}
	if got.GetHead().GetSHA() != fx.headSHA || got.GetBase().GetRef() != "main" || got.GetUser().GetLogin() != "ada" ||
		got.GetBase().GetRepo().GetFullName() != "octo/fleet" || got.GetState() != "open" {
		t.Errorf("pull request: head %s base %s user %s repo %s state %s",
			got.GetHead().GetSHA(), got.GetBase().GetRef(), got.GetUser().GetLogin(), got.GetBase().GetRepo().GetFullName(), got.GetState())
	}

	cmp, _, err := c.Repositories.CompareCommits(ctx, "octo", "fleet", "main", "change", nil)
	if err != nil {
		t.Fatalf("compare: %v", err)
	}
	if cmp.GetMergeBaseCommit().GetSHA() != fx.baseSHA || cmp.GetStatus() != "ahead" || cmp.GetAheadBy() != 1 ||
		cmp.GetBehindBy() != 0 || cmp.GetTotalCommits() != 1 || len(cmp.Commits) != 1 || cmp.Commits[0].GetSHA() != fx.headSHA {
		t.Errorf("compare: merge base %s status %s ahead %d behind %d total %d commits %d",
			cmp.GetMergeBaseCommit().GetSHA(), cmp.GetStatus(), cmp.GetAheadBy(), cmp.GetBehindBy(), cmp.GetTotalCommits(), len(cmp.Commits))
	}
	files := map[string]string{}
	for _, f := range cmp.Files {
		files[f.GetFilename()] = f.GetStatus() + " " + f.GetPreviousFilename() + fmt.Sprintf(" +%d-%d", f.GetAdditions(), f.GetDeletions())
		if f.GetSHA() == "" {
			t.Errorf("file %s has no sha", f.GetFilename())
		}
	}
	want := map[string]string{
		"README.md":                 "removed  +0-1",
		"clusters/prod.yaml":        "modified  +2-1",
		"clusters/stage.yaml":       "added  +1-0",
		"images/base/Containerfile": "renamed images/base/Dockerfile +0-0",
	}
	if fmt.Sprint(files) != fmt.Sprint(want) {
		t.Errorf("compare files:\n got %v\nwant %v", files, want)
	}

	same, _, err := c.Repositories.CompareCommits(ctx, "octo", "fleet", "main", fx.baseSHA, nil)
	if err != nil {
		t.Fatal(err)
	}
	if same.GetStatus() != "identical" || same.Files == nil || len(same.Files) != 0 || len(same.Commits) != 0 {
		t.Errorf("main...main: status %s, files %v, %d commits", same.GetStatus(), same.Files, len(same.Commits))
	}

	// The test moves main on: now the branches have diverged.
	writeFile(t, fx.dir, "inventory/racks.yaml", "racks:\n- name: r1\n- name: r2\n")
	gitRun(t, fx.dir, "commit", "-q", "-am", "second rack")
	cmp, _, err = c.Repositories.CompareCommits(ctx, "octo", "fleet", "main", "change", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cmp.GetStatus() != "diverged" || cmp.GetBehindBy() != 1 || cmp.GetMergeBaseCommit().GetSHA() != fx.baseSHA {
		t.Errorf("after a commit to main: status %s behind %d merge base %s", cmp.GetStatus(), cmp.GetBehindBy(), cmp.GetMergeBaseCommit().GetSHA())
	}
}

func TestTarball(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	c, _ := installationClient(t, s)
	ctx := context.Background()

	link, resp, err := c.Repositories.GetArchiveLink(ctx, "octo", "fleet", github.Tarball, &github.RepositoryContentGetOptions{Ref: fx.headSHA}, 1)
	if err != nil {
		t.Fatalf("archive link: %v", err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("archive link status %d, want 302", resp.StatusCode)
	}
	// The link carries its own token: download it without credentials.
	got, err := http.Get(link.String())
	if err != nil {
		t.Fatal(err)
	}
	defer got.Body.Close()
	if got.StatusCode != http.StatusOK {
		t.Fatalf("download: %s", got.Status)
	}
	zr, err := gzip.NewReader(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			files[h.Name] = string(b)
		}
	}
	prefix := "octo-fleet-" + fx.headSHA[:7] + "/"
	if files[prefix+"clusters/prod.yaml"] != "name: prod\nnodes: 5\nflavor: large\n" || files[prefix+"images/base/Containerfile"] == "" {
		t.Errorf("tarball files: %v", keys(files))
	}
	if _, ok := files[prefix+"README.md"]; ok {
		t.Errorf("tarball of the head has README.md, removed there")
	}

	// A forged token gets nothing.
	bad := *link
	bad.RawQuery = "token=forged"
	forged, err := http.Get(bad.String())
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusNotFound {
		t.Errorf("download with a forged token: %s, want 404", forged.Status)
	}
}

// TestSlashedRefs covers refs with slashes, which GitHub takes unescaped
// in the x-multi-segment parameters.
func TestSlashedRefs(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	gitRun(t, fx.dir, "branch", "feature/more", "change")
	s.AddRepo("octo", "fleet", fx.dir)
	c, _ := installationClient(t, s)
	ctx := context.Background()

	if _, _, err := c.Repositories.GetArchiveLink(ctx, "octo", "fleet", github.Tarball, &github.RepositoryContentGetOptions{Ref: "feature/more"}, 1); err != nil {
		t.Errorf("archive link of feature/more: %v", err)
	}
	cmp, _, err := c.Repositories.CompareCommits(ctx, "octo", "fleet", "main", "feature/more", nil)
	if err != nil {
		t.Fatalf("compare main...feature/more: %v", err)
	}
	if len(cmp.Files) != 4 {
		t.Errorf("compare main...feature/more: %d files, want 4", len(cmp.Files))
	}
	if _, _, err := c.Checks.ListCheckRunsForRef(ctx, "octo", "fleet", "feature/more", nil); err != nil {
		t.Errorf("check runs of feature/more: %v", err)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestFail(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()
	// Reset lies in the past, or go-github would not even try again.
	past := strconv.FormatInt(time.Now().Add(-time.Second).Unix(), 10)

	s.Fail("POST", "/repos/{owner}/{repo}/check-runs", 1, http.StatusForbidden,
		http.Header{"X-Ratelimit-Remaining": {"0"}, "X-Ratelimit-Limit": {"5000"}, "X-Ratelimit-Reset": {past}})
	opts := github.CreateCheckRunOptions{Name: "plan", HeadSHA: pr.HeadSHA}
	_, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", opts)
	var rateErr *github.RateLimitError
	if !errors.As(err, &rateErr) {
		t.Errorf("first create: %v, want a rate limit error", err)
	}
	if _, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", opts); err != nil {
		t.Errorf("second create: %v", err)
	}

	s.Fail("post", "/repos/octo/fleet/issues/{issue_number}/comments", 2, http.StatusForbidden, http.Header{"Retry-After": {"0"}})
	for i := range 2 {
		_, _, err := c.Issues.CreateComment(ctx, "octo", "fleet", pr.Number, &github.IssueComment{Body: github.String("plan")})
		var abuse *github.AbuseRateLimitError
		if !errors.As(err, &abuse) {
			t.Errorf("comment %d: %v, want a secondary rate limit error", i, err)
		}
	}
	if _, _, err := c.Issues.CreateComment(ctx, "octo", "fleet", pr.Number, &github.IssueComment{Body: github.String("plan")}); err != nil {
		t.Errorf("third comment: %v", err)
	}

	s.Fail("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", 1, http.StatusBadGateway, nil)
	if _, resp, err := c.PullRequests.Get(ctx, "octo", "fleet", pr.Number); err == nil || resp.StatusCode != http.StatusBadGateway {
		t.Errorf("get pull request: %v, want a 502", err)
	}

	if got := len(s.CheckRuns("octo", "fleet")); got != 1 {
		t.Errorf("%d check runs, want 1: failed requests change nothing", got)
	}
	if got := len(s.Comments("octo", "fleet", pr.Number)); got != 1 {
		t.Errorf("%d comments, want 1", got)
	}
	var statuses []int
	for _, r := range s.Requests() {
		if r.Route != "/app/installations/{installation_id}/access_tokens" {
			statuses = append(statuses, r.Status)
		}
	}
	if want := []int{403, 201, 403, 403, 201, 502}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
}

// TestConcurrentClients runs requests from several goroutines, as the bot
// does; run with -race.
func TestConcurrentClients(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()
	const workers = 8
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			name := fmt.Sprintf("image-%d", i)
			run, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", github.CreateCheckRunOptions{Name: name, HeadSHA: pr.HeadSHA})
			if err != nil {
				t.Errorf("%s: %v", name, err)
				return
			}
			if _, _, err := c.Checks.UpdateCheckRun(ctx, "octo", "fleet", run.GetID(), github.UpdateCheckRunOptions{Conclusion: github.String("success")}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if _, _, err := c.Issues.CreateComment(ctx, "octo", "fleet", pr.Number, &github.IssueComment{Body: github.String(name)}); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
	wg.Wait()
	runs := s.CheckRuns("octo", "fleet")
	ids := map[int64]bool{}
	for _, r := range runs {
		ids[r.ID] = true
		if r.Status != "completed" || r.Updates != 1 {
			t.Errorf("run %s: %s after %d updates", r.Name, r.Status, r.Updates)
		}
	}
	if len(runs) != workers || len(ids) != workers || len(s.Comments("octo", "fleet", pr.Number)) != workers {
		t.Errorf("%d runs (%d ids), %d comments, want %d of each", len(runs), len(ids), len(s.Comments("octo", "fleet", pr.Number)), workers)
	}
}

func TestPagination(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	gitRun(t, fx.dir, "checkout", "-q", "change")
	for i := range 2 {
		writeFile(t, fx.dir, fmt.Sprintf("clusters/c%d.yaml", i), "name: c\n")
		gitRun(t, fx.dir, "add", "-A")
		gitRun(t, fx.dir, "commit", "-q", "-m", fmt.Sprintf("cluster %d", i))
	}
	s.AddRepo("octo", "fleet", fx.dir)
	c, _ := installationClient(t, s)
	ctx := context.Background()

	// As the bot asks: one commit, but every file.
	cmp, resp, err := c.Repositories.CompareCommits(ctx, "octo", "fleet", "main", "change", &github.ListOptions{PerPage: 1})
	if err != nil {
		t.Fatal(err)
	}
	if cmp.GetTotalCommits() != 3 || len(cmp.Commits) != 1 || cmp.Commits[0].GetSHA() != fx.headSHA || len(cmp.Files) != 6 || resp.NextPage != 2 || resp.LastPage != 3 {
		t.Errorf("page 1: %d of %d commits (first %s), %d files, next %d last %d", len(cmp.Commits), cmp.GetTotalCommits(),
			cmp.Commits[0].GetSHA(), len(cmp.Files), resp.NextPage, resp.LastPage)
	}
	cmp, resp, err = c.Repositories.CompareCommits(ctx, "octo", "fleet", "main", "change", &github.ListOptions{PerPage: 1, Page: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(cmp.Commits) != 1 || len(cmp.Files) != 0 || resp.NextPage != 0 || resp.PrevPage != 2 {
		t.Errorf("page 3: %d commits, %d files, next %d prev %d", len(cmp.Commits), len(cmp.Files), resp.NextPage, resp.PrevPage)
	}

	head := gitRun(t, fx.dir, "rev-parse", "HEAD")
	for i := range 3 {
		if _, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", github.CreateCheckRunOptions{Name: fmt.Sprintf("image-%d", i), HeadSHA: head}); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	opts := &github.ListCheckRunsOptions{ListOptions: github.ListOptions{PerPage: 2}}
	for {
		list, resp, err := c.Checks.ListCheckRunsForRef(ctx, "octo", "fleet", head, opts)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.CheckRuns {
			names = append(names, r.GetName())
		}
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	if want := []string{"image-2", "image-1", "image-0"}; !slices.Equal(names, want) {
		t.Errorf("paged check runs %q, want %q", names, want)
	}
}
