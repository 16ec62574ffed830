package githubtest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-github/v66/github"
)

func TestSign(t *testing.T) {
	// The example of GitHub's "Validating webhook deliveries".
	got := Sign([]byte("It's a Secret to Everybody"), []byte("Hello, World!"))
	want := "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	if got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestWebhookRequestValidates(t *testing.T) {
	s := New(t)
	payload := s.PingEvent()
	req, err := s.WebhookRequest(context.Background(), "http://bot.invalid/webhook", "ping", payload, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := github.ValidatePayload(req, []byte("s3cret"))
	if err != nil {
		t.Fatalf("go-github refuses the delivery: %v", err)
	}
	if github.WebHookType(req) != "ping" || github.DeliveryID(req) == "" {
		t.Errorf("event %q delivery %q", github.WebHookType(req), github.DeliveryID(req))
	}
	ev, err := github.ParseWebHook("ping", got)
	if err != nil {
		t.Fatal(err)
	}
	if ping := ev.(*github.PingEvent); ping.GetHook().GetType() != "App" || ping.GetZen() == "" {
		t.Errorf("ping hook type %q zen %q, want an App's", ping.GetHook().GetType(), ping.GetZen())
	}
}

func TestPullRequestEvents(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{Title: "Grow prod", HeadRef: "change", Author: "ada", Draft: true})

	parse := func(payload []byte) *github.PullRequestEvent {
		t.Helper()
		ev, err := github.ParseWebHook("pull_request", payload)
		if err != nil {
			t.Fatal(err)
		}
		return ev.(*github.PullRequestEvent)
	}
	check := func(ev *github.PullRequestEvent, action, state, head string) {
		t.Helper()
		p := ev.GetPullRequest()
		if ev.GetAction() != action || ev.GetNumber() != pr.Number || p.GetNumber() != pr.Number || p.GetState() != state ||
			p.GetHead().GetSHA() != head || p.GetHead().GetRef() != "change" || p.GetBase().GetSHA() != fx.baseSHA ||
			p.GetBase().GetRef() != "main" || p.GetUser().GetLogin() != "ada" || p.GetTitle() != "Grow prod" {
			t.Errorf("%s: action %q number %d/%d state %q head %s@%s base %s@%s user %q title %q", action,
				ev.GetAction(), ev.GetNumber(), p.GetNumber(), p.GetState(), p.GetHead().GetRef(), p.GetHead().GetSHA(),
				p.GetBase().GetRef(), p.GetBase().GetSHA(), p.GetUser().GetLogin(), p.GetTitle())
		}
		if ev.GetRepo().GetFullName() != "octo/fleet" || ev.GetRepo().GetOwner().GetLogin() != "octo" || ev.GetRepo().GetName() != "fleet" ||
			ev.GetRepo().GetID() == 0 || ev.GetInstallation().GetID() != s.InstallationID() || ev.GetSender().GetLogin() != "ada" {
			t.Errorf("%s: repo %q (%d) installation %d sender %q", action, ev.GetRepo().GetFullName(), ev.GetRepo().GetID(),
				ev.GetInstallation().GetID(), ev.GetSender().GetLogin())
		}
	}

	opened := parse(s.PullRequestEvent("opened", "octo", "fleet", pr.Number))
	check(opened, "opened", "open", fx.headSHA)
	if !opened.GetPullRequest().GetDraft() {
		t.Errorf("opened: draft = false, want true")
	}
	check(parse(s.PullRequestEvent("ready_for_review", "octo", "fleet", pr.Number)), "ready_for_review", "open", fx.headSHA)

	gitRun(t, fx.dir, "checkout", "-q", "change")
	writeFile(t, fx.dir, "clusters/stage.yaml", "name: stage\nnodes: 1\n")
	gitRun(t, fx.dir, "commit", "-q", "-am", "size stage")
	newHead := gitRun(t, fx.dir, "rev-parse", "HEAD")
	if got := s.PushPullRequest("octo", "fleet", pr.Number); got.HeadSHA != newHead {
		t.Fatalf("PushPullRequest head %s, want %s", got.HeadSHA, newHead)
	}
	sync := parse(s.PullRequestEvent("synchronize", "octo", "fleet", pr.Number))
	check(sync, "synchronize", "open", newHead)
	if sync.GetBefore() != fx.headSHA || sync.GetAfter() != newHead {
		t.Errorf("synchronize: before %s after %s, want %s %s", sync.GetBefore(), sync.GetAfter(), fx.headSHA, newHead)
	}

	gitRun(t, fx.dir, "checkout", "-q", "main")
	gitRun(t, fx.dir, "merge", "-q", "--no-ff", "-m", "merge", "change")
	mergeCommit := gitRun(t, fx.dir, "rev-parse", "HEAD")
	s.ClosePullRequest("octo", "fleet", pr.Number, true)
	closed := parse(s.PullRequestEvent("closed", "octo", "fleet", pr.Number))
	check(closed, "closed", "closed", newHead)
	if !closed.GetPullRequest().GetMerged() || closed.GetPullRequest().GetMergeCommitSHA() != mergeCommit {
		t.Errorf("closed: merged %v merge commit %s, want true %s", closed.GetPullRequest().GetMerged(),
			closed.GetPullRequest().GetMergeCommitSHA(), mergeCommit)
	}
	check(parse(s.PullRequestEvent("reopened", "octo", "fleet", pr.Number)), "reopened", "closed", newHead)
}

