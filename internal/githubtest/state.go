package githubtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Repo is a repository of the fake, owned by a user account.
type Repo struct {
	Owner, Name string
	ID          int64
	// GitDir is the local git repository (a work tree or a bare one)
	// whose commits the fake serves.
	GitDir string
	// DefaultBranch is the branch HEAD of GitDir pointed at when the
	// repository was added ("main" when it was detached).
	DefaultBranch string
}

// FullName is "owner/name".
func (r Repo) FullName() string { return r.Owner + "/" + r.Name }

// PullRequest is a pull request of the fake. OpenPullRequest reads Number
// (zero picks the next free one), Title, Body, BaseRef, HeadRef, Author and
// Draft; the fake sets the rest.
type PullRequest struct {
	Number int
	Title  string
	Body   string
	// BaseRef and HeadRef are branch names in the repository's git
	// repository.
	BaseRef, HeadRef string
	// Author is the login of the user who opened the pull request.
	Author string
	Draft  bool
	// ForkOwner, when set, makes the pull request come from a fork: its
	// head repository is ForkOwner's copy (the commits are still read from
	// the repository's git directory, as GitHub serves a fork's pull
	// request heads from the base repository).
	ForkOwner string

	// BaseSHA and HeadSHA are the commits the branches pointed at when the
	// pull request was opened or last pushed.
	BaseSHA, HeadSHA string
	State            string // "open" or "closed"
	Merged           bool
	// MergeCommitSHA is the base branch's commit when the pull request was
	// closed as merged.
	MergeCommitSHA string
}

// CheckRun is a check run as the fake holds it after the creates and
// updates it received.
type CheckRun struct {
	ID                     int64
	Name                   string
	HeadSHA                string
	Status                 string // queued, in_progress or completed
	Conclusion             string // empty until completed
	ExternalID, DetailsURL string
	StartedAt, CompletedAt time.Time
	Output                 CheckRunOutput
	// Annotations accumulate across updates, as on GitHub.
	Annotations []Annotation
	// Actions are the buttons the run offers: those of the last create or
	// update that gave any, as on GitHub. The description limits them (at
	// most 3; label and identifier up to 20 characters, description up to
	// 40), so longer ones fail the test.
	Actions []CheckRunAction
	// Updates counts the update requests after the create.
	Updates int
}

// CheckRunOutput is the text of a check run.
type CheckRunOutput struct {
	Title, Summary, Text string
}

// Annotation is a remark a check run makes on a file's lines.
type Annotation struct {
	Path                   string
	StartLine, EndLine     int
	StartColumn, EndColumn int    // zero when not given
	Level                  string // notice, warning or failure
	Message, Title         string
	RawDetails             string
}

// CheckRunAction is a button a check run offers, shown once the run has
// completed; pressing it sends a check_run requested_action webhook
// (CheckRunRequestedActionEvent).
type CheckRunAction struct {
	Label, Description, Identifier string
}

// Comment is a comment on a pull request or issue.
type Comment struct {
	ID     int64
	Number int    // of the pull request or issue
	User   string // login of the author
	Body   string
	// CreatedAt and UpdatedAt are GitHub's timestamps, to the second.
	CreatedAt, UpdatedAt time.Time
}

// PullRequestReview is a submitted review of a pull request.
type PullRequestReview struct {
	ID     int64
	Number int    // of the pull request
	User   string // login of the reviewer
	// State is APPROVED, CHANGES_REQUESTED, COMMENTED or DISMISSED, as the
	// REST API spells it (webhooks spell it in lower case).
	State string
	Body  string
	// CommitID is the pull request's head when the review was submitted.
	CommitID    string
	SubmittedAt time.Time
}

