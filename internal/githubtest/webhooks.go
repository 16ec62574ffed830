package githubtest

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Sign is the X-Hub-Signature-256 header GitHub sends with a delivery of
// body to a webhook with secret: "sha256=" and the hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// hookID is the id of the app's webhook.
const hookID = 109948940

// WebhookRequest builds the request GitHub sends to deliver payload, an
// event such as "pull_request", to the app's webhook URL target: its
// headers (X-GitHub-Event, X-GitHub-Delivery, X-Hub-Signature-256, …) are
// GitHub's, the signature made with secret.
func (s *Server) WebhookRequest(ctx context.Context, target, event string, payload, secret []byte) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("building the %s delivery: %w", event, err)
	}
	id := make([]byte, 16)
	_, _ = rand.Read(id)
	id[6], id[8] = id[6]&0x0f|0x40, id[8]&0x3f|0x80 // a version 4 UUID
	legacy := hmac.New(sha1.New, secret)
	legacy.Write(payload)
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "GitHub-Hookshot/githubtest")
	h.Set("X-GitHub-Event", event)
	h.Set("X-GitHub-Delivery", fmt.Sprintf("%x-%x-%x-%x-%x", id[0:4], id[4:6], id[6:8], id[8:10], id[10:]))
	h.Set("X-GitHub-Hook-ID", strconv.Itoa(hookID))
	h.Set("X-GitHub-Hook-Installation-Target-ID", strconv.Itoa(appID))
	h.Set("X-GitHub-Hook-Installation-Target-Type", "integration")
	h.Set("X-Hub-Signature", "sha1="+hex.EncodeToString(legacy.Sum(nil)))
	h.Set("X-Hub-Signature-256", Sign(secret, payload))
	return req, nil
}

// encodeEvent checks a payload against the description's schema for the
// webhook name (such as "pull-request-opened") and encodes it.
func (s *Server) encodeEvent(name string, ev map[string]any) []byte {
	s.t.Helper()
	// Payloads are always for an installation of a user's repository.
	delete(ev, "organization")
	data, err := json.Marshal(ev)
	if err != nil {
		s.t.Fatalf("githubtest: encoding the %s payload: %v", name, err)
	}
	var generic any
	if err := json.Unmarshal(data, &generic); err != nil {
		s.t.Fatalf("githubtest: decoding the %s payload: %v", name, err)
	}
	if err := s.spec.validateWebhook(name, generic); err != nil {
		s.t.Errorf("githubtest: a bug in the fake: %v", err)
	}
	return data
}

// eventName is the x-webhooks name of an event and action, such as
// "pull-request-ready-for-review".
func eventName(event, action string) string {
	return strings.ReplaceAll(event+"-"+action, "_", "-")
}

// hasExample reports whether the fake has an example payload for name.
func hasExample(name string) bool {
	_, err := examples.Open("testdata/webhooks/" + name + ".json")
	return err == nil
}

// PullRequestEvent is the payload of a pull_request webhook with action
// (opened, synchronize, reopened, ready_for_review or closed) for pull
// request number, from the fake's state: the repository, the installation,
// the pull request's number, state, branches and their commits, and its
// author as the sender. A synchronize tells the head before and after the
// last PushPullRequest.
func (s *Server) PullRequestEvent(action, owner, repo string, number int) []byte {
	s.t.Helper()
	if !hasExample("pull_request." + action) {
		s.t.Fatalf("githubtest: PullRequestEvent: no example for action %q (have opened, synchronize, reopened, ready_for_review, closed)", action)
	}
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	ev := s.example("pull_request." + action)
	s.mu.Lock()
	ev["pull_request"] = s.pullRequestLocked(r, p)
	ev["repository"] = s.repositoryLocked(r)
	ev["sender"] = s.user(p.Author)
	if action == "synchronize" {
		before := p.beforeSHA
		if before == "" {
			before = p.HeadSHA
		}
		ev["before"], ev["after"] = before, p.HeadSHA
	}
	s.mu.Unlock()
	ev["action"] = action
	ev["number"] = number
	ev["installation"] = installation()
	return s.encodeEvent(eventName("pull_request", action), ev)
}

