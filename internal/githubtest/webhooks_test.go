package githubtest

import (
	"context"
	"encoding/json"
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