// Deployment is a deployment created through the REST API, as the fake
// holds it.
type Deployment struct {
	ID int64
	// SHA is the commit Ref named when the deployment was created.
	SHA, Ref string
	Task     string
	// Environment is the deployment's environment, which a status may
	// have changed since; OriginalEnvironment the one it was created for.
	Environment, OriginalEnvironment string
	Description                      string
	// Payload is the payload as the request gave it: a JSON object, or a
	// JSON string (GitHub keeps a string a string); {} when none.
	Payload   json.RawMessage
	AutoMerge bool
	// RequiredContexts are the contexts the request named; nil when it
	// named none, and GitHub checked every context of the commit.
	RequiredContexts      []string
	TransientEnvironment  bool
	ProductionEnvironment bool
	Creator               string // login
	CreatedAt, UpdatedAt  time.Time
	// Statuses are the deployment's statuses, oldest first.
	Statuses []DeploymentStatus
}

// DeploymentStatus is a status of a deployment.
type DeploymentStatus struct {
	ID int64
	// State is error, failure, inactive, in_progress, queued, pending or
	// success.
	State       string
	Description string
	Environment string
	// LogURL and TargetURL are the same: GitHub sets either from the
	// other.
	LogURL, TargetURL, EnvironmentURL string
	Creator                           string // login
	CreatedAt                         time.Time
}

// repoState is everything the fake knows about one repository.
type repoState struct {
	info        Repo
	git         gitRepo
	createdAt   time.Time
	pulls       map[int]*pullState
	issues      map[int]*issueState // plain issues, made by IssueCommentEvent
	checkRuns   []*CheckRun
	suites      map[string]int64 // check suite id by head SHA
	comments    []*commentState
	permissions map[string]string // role by lower-case login
	reviews     []*PullRequestReview
	deployments []*Deployment
}

type pullState struct {
	PullRequest
	id                  int64
	beforeSHA           string // head before the last push, for synchronize
	createdAt, updateAt time.Time
	closedAt            time.Time
	// mergeable and mergeableState are what GitHub last computed; nil and
	// "unknown" while it computes.
	mergeable      *bool
	mergeableState string
}

type issueState struct {
	number    int
	id        int64
	author    string
	createdAt time.Time
}

type commentState struct {
	Comment
	reactions []reactionState
}

type reactionState struct {
	id        int64
	user      string
	content   string
	createdAt time.Time
}

// AddRepo makes the git repository at gitDir available as owner/name and
// returns it. The fake reads commits from gitDir whenever it answers, so
// the test may commit to it later (then call PushPullRequest for open pull
// requests).
func (s *Server) AddRepo(owner, name, gitDir string) *Repo {
	s.t.Helper()
	g := gitRepo{dir: gitDir}
	ctx := context.Background()
	if _, err := g.output(ctx, "rev-parse", "--git-dir"); err != nil {
		s.t.Fatalf("githubtest: AddRepo %s/%s: %v", owner, name, err)
	}
	info := Repo{Owner: owner, Name: name, GitDir: gitDir, DefaultBranch: g.defaultBranch(ctx)}
	s.mu.Lock()
	defer s.mu.Unlock()
	key := repoKey(owner, name)
	if _, ok := s.repos[key]; ok {
		s.t.Fatalf("githubtest: AddRepo: %s/%s exists", owner, name)
	}
	info.ID = int64(186853000 + len(s.repos) + 1)
	s.repos[key] = &repoState{
		info:        info,
		git:         g,
		createdAt:   time.Now().UTC().Add(-24 * time.Hour).Truncate(time.Second),
		pulls:       map[int]*pullState{},
		issues:      map[int]*issueState{},
		suites:      map[string]int64{},
		permissions: map[string]string{},
	}
	return &info
}

// repoKey indexes repositories: GitHub's names are case-insensitive.
func repoKey(owner, name string) string { return strings.ToLower(owner + "/" + name) }

// repoLocked returns a repository, or nil. Callers hold s.mu.
func (s *Server) repoLocked(owner, name string) *repoState {
	return s.repos[repoKey(owner, name)]
}

