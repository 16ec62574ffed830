// Package githubapp is the GitHub side of the bot: it takes webhook
// deliveries in (verified, stored, acknowledged) and works them later —
// a pull request that touches the fleet gets its plan as the check run
// "plan", with every validation finding as an annotation, and comment
// commands such as /plan are parsed, authorised and answered.
//
// Applying is here too: /apply (or the plan's Apply button) checks the
// apply requirements, locks the clusters for the pull request and starts
// one rollout per cluster; a push to the default branch rolls out what the
// clusters do not run yet. Each rollout is a task that runs package
// rollout's Runner and reports it as a check run "apply: CLUSTER", a
// deployment and a comment.
//
// Work happens in store jobs, one per delivery or task; the webhook
// handler never talks to GitHub.
package githubapp

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/ghapi"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// Clients gives a GitHub client for an installation of the app.
type Clients interface {
	Installation(id int64) (*github.Client, error)
}

// State is the durable state the work needs: leases that keep two workers
// off one pull request, and the newest head of each pull request.
type State interface {
	AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, key, holder string) error
	RecordHead(ctx context.Context, pr, sha string, at time.Time) error
	Head(ctx context.Context, pr string) (string, error)
	// Enqueue stores work for later, such as an image build, unless the
	// same work waits or runs already.
	Enqueue(ctx context.Context, t store.Task) (bool, error)
}

// Config is what an App needs to know about itself.
type Config struct {
	// AppID is the GitHub App's id; check runs of other apps are ignored.
	AppID int64
	// BotLogin is the app's bot user ("slug[bot]"); its own comments are
	// never read as commands.
	BotLogin string
	// PublicURL is where the bot is reachable; it becomes the check runs'
	// details URL. Empty means none.
	PublicURL string
	// CommandPermission is the least repository permission a commenter
	// needs for commands that act (/plan, and later /apply); zero means
	// write.
	CommandPermission command.Permission
	// LeaseTTL bounds how long a pull request stays claimed by a worker
	// that died; zero means 15 minutes (longer than a job may run).
	LeaseTTL time.Duration
	// HTTPClient downloads tarballs from the URLs GitHub redirects to;
	// nil means a client with a 5-minute timeout.
	HTTPClient *http.Client
	// SnapshotCacheBytes bounds the fleet content of recent commits kept in
	// memory; zero means 256 MiB, negative means no cache.
	SnapshotCacheBytes int64
	// Images builds, tests and publishes images; nil means pull requests
	// get their plan only.
	Images Images
	// Rollouts is what rollouts act on (Ironic, gates, images); nil means
	// the bot does not apply, and /apply says so.
	Rollouts RolloutEnv
	// ApplyRequirements are what /apply needs beside the command
	// permission; nil means all of them (AllRequirements), an empty
	// non-nil list none.
	ApplyRequirements []Requirement
	// RolloutProgressEvery bounds how often an apply check run shows a
	// rollout's progress (a new wave or a failure shows at once); zero
	// means 5 seconds.
	RolloutProgressEvery time.Duration
	// MaxRollouts bounds the rollouts this process runs at once, each
	// holding a worker of the store for as long as it runs; more wait.
	// Zero means 4.
	MaxRollouts int
}

// App works webhook deliveries.
type App struct {
	cfg       Config
	snapshots *snapshotCache
	clients   Clients
	state     State
	journal   Journal
	metrics   *Metrics
	log       *slog.Logger
	// rollouts ends when StopRollouts is called; running rollouts stop
	// with it.
	rollouts     context.Context
	stopRollouts context.CancelFunc
	// running holds a token per rollout this process runs.
	running chan struct{}
}

// New returns an App. state may be nil until SetState; metrics and log may
// be nil.
func New(cfg Config, clients Clients, state State, metrics *Metrics, log *slog.Logger) *App {
	if cfg.CommandPermission == command.PermissionNone {
		cfg.CommandPermission = command.PermissionWrite
	}
	if cfg.LeaseTTL == 0 {
		cfg.LeaseTTL = 15 * time.Minute
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 5 * time.Minute}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.SnapshotCacheBytes == 0 {
		cfg.SnapshotCacheBytes = 256 << 20
	}
	if cfg.ApplyRequirements == nil {
		cfg.ApplyRequirements = AllRequirements()
	}
	if cfg.RolloutProgressEvery <= 0 {
		cfg.RolloutProgressEvery = 5 * time.Second
	}
	if cfg.MaxRollouts <= 0 {
		cfg.MaxRollouts = 4
	}
	a := &App{cfg: cfg, snapshots: newSnapshotCache(cfg.SnapshotCacheBytes), clients: clients, state: state, metrics: metrics, log: log,
		running: make(chan struct{}, cfg.MaxRollouts)}
	a.rollouts, a.stopRollouts = context.WithCancel(context.Background())
	return a
}