// IssueCommentEvent is the payload of an issue_comment webhook for a new
// comment by login on pull request (or issue) number, and the comment's id.
// The comment is stored in the fake, so the bot may react to it. login is a
// User, or a Bot when it ends in "[bot]". A number that is no pull request
// is taken for a plain issue.
func (s *Server) IssueCommentEvent(owner, repo string, number int, login, body string) (payload []byte, commentID int64) {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	now := time.Now().UTC().Truncate(time.Second)
	ev := s.example("issue_comment.created")
	s.mu.Lock()
	if r.pulls[number] == nil && r.issues[number] == nil {
		r.issues[number] = &issueState{number: number, id: s.newIDLocked(), author: login, createdAt: now}
	}
	c := &commentState{Comment: Comment{
		ID: s.newIDLocked(), Number: number, User: login, Body: body, CreatedAt: now, UpdatedAt: now,
	}}
	r.comments = append(r.comments, c)
	ev["issue"] = s.issueLocked(r, ev, number)
	ev["comment"] = s.commentObjectLocked(r, c)
	ev["repository"] = s.repositoryLocked(r)
	s.mu.Unlock()
	ev["sender"] = s.user(login)
	ev["installation"] = installation()
	return s.encodeEvent("issue-comment-created", ev), c.ID
}

// IssueCommentEditedEvent is the payload of an issue_comment webhook for
// an edit of comment commentID to body, by its author; the fake stores the
// new body.
func (s *Server) IssueCommentEditedEvent(owner, repo string, commentID int64, body string) []byte {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	ev := s.example("issue_comment.edited")
	s.mu.Lock()
	c := r.commentLocked(commentID)
	if c == nil {
		s.mu.Unlock()
		s.t.Fatalf("githubtest: IssueCommentEditedEvent: %s has no comment %d", r.info.FullName(), commentID)
	}
	old := c.Body
	c.Body, c.UpdatedAt = body, time.Now().UTC().Truncate(time.Second)
	ev["issue"] = s.issueLocked(r, ev, c.Number)
	ev["comment"] = s.commentObjectLocked(r, c)
	ev["repository"] = s.repositoryLocked(r)
	login := c.User
	s.mu.Unlock()
	ev["changes"] = map[string]any{"body": map[string]any{"from": old}}
	ev["sender"] = s.user(login)
	ev["installation"] = installation()
	return s.encodeEvent("issue-comment-edited", ev)
}

// issueLocked fills the issue object of the example payload ev for pull
// request or issue number. Callers hold s.mu.
func (s *Server) issueLocked(r *repoState, ev map[string]any, number int) map[string]any {
	is, _ := ev["issue"].(map[string]any)
	rewrite(is, s.replacer(exampleFullName(ev), r))
	api, html := s.repoURL(r), htmlBase+r.info.FullName()
	n := strconv.Itoa(number)
	var id int64
	var author, title, body, state string
	var created, updated, closed time.Time
	if p := r.pulls[number]; p != nil {
		id, author, title, body, state = p.id, p.Author, p.Title, p.Body, p.State
		created, updated, closed = p.createdAt, p.updateAt, p.closedAt
		merged := any(nil)
		if p.Merged {
			merged = timestamp(p.closedAt)
		}
		is["pull_request"] = map[string]any{
			"url":       api + "/pulls/" + n,
			"html_url":  html + "/pull/" + n,
			"diff_url":  html + "/pull/" + n + ".diff",
			"patch_url": html + "/pull/" + n + ".patch",
			"merged_at": merged,
		}
		is["html_url"] = html + "/pull/" + n
		is["draft"] = p.Draft
	} else {
		i := r.issues[number]
		id, author, title, state = i.id, i.author, "Issue "+n, "open"
		created, updated = i.createdAt, i.createdAt
		delete(is, "pull_request")
		is["html_url"] = html + "/issues/" + n
	}
	comments := 0
	for _, c := range r.comments {
		if c.Number == number {
			comments++
		}
	}
	is["url"] = api + "/issues/" + n
	is["repository_url"] = api
	is["labels_url"] = api + "/issues/" + n + "/labels{/name}"
	is["comments_url"] = api + "/issues/" + n + "/comments"
	is["events_url"] = api + "/issues/" + n + "/events"
	is["id"] = id
	is["node_id"] = nodeID("Issue", id)
	is["number"] = number
	is["title"] = title
	is["user"] = s.user(author)
	is["labels"] = []any{}
	is["state"] = state
	is["locked"] = false
	is["assignee"] = nil
	is["assignees"] = []any{}
	is["milestone"] = nil
	is["comments"] = comments
	is["created_at"] = timestamp(created)
	is["updated_at"] = timestamp(updated)
	is["closed_at"] = nullTime(closed)
	is["author_association"] = r.associationLocked(author)
	is["body"] = nullString(body)
	return is
}