// mustRepo returns a repository for a test's call, failing the test when
// there is none. A repoState's info and git never change once added.
func (s *Server) mustRepo(owner, name string) *repoState {
	s.t.Helper()
	s.mu.Lock()
	r := s.repoLocked(owner, name)
	s.mu.Unlock()
	if r == nil {
		s.t.Fatalf("githubtest: no repository %s/%s: call AddRepo first", owner, name)
	}
	return r
}

// roles are GitHub's repository roles, with the permission each grants in
// the collaborator permission endpoint's "permission" field.
var roles = map[string]string{
	"admin":    "admin",
	"maintain": "write",
	"write":    "write",
	"triage":   "read",
	"read":     "read",
	"none":     "none",
}

// SetPermission gives login the role permission (admin, maintain, write,
// triage, read or none) on owner/repo. Users never set have read, as on a
// public repository; the owner has admin.
func (s *Server) SetPermission(owner, repo, login, permission string) {
	s.t.Helper()
	if _, ok := roles[permission]; !ok {
		s.t.Fatalf("githubtest: SetPermission: unknown role %q (want admin, maintain, write, triage, read or none)", permission)
	}
	r := s.mustRepo(owner, repo)
	s.mu.Lock()
	defer s.mu.Unlock()
	r.permissions[strings.ToLower(login)] = permission
}

// roleLocked is login's role on r. Callers hold s.mu.
func (r *repoState) roleLocked(login string) string {
	if role, ok := r.permissions[strings.ToLower(login)]; ok {
		return role
	}
	if strings.EqualFold(login, r.info.Owner) {
		return "admin"
	}
	return "read"
}

// OpenPullRequest opens pr on owner/repo, resolving its branches' commits
// in the git repository, and returns the pull request as the fake holds it.
func (s *Server) OpenPullRequest(owner, repo string, pr PullRequest) *PullRequest {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	if pr.BaseRef == "" {
		pr.BaseRef = r.info.DefaultBranch
	}
	if pr.HeadRef == "" || pr.Author == "" {
		s.t.Fatalf("githubtest: OpenPullRequest: HeadRef and Author are required")
	}
	base, head := s.resolveBranches(r, pr.BaseRef, pr.HeadRef)
	if pr.Title == "" {
		pr.Title = "Update " + pr.HeadRef
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if pr.Number == 0 {
		pr.Number = r.nextNumberLocked()
	} else if r.pulls[pr.Number] != nil || r.issues[pr.Number] != nil {
		s.t.Errorf("githubtest: OpenPullRequest: #%d exists in %s/%s; replacing it", pr.Number, owner, repo)
	}
	now := time.Now().UTC().Truncate(time.Second)
	pr.BaseSHA, pr.HeadSHA = base, head
	pr.State, pr.Merged, pr.MergeCommitSHA = "open", false, ""
	p := &pullState{PullRequest: pr, id: s.newIDLocked(), createdAt: now, updateAt: now, mergeableState: "unknown"}
	r.pulls[pr.Number] = p
	out := p.PullRequest
	return &out
}

// nextNumberLocked is the next free issue and pull request number.
func (r *repoState) nextNumberLocked() int {
	n := 0
	for k := range r.pulls {
		n = max(n, k)
	}
	for k := range r.issues {
		n = max(n, k)
	}
	return n + 1
}

func (s *Server) resolveBranches(r *repoState, baseRef, headRef string) (base, head string) {
	s.t.Helper()
	ctx := context.Background()
	base, err := r.git.resolve(ctx, baseRef)
	if err != nil {
		s.t.Fatalf("githubtest: base branch: %v", err)
	}
	head, err = r.git.resolve(ctx, headRef)
	if err != nil {
		s.t.Fatalf("githubtest: head branch: %v", err)
	}
	return base, head
}

// PushPullRequest reads the commits of pull request number's branches
// again, after the test committed to them; PullRequestEvent("synchronize")
// then tells the old and new head. As on GitHub, whether the pull request
// can be merged is unknown again until SetMergeable; reviews stay, on the
// commits they were made on.
func (s *Server) PushPullRequest(owner, repo string, number int) *PullRequest {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	s.mu.Lock()
	baseRef, headRef := p.BaseRef, p.HeadRef
	s.mu.Unlock()

	base, head := s.resolveBranches(r, baseRef, headRef)
	s.mu.Lock()
	defer s.mu.Unlock()
	p.beforeSHA = p.HeadSHA
	p.BaseSHA, p.HeadSHA = base, head
	p.updateAt = time.Now().UTC().Truncate(time.Second)
	p.mergeable, p.mergeableState = nil, "unknown"
	out := p.PullRequest
	return &out
}

// ClosePullRequest closes pull request number, as merged or not. A test
// that merges commits the merge to the base branch first: the base
// branch's commit becomes the merge commit, which
// GET /repos/{owner}/{repo}/commits/{sha}/pulls then finds. MergePullRequest
// does both.
func (s *Server) ClosePullRequest(owner, repo string, number int, merged bool) *PullRequest {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	s.mu.Lock()
	baseRef := p.BaseRef
	s.mu.Unlock()

	var mergeCommit string
	if merged {
		var err error
		if mergeCommit, err = r.git.resolve(context.Background(), baseRef); err != nil {
			s.t.Fatalf("githubtest: ClosePullRequest: %v", err)
		}
	}
	return s.close(p, merged, mergeCommit)
}

func (s *Server) close(p *pullState, merged bool, mergeCommit string) *PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now().UTC().Truncate(time.Second)
	p.State, p.Merged, p.MergeCommitSHA = "closed", merged, mergeCommit
	p.closedAt, p.updateAt = now, now
	if merged {
		// GitHub no longer computes whether a merged pull request merges.
		p.mergeable, p.mergeableState = nil, "unknown"
	}
	out := p.PullRequest
	return &out
}