func TestIssueCommentEvents(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	parse := func(payload []byte) *github.IssueCommentEvent {
		t.Helper()
		ev, err := github.ParseWebHook("issue_comment", payload)
		if err != nil {
			t.Fatal(err)
		}
		return ev.(*github.IssueCommentEvent)
	}

	for _, tc := range []struct {
		name     string
		number   int
		login    string
		userType string
		isPull   bool
	}{
		{"user on a pull request", pr.Number, "bob", "User", true},
		{"bot on a pull request", pr.Number, "dependabot[bot]", "Bot", true},
		{"user on an issue", 40, "bob", "User", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			payload, id := s.IssueCommentEvent("octo", "fleet", tc.number, tc.login, "/plan")
			ev := parse(payload)
			c := ev.GetComment()
			if ev.GetAction() != "created" || c.GetID() != id || c.GetBody() != "/plan" || c.GetUser().GetLogin() != tc.login ||
				c.GetUser().GetType() != tc.userType || ev.GetSender().GetLogin() != tc.login {
				t.Errorf("action %q comment %d %q by %q (%s), sender %q", ev.GetAction(), c.GetID(), c.GetBody(),
					c.GetUser().GetLogin(), c.GetUser().GetType(), ev.GetSender().GetLogin())
			}
			if ev.GetIssue().GetNumber() != tc.number || ev.GetIssue().IsPullRequest() != tc.isPull ||
				ev.GetRepo().GetFullName() != "octo/fleet" || ev.GetInstallation().GetID() != s.InstallationID() {
				t.Errorf("issue %d pull request %v repo %q installation %d", ev.GetIssue().GetNumber(), ev.GetIssue().IsPullRequest(),
					ev.GetRepo().GetFullName(), ev.GetInstallation().GetID())
			}
			stored := s.Comments("octo", "fleet", tc.number)
			if last := stored[len(stored)-1]; last.ID != id || last.User != tc.login {
				t.Errorf("stored comment %+v", last)
			}
		})
	}

	_, id := s.IssueCommentEvent("octo", "fleet", pr.Number, "bob", "/plan")
	edited := parse(s.IssueCommentEditedEvent("octo", "fleet", id, "/apply"))
	if edited.GetAction() != "edited" || edited.GetChanges().GetBody().GetFrom() != "/plan" || edited.GetComment().GetBody() != "/apply" {
		t.Errorf("edited: action %q from %q to %q", edited.GetAction(), edited.GetChanges().GetBody().GetFrom(), edited.GetComment().GetBody())
	}
}