// CheckRunRerequestedEvent is the payload of a check_run webhook with
// action rerequested for check run checkRunID, sent by the repository's
// owner.
func (s *Server) CheckRunRerequestedEvent(owner, repo string, checkRunID int64) []byte {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	ev := s.checkRunEvent("rerequested", r, checkRunID, func(*CheckRun) {})
	ev["sender"] = s.user(r.info.Owner)
	return s.encodeEvent("check-run-rerequested", ev)
}

// CheckRunRequestedActionEvent is the payload of a check_run webhook with
// action requested_action: sender pressed the button identifier of check
// run checkRunID (requested_action.identifier). The check run must have
// completed and offer that action, as GitHub shows a run's buttons only
// then; otherwise the test fails.
func (s *Server) CheckRunRequestedActionEvent(owner, repo string, checkRunID int64, identifier, sender string) []byte {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	ev := s.checkRunEvent("requested_action", r, checkRunID, func(cr *CheckRun) {
		if cr.Status != "completed" {
			s.mu.Unlock()
			s.t.Fatalf("githubtest: CheckRunRequestedActionEvent: check run %d is %s: GitHub shows its buttons once it completes", checkRunID, cr.Status)
		}
		for _, a := range cr.Actions {
			if a.Identifier == identifier {
				return
			}
		}
		s.mu.Unlock()
		s.t.Fatalf("githubtest: CheckRunRequestedActionEvent: check run %d offers no action %q (it offers %+v)", checkRunID, identifier, cr.Actions)
	})
	ev["requested_action"] = map[string]any{"identifier": identifier}
	ev["sender"] = s.user(sender)
	return s.encodeEvent("check-run-requested-action", ev)
}

// checkRunEvent is the example payload of a check_run webhook with action
// for check run checkRunID, but its sender. check runs under s.mu with the
// check run, and unlocks it before it fails the test.
func (s *Server) checkRunEvent(action string, r *repoState, checkRunID int64, check func(*CheckRun)) map[string]any {
	s.t.Helper()
	ev := s.example("check_run." + action)
	tmpl, _ := ev["check_run"].(map[string]any)
	s.mu.Lock()
	cr := r.checkRunLocked(checkRunID)
	if cr == nil {
		s.mu.Unlock()
		s.t.Fatalf("githubtest: check_run %s event: %s has no check run %d", action, r.info.FullName(), checkRunID)
	}
	check(cr)
	run := s.checkRunObjectLocked(r, cr)
	rewrite(tmpl, s.replacer(exampleFullName(ev), r))
	run["check_suite"] = s.checkSuiteLocked(r, tmpl["check_suite"], cr.HeadSHA)
	ev["check_run"] = run
	ev["repository"] = s.repositoryLocked(r)
	s.mu.Unlock()
	ev["installation"] = installation()
	return ev
}

// CheckSuiteRerequestedEvent is the payload of a check_suite webhook with
// action rerequested for the suite of commit headSHA, sent by the
// repository's owner.
func (s *Server) CheckSuiteRerequestedEvent(owner, repo, headSHA string) []byte {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	commits, err := r.git.commits(context.Background(), "", headSHA)
	if err != nil || len(commits) == 0 {
		s.t.Fatalf("githubtest: CheckSuiteRerequestedEvent: %v", err)
	}
	head := commits[0]
	ev := s.example("check_suite.rerequested")
	s.mu.Lock()
	rewrite(ev["check_suite"], s.replacer(exampleFullName(ev), r))
	suite := s.checkSuiteLocked(r, ev["check_suite"], headSHA)
	ev["repository"] = s.repositoryLocked(r)
	s.mu.Unlock()
	if len(head.parents) > 0 {
		suite["before"] = head.parents[0]
	}
	suite["head_commit"] = map[string]any{
		"id":        head.sha,
		"tree_id":   head.tree,
		"message":   head.message,
		"timestamp": timestamp(head.committerDate),
		"author":    map[string]any{"name": head.authorName, "email": head.authorEmail},
		"committer": map[string]any{"name": head.committerName, "email": head.committerEm},
	}
	ev["check_suite"] = suite
	ev["sender"] = s.user(r.info.Owner)
	ev["installation"] = installation()
	return s.encodeEvent("check-suite-rerequested", ev)
}