// MergePullRequest merges open pull request number as GitHub's "Create a
// merge commit" does: it writes a commit merging the pull request's head
// into its base branch (first parent the base branch, second the head;
// author the pull request's author, committer GitHub), moves the base
// branch of the git repository to it (a work tree with the branch checked
// out follows), and closes the pull request as merged with that merge
// commit. It returns the merge commit's SHA, the "after" of the PushEvent
// GitHub would send. A pull request that does not merge cleanly fails the
// test.
func (s *Server) MergePullRequest(owner, repo string, number int) string {
	s.t.Helper()
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	s.mu.Lock()
	state, baseRef, headRef, head, title, author := p.State, p.BaseRef, p.HeadRef, p.HeadSHA, p.Title, p.Author
	headOwner := r.info.Owner
	if p.ForkOwner != "" {
		headOwner = p.ForkOwner
	}
	s.mu.Unlock()
	if state != "open" {
		s.t.Fatalf("githubtest: MergePullRequest: %s#%d is %s", r.info.FullName(), number, state)
	}
	ctx := context.Background()
	base, err := r.git.resolve(ctx, baseRef)
	if err != nil {
		s.t.Fatalf("githubtest: MergePullRequest: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Second)
	message := fmt.Sprintf("Merge pull request #%d from %s/%s\n\n%s", number, headOwner, headRef, title)
	merge, err := r.git.merge(ctx, base, head, message,
		signature{author, noreplyEmail(author), now}, signature{"GitHub", "noreply@github.com", now})
	if errors.Is(err, errConflict) {
		s.t.Fatalf("githubtest: MergePullRequest: %s#%d has conflicts with %s; GitHub would not merge it", r.info.FullName(), number, baseRef)
	}
	if err != nil {
		s.t.Fatalf("githubtest: MergePullRequest: %v", err)
	}
	if err := r.git.advanceBranch(ctx, baseRef, base, merge); err != nil {
		s.t.Fatalf("githubtest: MergePullRequest: moving %s to the merge: %v", baseRef, err)
	}
	s.close(p, true, merge)
	return merge
}

// noreplyEmail is the address GitHub gives a user's commits.
func noreplyEmail(login string) string {
	return fmt.Sprintf("%d+%s@users.noreply.github.com", userID(login), login)
}

// mergeableStates are the values of a pull request's mergeable_state.
var mergeableStates = []string{"behind", "blocked", "clean", "dirty", "draft", "has_hooks", "unknown", "unstable"}

// SetMergeable sets what GitHub computed about merging open pull request
// number: mergeable (nil while GitHub computes it) and mergeable_state
// (clean, blocked, dirty, behind, unstable, has_hooks, draft or unknown).
// Until it is called, and again after PushPullRequest, a pull request is
// mergeable nil and "unknown", as GitHub first answers.
func (s *Server) SetMergeable(owner, repo string, number int, mergeable *bool, state string) {
	s.t.Helper()
	if !slices.Contains(mergeableStates, state) {
		s.t.Fatalf("githubtest: SetMergeable: unknown mergeable_state %q (want one of %s)", state, strings.Join(mergeableStates, ", "))
	}
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	s.mu.Lock()
	defer s.mu.Unlock()
	p.mergeable, p.mergeableState = nil, state
	if mergeable != nil {
		v := *mergeable
		p.mergeable = &v
	}
}

// mustPull returns a pull request for a test's call, failing the test when
// there is none.
func (s *Server) mustPull(r *repoState, number int) *pullState {
	s.t.Helper()
	s.mu.Lock()
	p := r.pulls[number]
	s.mu.Unlock()
	if p == nil {
		s.t.Fatalf("githubtest: %s has no pull request #%d", r.info.FullName(), number)
	}
	return p
}

// PullRequest returns pull request number of owner/repo as the fake holds
// it, or nil.
func (s *Server) PullRequest(owner, repo string, number int) *PullRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, repo)
	if r == nil || r.pulls[number] == nil {
		return nil
	}
	out := r.pulls[number].PullRequest
	return &out
}