func TestCheckEvents(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	run, _, err := c.Checks.CreateCheckRun(context.Background(), "octo", "fleet", github.CreateCheckRunOptions{
		Name: "plan", HeadSHA: pr.HeadSHA, Conclusion: github.String("failure"),
		Output: &github.CheckRunOutput{Title: github.String("Plan"), Summary: github.String("invalid")},
	})
	if err != nil {
		t.Fatal(err)
	}

	ev, err := github.ParseWebHook("check_run", s.CheckRunRerequestedEvent("octo", "fleet", run.GetID()))
	if err != nil {
		t.Fatal(err)
	}
	cr := ev.(*github.CheckRunEvent)
	if cr.GetAction() != "rerequested" || cr.GetCheckRun().GetID() != run.GetID() || cr.GetCheckRun().GetHeadSHA() != pr.HeadSHA ||
		cr.GetCheckRun().GetCheckSuite().GetID() != run.GetCheckSuite().GetID() || cr.GetCheckRun().GetApp().GetID() != s.AppID() ||
		cr.GetInstallation().GetID() != s.InstallationID() || cr.GetRepo().GetFullName() != "octo/fleet" {
		t.Errorf("check_run: %s run %d@%s suite %d app %d installation %d repo %s", cr.GetAction(), cr.GetCheckRun().GetID(),
			cr.GetCheckRun().GetHeadSHA(), cr.GetCheckRun().GetCheckSuite().GetID(), cr.GetCheckRun().GetApp().GetID(),
			cr.GetInstallation().GetID(), cr.GetRepo().GetFullName())
	}

	ev, err = github.ParseWebHook("check_suite", s.CheckSuiteRerequestedEvent("octo", "fleet", pr.HeadSHA))
	if err != nil {
		t.Fatal(err)
	}
	cs := ev.(*github.CheckSuiteEvent)
	suite := cs.GetCheckSuite()
	if cs.GetAction() != "rerequested" || suite.GetID() != run.GetCheckSuite().GetID() || suite.GetHeadSHA() != pr.HeadSHA ||
		suite.GetHeadBranch() != "change" || suite.GetStatus() != "completed" || suite.GetConclusion() != "failure" ||
		len(suite.PullRequests) != 1 || suite.GetBeforeSHA() != fx.baseSHA {
		t.Errorf("check_suite: %s suite %d@%s branch %q %s/%s prs %d before %s", cs.GetAction(), suite.GetID(), suite.GetHeadSHA(),
			suite.GetHeadBranch(), suite.GetStatus(), suite.GetConclusion(), len(suite.PullRequests), suite.GetBeforeSHA())
	}
}

// TestWebhookSchemasBite proves payloads are checked against the
// description's webhook schemas.
func TestWebhookSchemasBite(t *testing.T) {
	sp, err := loadedSpec()
	if err != nil {
		t.Fatal(err)
	}
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	var ev map[string]any
	if err := json.Unmarshal(s.PullRequestEvent("opened", "octo", "fleet", pr.Number), &ev); err != nil {
		t.Fatal(err)
	}
	if err := sp.validateWebhook("pull-request-opened", ev); err != nil {
		t.Fatalf("valid payload refused: %v", err)
	}
	ev["pull_request"].(map[string]any)["state"] = "merged"
	delete(ev, "number")
	err = sp.validateWebhook("pull-request-opened", ev)
	if err == nil || !strings.Contains(err.Error(), "number") || !strings.Contains(err.Error(), "state") {
		t.Errorf("got %v, want complaints about number and state", err)
	}
}