// checkSuiteLocked fills an example's check suite object tmpl (already
// rewritten for r) for the suite of headSHA: its status and conclusion sum up its check runs.
// Callers hold s.mu.
func (s *Server) checkSuiteLocked(r *repoState, tmpl any, headSHA string) map[string]any {
	cs, _ := tmpl.(map[string]any)
	id := s.suiteLocked(r, headSHA)
	var runs []*CheckRun
	for _, cr := range r.checkRuns {
		if cr.HeadSHA == headSHA {
			runs = append(runs, cr)
		}
	}
	status, conclusion := suiteStatus(runs)
	var branch any
	prs := s.openPullsLocked(r, headSHA)
	for _, p := range r.pulls {
		if p.State == "open" && p.HeadSHA == headSHA {
			branch = p.HeadRef
		}
	}
	url := s.repoURL(r) + "/check-suites/" + strconv.FormatInt(id, 10)
	cs["id"] = id
	cs["node_id"] = nodeID("CheckSuite", id)
	cs["head_branch"] = branch
	cs["head_sha"] = headSHA
	cs["status"] = status
	cs["conclusion"] = nullString(conclusion)
	cs["url"] = url
	cs["before"] = "0000000000000000000000000000000000000000"
	cs["after"] = headSHA
	cs["pull_requests"] = prs
	cs["app"] = s.app()
	cs["created_at"] = timestamp(r.createdAt)
	cs["updated_at"] = timestamp(time.Now())
	if _, ok := cs["latest_check_runs_count"]; ok {
		cs["latest_check_runs_count"] = len(runs)
		cs["check_runs_url"] = url + "/check-runs"
	}
	return cs
}

// suiteStatus sums up check runs as GitHub sums up their suite.
func suiteStatus(runs []*CheckRun) (status, conclusion string) {
	if len(runs) == 0 {
		return "queued", ""
	}
	worst := map[string]int{
		"action_required": 7, "cancelled": 6, "timed_out": 5, "failure": 4,
		"neutral": 3, "success": 2, "skipped": 1, "stale": 0,
	}
	for _, cr := range runs {
		if cr.Status != "completed" {
			return "in_progress", ""
		}
		if conclusion == "" || worst[cr.Conclusion] > worst[conclusion] {
			conclusion = cr.Conclusion
		}
	}
	if conclusion == "skipped" || conclusion == "stale" {
		// A suite of skipped runs counts as neutral.
		conclusion = "neutral"
	}
	return "completed", conclusion
}

// PingEvent is the payload of the ping GitHub sends when the app's webhook
// is set up.
func (s *Server) PingEvent() []byte {
	s.t.Helper()
	ev := s.example("ping")
	delete(ev, "repository")
	hook, _ := ev["hook"].(map[string]any)
	rewrite(hook, s.replacer("", nil))
	hook["type"] = "App"
	hook["app_id"] = appID
	hook["events"] = appEvents()
	api := s.URL() + "app/hook"
	hook["url"] = api + "/config"
	hook["ping_url"] = api + "/pings"
	hook["deliveries_url"] = api + "/deliveries"
	delete(hook, "test_url")
	ev["sender"] = s.user(appOwner)
	return s.encodeEvent("ping", ev)
}

// zeroSHA is the "before" of a push that creates a branch.
const zeroSHA = "0000000000000000000000000000000000000000"

// maxPushCommits is the most commits a push payload lists.
const maxPushCommits = 2048