// SetState gives the app its durable state. The store that holds the state
// also runs the app's jobs, so the two are wired in two steps; call it
// before the store starts working.
func (a *App) SetState(state State) { a.state = state }

// claim takes the lease on key for the job working delivery d, so that no other worker works
// the same pull request (or push) at once; when another holds it, the job snoozes, saying
// busy. release gives the lease back.
func (a *App) claim(ctx context.Context, d store.Delivery, key, busy string) (release func(), err error) {
	holder := fmt.Sprintf("job-%d", d.JobID)
	got, err := a.state.AcquireLease(ctx, key, holder, a.cfg.LeaseTTL)
	if err != nil {
		return nil, err
	}
	if !got {
		return nil, store.Snooze(3*time.Second, busy)
	}
	return func() { a.state.ReleaseLease(context.WithoutCancel(ctx), key, holder) }, nil
}

// Handle works one stored delivery; it is the store's job handler.
func (a *App) Handle(ctx context.Context, d store.Delivery) error {
	log := a.log.With("delivery", d.ID, "event", d.Event, "attempt", d.Attempt)
	ctx = withLogger(ctx, log)
	return a.runJob(d.Event, log, func() error { return a.route(ctx, d) })
}

// runJob runs work as one job of kind: a GitHub rate limit it hit becomes a snooze until the
// limit lifts, the outcome is counted, and a failure is logged.
func (a *App) runJob(kind string, log *slog.Logger, work func() error) error {
	start := time.Now()
	err := work()
	if later, ok := ghapi.AsRetryLater(err, time.Now()); ok {
		err = store.Snooze(time.Until(later.Until), later.Error())
	}
	outcome := "ok"
	switch {
	case store.IsSnooze(err):
		outcome = "snoozed"
	case err != nil:
		outcome = "error"
		log.Warn("job failed", "kind", kind, "err", err)
	}
	a.metrics.observeJob(kind, outcome, time.Since(start))
	return err
}

func (a *App) route(ctx context.Context, d store.Delivery) error {
	event, err := github.ParseWebHook(d.Event, d.Payload)
	if err != nil {
		return store.Permanent(fmt.Errorf("parsing %s payload: %w", d.Event, err))
	}
	switch e := event.(type) {
	case *github.PullRequestEvent:
		return a.onPullRequest(ctx, d, e)
	case *github.IssueCommentEvent:
		return a.onIssueComment(ctx, d, e)
	case *github.CheckRunEvent:
		return a.onCheckRun(ctx, d, e)
	case *github.CheckSuiteEvent:
		return a.onCheckSuite(ctx, d, e)
	case *github.PushEvent:
		return a.onPush(ctx, d, e)
	case *github.PullRequestReviewEvent:
		// Approvals are read from the reviews API when /apply runs, which
		// is current then (a review may be dismissed since); the event is
		// only logged, for the record of who approved what.
		logger(ctx).Info("pull request review", "pull", e.GetPullRequest().GetNumber(),
			"reviewer", e.GetReview().GetUser().GetLogin(), "state", e.GetReview().GetState(), "action", e.GetAction())
		return nil
	}
	logger(ctx).Debug("event not handled")
	return nil
}

// Handled lists the events the app works; the webhook handler stores only
// these.
func Handled() []string {
	return []string{"pull_request", "issue_comment", "check_run", "check_suite", "push", "pull_request_review"}
}

// pull identifies a pull request and the head to plan.
type pull struct {
	installation int64
	owner, repo  string
	number       int
	headSHA      string
	baseRef      string
	reason       string
	// fork is true for a pull request whose head is in another
	// repository; buildApproved when someone with write access asked for
	// its images to be built (/build).
	fork, buildApproved bool
	// repoHTML is the repository's page on GitHub, for links.
	repoHTML string
}

func (p pull) key() string { return fmt.Sprintf("%s/%s#%d", p.owner, p.repo, p.number) }

func (a *App) onPullRequest(ctx context.Context, d store.Delivery, e *github.PullRequestEvent) error {
	switch e.GetAction() {
	case "opened", "synchronize", "reopened", "ready_for_review":
	case "closed":
		return a.onClosed(ctx, e)
	default:
		return nil
	}
	pr := e.GetPullRequest()
	p := pull{
		installation: e.GetInstallation().GetID(),
		owner:        e.GetRepo().GetOwner().GetLogin(),
		repo:         e.GetRepo().GetName(),
		number:       pr.GetNumber(),
		headSHA:      pr.GetHead().GetSHA(),
		baseRef:      pr.GetBase().GetRef(),
		reason:       "pull request " + e.GetAction(),
		fork:         isFork(pr),
		repoHTML:     e.GetRepo().GetHTMLURL(),
	}
	if err := p.check(); err != nil {
		return store.Permanent(err)
	}
	if err := a.state.RecordHead(ctx, p.key(), p.headSHA, d.Received); err != nil {
		return err
	}
	return a.plan(ctx, d, p)
}