func TestCheckRunRequestedAction(t *testing.T) {
	rec := &recorder{TB: t}
	s := New(rec)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	c, _ := installationClient(t, s)
	ctx := context.Background()
	run, _, err := c.Checks.CreateCheckRun(ctx, "octo", "fleet", github.CreateCheckRunOptions{
		Name: "plan", HeadSHA: pr.HeadSHA, Status: github.String("in_progress"),
		Actions: []*github.CheckRunAction{{Label: "Plan again", Description: "Plan from scratch", Identifier: "replan"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Its buttons show once it completes.
	errs := rec.fatal(func() { s.CheckRunRequestedActionEvent("octo", "fleet", run.GetID(), "replan", "bob") })
	if len(errs) != 1 || !strings.Contains(errs[0], "is in_progress") {
		t.Errorf("pressing a button of a running check run: failures %q", errs)
	}
	// An update with actions replaces them; one without keeps them.
	for _, opts := range []github.UpdateCheckRunOptions{
		{Conclusion: github.String("success"), Actions: []*github.CheckRunAction{
			{Label: "Apply", Description: "Apply the plan to prod", Identifier: "apply"},
			{Label: "Discard", Description: "Forget this plan", Identifier: "discard"},
		}},
		{Output: &github.CheckRunOutput{Title: github.String("Plan"), Summary: github.String("3 nodes")}},
	} {
		if _, _, err := c.Checks.UpdateCheckRun(ctx, "octo", "fleet", run.GetID(), opts); err != nil {
			t.Fatal(err)
		}
	}
	want := []CheckRunAction{
		{Label: "Apply", Description: "Apply the plan to prod", Identifier: "apply"},
		{Label: "Discard", Description: "Forget this plan", Identifier: "discard"},
	}
	if got := s.CheckRuns("octo", "fleet")[0].Actions; !slices.Equal(got, want) {
		t.Errorf("actions %+v, want %+v", got, want)
	}

	ev, err := github.ParseWebHook("check_run", s.CheckRunRequestedActionEvent("octo", "fleet", run.GetID(), "apply", "bob"))
	if err != nil {
		t.Fatal(err)
	}
	cr := ev.(*github.CheckRunEvent)
	if cr.GetAction() != "requested_action" || cr.GetRequestedAction().Identifier != "apply" || cr.GetSender().GetLogin() != "bob" ||
		cr.GetCheckRun().GetID() != run.GetID() || cr.GetCheckRun().GetHeadSHA() != pr.HeadSHA || cr.GetCheckRun().GetConclusion() != "success" ||
		len(cr.GetCheckRun().PullRequests) != 1 || cr.GetInstallation().GetID() != s.InstallationID() || cr.GetRepo().GetFullName() != "octo/fleet" {
		t.Errorf("requested_action: %s %q by %s, run %d@%s %s, %d pull requests, installation %d, repo %s", cr.GetAction(),
			cr.GetRequestedAction().Identifier, cr.GetSender().GetLogin(), cr.GetCheckRun().GetID(), cr.GetCheckRun().GetHeadSHA(),
			cr.GetCheckRun().GetConclusion(), len(cr.GetCheckRun().PullRequests), cr.GetInstallation().GetID(), cr.GetRepo().GetFullName())
	}
	if errs := rec.take(); len(errs) != 0 {
		t.Fatalf("reported failures %q", errs)
	}
	// A button the run does not offer cannot be pressed.
	errs = rec.fatal(func() { s.CheckRunRequestedActionEvent("octo", "fleet", run.GetID(), "replan", "bob") })
	if len(errs) != 1 || !strings.Contains(errs[0], `offers no action "replan"`) {
		t.Errorf("pressing a button the run lacks: failures %q", errs)
	}
}

func TestPushEvent(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	merge := s.MergePullRequest("octo", "fleet", pr.Number)
	parse := func(payload []byte) *github.PushEvent {
		t.Helper()
		ev, err := github.ParseWebHook("push", payload)
		if err != nil {
			t.Fatal(err)
		}
		return ev.(*github.PushEvent)
	}

	ev := parse(s.PushEvent("octo", "fleet", fx.baseSHA, merge))
	if ev.GetRef() != "refs/heads/main" || ev.GetBefore() != fx.baseSHA || ev.GetAfter() != merge || ev.GetCreated() || ev.GetForced() ||
		ev.GetHeadCommit().GetID() != merge || ev.GetPusher().GetName() != "ada" || ev.GetSender().GetLogin() != "ada" ||
		ev.GetRepo().GetFullName() != "octo/fleet" || ev.GetRepo().GetDefaultBranch() != "main" || ev.GetInstallation().GetID() != s.InstallationID() {
		t.Errorf("push: ref %s %s..%s created %v forced %v head %s pusher %s sender %s repo %s (%s) installation %d", ev.GetRef(),
			ev.GetBefore(), ev.GetAfter(), ev.GetCreated(), ev.GetForced(), ev.GetHeadCommit().GetID(), ev.GetPusher().GetName(),
			ev.GetSender().GetLogin(), ev.GetRepo().GetFullName(), ev.GetRepo().GetDefaultBranch(), ev.GetInstallation().GetID())
	}
	var commits []string
	for _, c := range ev.Commits {
		commits = append(commits, fmt.Sprintf("%s +%v -%v ~%v", c.GetID()[:7], c.Added, c.Removed, c.Modified))
	}
	want := []string{
		fx.headSHA[:7] + " +[clusters/stage.yaml images/base/Containerfile] -[README.md images/base/Dockerfile] ~[clusters/prod.yaml]",
		// A merge commit's changes are from its first parent, main.
		merge[:7] + " +[clusters/stage.yaml images/base/Containerfile] -[README.md images/base/Dockerfile] ~[clusters/prod.yaml]",
	}
	if !slices.Equal(commits, want) {
		t.Errorf("commits:\n got %q\nwant %q", commits, want)
	}
	if ev.GetHeadCommit().GetMessage() != "Merge pull request #1 from octo/change\n\nUpdate change" {
		t.Errorf("head commit message %q", ev.GetHeadCommit().GetMessage())
	}

	// A push that creates the branch, by the owner: every commit is new.
	created := parse(s.PushEvent("octo", "fleet", "", fx.baseSHA))
	if !created.GetCreated() || created.GetBefore() != zeroSHA || len(created.Commits) != 1 || created.GetSender().GetLogin() != "octo" ||
		!slices.Equal(created.Commits[0].Added, []string{"README.md", "clusters/prod.yaml", "images/base/Dockerfile", "inventory/racks.yaml"}) {
		t.Errorf("created: %v before %s, %d commits (%v), sender %s", created.GetCreated(), created.GetBefore(), len(created.Commits),
			created.Commits[0].Added, created.GetSender().GetLogin())
	}
	// Back from the merge to the base: a forced push.
	if forced := parse(s.PushEvent("octo", "fleet", fx.headSHA, fx.baseSHA)); !forced.GetForced() || len(forced.Commits) != 0 ||
		forced.GetHeadCommit().GetID() != fx.baseSHA {
		t.Errorf("push from %s back to its parent: forced %v, %d commits, head %s", fx.headSHA, forced.GetForced(), len(forced.Commits),
			forced.GetHeadCommit().GetID())
	}
}

func TestPullRequestReviewEvent(t *testing.T) {
	s := New(t)
	fx := newFixture(t)
	s.AddRepo("octo", "fleet", fx.dir)
	pr := s.OpenPullRequest("octo", "fleet", PullRequest{HeadRef: "change", Author: "ada"})
	s.SetPermission("octo", "fleet", "bob", "maintain")
	review := s.Review("octo", "fleet", pr.Number, "bob", "APPROVED")
	ev, err := github.ParseWebHook("pull_request_review", s.PullRequestReviewEvent("octo", "fleet", pr.Number, review.ID))
	if err != nil {
		t.Fatal(err)
	}
	rv := ev.(*github.PullRequestReviewEvent)
	if rv.GetAction() != "submitted" || rv.GetReview().GetID() != review.ID || rv.GetReview().GetState() != "approved" ||
		rv.GetReview().GetCommitID() != pr.HeadSHA || rv.GetReview().GetUser().GetLogin() != "bob" || rv.GetSender().GetLogin() != "bob" ||
		rv.GetPullRequest().GetNumber() != pr.Number || rv.GetPullRequest().GetUser().GetLogin() != "ada" || rv.GetInstallation().GetID() != s.InstallationID() {
		t.Errorf("review event: %s review %d %s@%s by %s, sender %s, pull request %d by %s, installation %d", rv.GetAction(),
			rv.GetReview().GetID(), rv.GetReview().GetState(), rv.GetReview().GetCommitID(), rv.GetReview().GetUser().GetLogin(),
			rv.GetSender().GetLogin(), rv.GetPullRequest().GetNumber(), rv.GetPullRequest().GetUser().GetLogin(), rv.GetInstallation().GetID())
	}
}