// PushEvent is the payload of a push webhook for a push that moved the
// repository's default branch from commit before ("" when the push created
// the branch) to commit after, both full SHAs: ref, before, after, commits
// (those in before..after, oldest first, at most 2048, each with the files
// it added, removed and modified; after alone when the push created the
// branch), head_commit (after), created and forced. The pusher and
// sender are the author of the pull request whose merge commit after is
// (see MergePullRequest), else the repository's owner. A commit's files
// are its changes from its first parent, for a merge commit those the
// merge brought to the branch.
func (s *Server) PushEvent(owner, repo, before, after string) []byte {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	ctx := context.Background()
	if before == "" {
		before = zeroSHA
	}
	created := before == zeroSHA
	afterCommit, err := r.git.commits(ctx, "", after)
	if err != nil || len(afterCommit) != 1 || afterCommit[0].sha != after {
		s.t.Fatalf("githubtest: PushEvent: %s is no commit's full SHA: %v", after, err)
	}
	commits := afterCommit
	if !created {
		if commits, err = r.git.commits(ctx, before, after); err != nil {
			s.t.Fatalf("githubtest: PushEvent: %v", err)
		}
	}
	forced := false
	if !created {
		ff, err := r.git.isAncestor(ctx, before, after)
		if err != nil {
			s.t.Fatalf("githubtest: PushEvent: %v", err)
		}
		forced = !ff
	}
	html := htmlBase + r.info.FullName()
	list := make([]any, 0, min(len(commits), maxPushCommits))
	for _, ci := range commits[:min(len(commits), maxPushCommits)] {
		obj, err := s.pushCommit(ctx, r, ci)
		if err != nil {
			s.t.Fatalf("githubtest: PushEvent: %v", err)
		}
		list = append(list, obj)
	}
	head, err := s.pushCommit(ctx, r, afterCommit[0])
	if err != nil {
		s.t.Fatalf("githubtest: PushEvent: %v", err)
	}

	ev := s.example("push")
	s.mu.Lock()
	pusher := r.info.Owner
	for _, p := range r.pulls {
		if p.Merged && p.MergeCommitSHA == after {
			pusher = p.Author
		}
	}
	repository := s.exampleRepositoryLocked("push", r)
	s.mu.Unlock()
	owners, _ := repository["owner"].(map[string]any)
	owners["name"], owners["email"] = r.info.Owner, noreplyEmail(r.info.Owner)
	// Push payloads give the repository's times in Unix seconds.
	repository["created_at"] = r.createdAt.Unix()
	repository["pushed_at"] = time.Now().Unix()
	repository["master_branch"] = r.info.DefaultBranch
	repository["stargazers"] = 0

	ev["ref"] = "refs/heads/" + r.info.DefaultBranch
	ev["before"], ev["after"] = before, after
	ev["created"], ev["deleted"], ev["forced"] = created, false, forced
	ev["base_ref"] = nil
	if created {
		ev["compare"] = html + "/commit/" + after
	} else {
		ev["compare"] = html + "/compare/" + before[:12] + "..." + after[:12]
	}
	ev["commits"] = list
	ev["head_commit"] = head
	ev["pusher"] = map[string]any{"name": pusher, "email": noreplyEmail(pusher)}
	ev["repository"] = repository
	ev["sender"] = s.user(pusher)
	ev["installation"] = installation()
	return s.encodeEvent("push", ev)
}

// pushCommit is a commit as push payloads list it.
func (s *Server) pushCommit(ctx context.Context, r *repoState, ci commitInfo) (map[string]any, error) {
	parent := ""
	if len(ci.parents) > 0 {
		parent = ci.parents[0]
	} else {
		var err error
		if parent, err = r.git.emptyTree(ctx); err != nil {
			return nil, err
		}
	}
	files, err := r.git.diff(ctx, parent, ci.sha)
	if err != nil {
		return nil, err
	}
	added, removed, modified := []any{}, []any{}, []any{}
	for _, f := range files {
		switch f.status {
		case "added", "copied":
			added = append(added, f.filename)
		case "removed":
			removed = append(removed, f.filename)
		case "renamed":
			removed = append(removed, f.previousFilename)
			added = append(added, f.filename)
		default:
			modified = append(modified, f.filename)
		}
	}
	return map[string]any{
		"id":        ci.sha,
		"tree_id":   ci.tree,
		"distinct":  true,
		"message":   ci.message,
		"timestamp": timestamp(ci.committerDate),
		"url":       htmlBase + r.info.FullName() + "/commit/" + ci.sha,
		"author":    map[string]any{"name": ci.authorName, "email": ci.authorEmail},
		"committer": map[string]any{"name": ci.committerName, "email": ci.committerEm},
		"added":     added,
		"removed":   removed,
		"modified":  modified,
	}, nil
}

// PullRequestReviewEvent is the payload of a pull_request_review webhook
// with action submitted for review reviewID (from Review) of pull request
// number, sent by the reviewer. A dismissed review fails the test: its
// submission is past.
func (s *Server) PullRequestReviewEvent(owner, repo string, number int, reviewID int64) []byte {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	ev := s.example("pull_request_review.submitted")
	s.mu.Lock()
	var rv *PullRequestReview
	for _, x := range r.reviewsLocked(number) {
		if x.ID == reviewID {
			rv = x
		}
	}
	if rv == nil || rv.State == "DISMISSED" {
		s.mu.Unlock()
		s.t.Fatalf("githubtest: PullRequestReviewEvent: %s#%d has no submitted review %d", r.info.FullName(), number, reviewID)
	}
	review := s.reviewObjectLocked(r, rv)
	review["state"] = strings.ToLower(rv.State)
	review["body"] = nullString(rv.Body)
	ev["review"] = review
	ev["pull_request"] = s.pullRequestSimpleLocked(r, p)
	ev["repository"] = s.repositoryLocked(r)
	login := rv.User
	s.mu.Unlock()
	ev["action"] = "submitted"
	ev["sender"] = s.user(login)
	ev["installation"] = installation()
	return s.encodeEvent("pull-request-review-submitted", ev)
}