func (p pull) check() error {
	if p.installation == 0 || p.owner == "" || p.repo == "" || p.number == 0 || p.headSHA == "" || p.baseRef == "" {
		return fmt.Errorf("payload lacks installation, repository, pull request number, head or base: %+v", p)
	}
	return nil
}

// onCheckRun recomputes a plan when someone presses "Re-run" on it, and
// applies when someone presses its Apply button.
func (a *App) onCheckRun(ctx context.Context, d store.Delivery, e *github.CheckRunEvent) error {
	if e.GetAction() == "requested_action" {
		return a.onRequestedAction(ctx, d, e)
	}
	run := e.GetCheckRun()
	if e.GetAction() != "rerequested" || run.GetName() != planCheck || run.GetApp().GetID() != a.cfg.AppID {
		return nil
	}
	return a.replan(ctx, d, e.GetInstallation().GetID(), e.GetRepo(), run.GetHeadSHA(), []*github.CheckRun{run}, "check run re-run")
}

// onCheckSuite recomputes the plan when someone re-runs all checks.
func (a *App) onCheckSuite(ctx context.Context, d store.Delivery, e *github.CheckSuiteEvent) error {
	suite := e.GetCheckSuite()
	if e.GetAction() != "rerequested" || suite.GetApp().GetID() != a.cfg.AppID {
		return nil
	}
	gh, err := a.clients.Installation(e.GetInstallation().GetID())
	if err != nil {
		return err
	}
	repo := e.GetRepo()
	runs, _, err := gh.Checks.ListCheckRunsForRef(ctx, repo.GetOwner().GetLogin(), repo.GetName(), suite.GetHeadSHA(), &github.ListCheckRunsOptions{
		CheckName: github.String(planCheck), AppID: github.Int64(a.cfg.AppID), Filter: github.String("latest"),
	})
	if err != nil {
		return fmt.Errorf("listing plan check runs of %s: %w", short(suite.GetHeadSHA()), err)
	}
	return a.replan(ctx, d, e.GetInstallation().GetID(), repo, suite.GetHeadSHA(), runs.CheckRuns, "check suite re-run")
}

// replan plans a head again for the pull requests of earlier plan check
// runs. The pull request comes from the check run's external id, which the
// bot sets: the events' own pull request lists are empty for pull requests
// from forks.
func (a *App) replan(ctx context.Context, d store.Delivery, installation int64, repo *github.Repository, sha string, runs []*github.CheckRun, reason string) error {
	gh, err := a.clients.Installation(installation)
	if err != nil {
		return err
	}
	owner, name := repo.GetOwner().GetLogin(), repo.GetName()
	seen := map[int]bool{}
	for _, run := range runs {
		number, err := parseNumber(run.GetExternalID())
		if err != nil || seen[number] {
			continue
		}
		seen[number] = true
		pr, _, err := gh.PullRequests.Get(ctx, owner, name, number)
		if err != nil {
			return fmt.Errorf("reading pull request #%d: %w", number, err)
		}
		if pr.GetState() != "open" {
			continue
		}
		p := pull{installation: installation, owner: owner, repo: name, number: number,
			headSHA: sha, baseRef: pr.GetBase().GetRef(), reason: reason, fork: isFork(pr), repoHTML: repo.GetHTMLURL()}
		if err := a.plan(ctx, d, p); err != nil {
			return err
		}
	}
	return nil
}

// isFork reports whether a pull request's head lives in another repository.
func isFork(pr *github.PullRequest) bool {
	head, base := pr.GetHead().GetRepo(), pr.GetBase().GetRepo()
	return head.GetFork() || (head.GetFullName() != "" && head.GetFullName() != base.GetFullName())
}

func parseNumber(s string) (int, error) {
	var n int
	if err := json.Unmarshal([]byte(s), &n); err != nil || n <= 0 {
		return 0, fmt.Errorf("not a pull request number: %q", s)
	}
	return n, nil
}

func short(sha string) string {
	if len(sha) > 7 {
		return sha[:7]
	}
	return sha
}

type loggerKey struct{}

func withLogger(ctx context.Context, log *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, log)
}

func logger(ctx context.Context) *slog.Logger {
	if log, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return log
	}
	return slog.New(slog.DiscardHandler)
}