// CheckRuns returns copies of the check runs created on owner/repo, oldest
// first.
func (s *Server) CheckRuns(owner, repo string) []CheckRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, repo)
	if r == nil {
		return nil
	}
	out := make([]CheckRun, len(r.checkRuns))
	for i, cr := range r.checkRuns {
		out[i] = cr.clone()
	}
	return out
}

func (cr *CheckRun) clone() CheckRun {
	c := *cr
	c.Annotations = slices.Clone(cr.Annotations)
	c.Actions = slices.Clone(cr.Actions)
	return c
}

// Comments returns the comments on pull request or issue number of
// owner/repo, oldest first.
func (s *Server) Comments(owner, repo string, number int) []Comment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, repo)
	if r == nil {
		return nil
	}
	var out []Comment
	for _, c := range r.comments {
		if c.Number == number {
			out = append(out, c.Comment)
		}
	}
	return out
}

// Reactions returns the contents ("+1", "eyes", …) of the reactions to
// comment commentID of owner/repo, oldest first.
func (s *Server) Reactions(owner, repo string, commentID int64) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, repo)
	if r == nil {
		return nil
	}
	var out []string
	if c := r.commentLocked(commentID); c != nil {
		for _, re := range c.reactions {
			out = append(out, re.content)
		}
	}
	return out
}

func (r *repoState) commentLocked(id int64) *commentState {
	for _, c := range r.comments {
		if c.ID == id {
			return c
		}
	}
	return nil
}

func (r *repoState) checkRunLocked(id int64) *CheckRun {
	for _, cr := range r.checkRuns {
		if cr.ID == id {
			return cr
		}
	}
	return nil
}

// suiteLocked returns the check suite id for a head commit, making one.
func (s *Server) suiteLocked(r *repoState, headSHA string) int64 {
	id, ok := r.suites[headSHA]
	if !ok {
		id = s.newIDLocked()
		r.suites[headSHA] = id
	}
	return id
}

// reviewStates are the states Review takes.
var reviewStates = []string{"APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED"}

// Review records that login reviewed pull request number and returns the
// review. APPROVED, CHANGES_REQUESTED and COMMENTED submit a new review on
// the pull request's current head (its CommitID). DISMISSED dismisses
// login's latest APPROVED or CHANGES_REQUESTED review, as a maintainer
// does: that review keeps its place and commit and shows state DISMISSED.
//
// GET /repos/{owner}/{repo}/pulls/{pull_number}/reviews lists every review
// in the order submitted, each with its commit. The fake, like a
// repository without "Dismiss stale pull request approvals", keeps
// approvals across pushes; and as on GitHub a later COMMENTED review of a
// user does not withdraw their approval. As on GitHub, an author cannot
// approve or request changes on their own pull request: trying fails the
// test.
func (s *Server) Review(owner, repo string, number int, login, state string) PullRequestReview {
	s.t.Helper()
	if !slices.Contains(reviewStates, state) {
		s.t.Fatalf("githubtest: Review: unknown state %q (want one of %s)", state, strings.Join(reviewStates, ", "))
	}
	r := s.mustRepo(owner, repo)
	p := s.mustPull(r, number)
	s.mu.Lock()
	defer s.mu.Unlock()
	if state == "DISMISSED" {
		for i := len(r.reviews) - 1; i >= 0; i-- {
			rv := r.reviews[i]
			if rv.Number == number && strings.EqualFold(rv.User, login) && (rv.State == "APPROVED" || rv.State == "CHANGES_REQUESTED") {
				rv.State = "DISMISSED"
				return *rv
			}
		}
		s.t.Fatalf("githubtest: Review: %s has no approval or request for changes on %s#%d to dismiss", login, r.info.FullName(), number)
	}
	if strings.EqualFold(login, p.Author) && state != "COMMENTED" {
		s.t.Fatalf("githubtest: Review: %s cannot %s their own pull request %s#%d (GitHub refuses)", login, strings.ToLower(state), r.info.FullName(), number)
	}
	rv := &PullRequestReview{
		ID: s.newIDLocked(), Number: number, User: login, State: state, CommitID: p.HeadSHA,
		SubmittedAt: time.Now().UTC().Truncate(time.Second),
	}
	r.reviews = append(r.reviews, rv)
	return *rv
}

// Reviews returns the reviews of pull request number of owner/repo, in
// the order submitted.
func (s *Server) Reviews(owner, repo string, number int) []PullRequestReview {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, repo)
	if r == nil {
		return nil
	}
	var out []PullRequestReview
	for _, rv := range r.reviewsLocked(number) {
		out = append(out, *rv)
	}
	return out
}

func (r *repoState) reviewsLocked(number int) []*PullRequestReview {
	var out []*PullRequestReview
	for _, rv := range r.reviews {
		if rv.Number == number {
			out = append(out, rv)
		}
	}
	return out
}

// Deployments returns copies of the deployments of owner/repo, oldest
// first, each with its statuses oldest first.
func (s *Server) Deployments(owner, repo string) []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.repoLocked(owner, repo)
	if r == nil {
		return nil
	}
	out := make([]Deployment, len(r.deployments))
	for i, d := range r.deployments {
		out[i] = d.clone()
	}
	return out
}

func (d *Deployment) clone() Deployment {
	c := *d
	c.Payload = slices.Clone(d.Payload)
	c.RequiredContexts = slices.Clone(d.RequiredContexts)
	c.Statuses = slices.Clone(d.Statuses)
	return c
}

func (r *repoState) deploymentLocked(id int64) *Deployment {
	for _, d := range r.deployments {
		if d.ID == id {
			return d
		}
	}
	return nil
}
