package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// RolloutEnv is the world a rollout acts on beside GitHub and the journal:
// Ironic, the cluster's health gates, config drives and the images.
type RolloutEnv interface {
	// Rollout returns what a rollout of cluster needs, for the head
	// repository it deploys.
	Rollout(ctx context.Context, head *model.Repo, cluster string) (RolloutParts, error)
}

// RolloutParts are the parts of a rollout.Runner that depend on the world
// and on the head being deployed.
type RolloutParts struct {
	Provisioner rollout.Provisioner
	// Gates may be nil: the cluster has no checks.
	Gates rollout.Gates
	// ConfigDrive builds a node's config drive from the head repository.
	ConfigDrive rollout.DriveFunc
	// BeforeNode, when set, prepares a node that joins the running cluster before it is
	// deployed (rollout.Runner.BeforeNode): a master's etcd member is replaced.
	BeforeNode func(ctx context.Context, n rollout.Node) error
	// Images resolves image ids to what Ironic fetches.
	Images rollout.ImageResolver
}

// Journal is the durable state of applying: the rollout journal, what each
// rollout's report on GitHub is, what was last deployed to each cluster,
// and the pull requests' locks on clusters. The bot's *store.Store is one.
type Journal interface {
	rollout.Journal
	SetRolloutReport(ctx context.Context, id string, report []byte) error
	Rollouts(ctx context.Context, f store.RolloutFilter) ([]store.Rollout, error)
	Deployed(ctx context.Context, repo, cluster string) (store.Deployment, error)
	DeployedClusters(ctx context.Context, repo string) ([]store.Deployment, error)
	TakeLock(ctx context.Context, l store.Lock) (held store.Lock, ok bool, err error)
	Locks(ctx context.Context, repo string) ([]store.Lock, error)
	ReleaseLocks(ctx context.Context, repo string, pull int, clusters ...string) ([]string, error)
}

// SetJournal gives the app the journal that applying needs. Without one,
// or without Config.Rollouts, /apply answers that applying is disabled.
func (a *App) SetJournal(j Journal) { a.journal = j }

// applies reports whether the bot can apply at all.
func (a *App) applies() bool { return a.cfg.Rollouts != nil && a.journal != nil }

// TaskRollout is the task kind that runs one rollout.
const TaskRollout = "rollout"

// Sources of rollouts, as the journal records them.
const sourcePush = "push"

func pullSource(number int) string { return fmt.Sprintf("pull/%d", number) }

// applyButton is the plan check run's button that applies like /apply.
var applyButton = &github.CheckRunAction{Label: "Apply", Description: "Deploy this plan, like /apply", Identifier: "apply"}

// changedClusters are the clusters a plan has work for, in plan order.
func changedClusters(p *plan.Plan) []string {
	var out []string
	for _, c := range p.Clusters {
		if len(c.Waves) > 0 {
			out = append(out, c.Name)
		}
	}
	return out
}

// applyAllowed says whether the plan check run offers the Apply button.
func (a *App) applyAllowed(p *plan.Plan) bool {
	return a.applies() && conclusion(p) == "success" && len(changedClusters(p)) > 0
}

// runApply is /apply [CLUSTER…].
func (a *App) runApply(ctx context.Context, d store.Delivery, c commentContext, cmd command.Command) error {
	return a.apply(ctx, d, c, cmd.Args, "/apply")
}

// apply checks everything /apply needs and, when all is well, locks the
// clusters and starts one rollout each; otherwise it answers with every
// reason at once and deploys nothing. what names the request in answers
// ("/apply", "the Apply button").
func (a *App) apply(ctx context.Context, d store.Delivery, c commentContext, args []string, what string) error {
	if !a.applies() {
		return a.reply(ctx, c, "This bot does not apply plans: it runs without Ironic (`--ironic-url`). Deploy with `bot apply` instead.")
	}
	pr, _, err := c.gh.PullRequests.Get(ctx, c.owner, c.repo, c.number)
	if err != nil {
		return fmt.Errorf("reading pull request #%d: %w", c.number, err)
	}
	if pr.GetState() != "open" {
		return a.reply(ctx, c, fmt.Sprintf("@%s, #%d is %s: only an open pull request is applied.", c.author, c.number, pr.GetState()))
	}
	p := pull{installation: c.installation, owner: c.owner, repo: c.repo, number: c.number,
		headSHA: pr.GetHead().GetSHA(), baseRef: pr.GetBase().GetRef(), reason: what + " by @" + c.author, fork: isFork(pr)}
	if err := p.check(); err != nil {
		return err
	}
	// One worker at a time on a pull request: two /apply at once must not
	// start two rollouts of one head.
	release, err := a.claim(ctx, d, p.key(), "another worker is busy with "+p.key())
	if err != nil {
		return err
	}
	defer release()

	cmp, _, err := c.gh.Repositories.CompareCommits(ctx, p.owner, p.repo, p.baseRef, p.headSHA, &github.ListOptions{PerPage: 1})
	if err != nil {
		return fmt.Errorf("comparing %s with %s: %w", p.baseRef, short(p.headSHA), err)
	}
	result, head, err := a.computeWithHead(ctx, c.gh, p, cmp.GetMergeBaseCommit().GetSHA())
	if err != nil {
		return err
	}
	clusters, problems := selectClusters(args, result, head.Repo)

	builds := []string{}
	for _, img := range imageBuilds(result) {
		builds = append(builds, img.Variant)
	}
	facts, err := a.gatherFacts(ctx, c, pr, builds, a.cfg.ApplyRequirements)
	if err != nil {
		return err
	}
	problems = append(problems, unmet(a.cfg.ApplyRequirements, facts)...)

	repoName := c.owner + "/" + c.repo
	locks, err := a.journal.Locks(ctx, repoName)
	if err != nil {
		return err
	}
	mine := map[string]bool{}
	for _, l := range locks {
		if !slices.Contains(clusters, l.Cluster) {
			continue
		}
		if l.Pull == c.number {
			mine[l.Cluster] = true
			continue
		}
		problems = append(problems, lockedProblem(l, pullURL(c.repoHTML, c.owner, c.repo, l.Pull)))
	}

	specs := map[string]rollout.Spec{}
	if result.Valid {
		for _, cluster := range clusters {
			spec, err := a.newSpec(ctx, result, head, repoName, cluster, pullSource(c.number))
			if err != nil {
				problems = append(problems, fmt.Sprintf("**%s**: %v", cluster, err))
				continue
			}
			specs[cluster] = spec
		}
	}
	if !result.Valid && !slices.Contains(a.cfg.ApplyRequirements, RequirePlan) {
		// Without the plan requirement nothing else says it.
		problems = append(problems, fmt.Sprintf("**plan**: the head %s has validation errors (see the `plan` check run): nothing may be applied.", short(p.headSHA)))
	}
	if len(problems) > 0 {
		logger(ctx).Info("apply refused", "problems", len(problems))
		return a.reply(ctx, c, refusal(c.author, what, p.headSHA, problems))
	}

	// Lock every cluster, or none: another pull request may have taken one
	// since the locks were read.
	var taken []string
	for _, cluster := range clusters {
		held, ok, err := a.journal.TakeLock(ctx, store.Lock{Repo: repoName, Cluster: cluster, Pull: c.number, Owner: c.author})
		if err == nil && !ok {
			err = errLocked
			problems = append(problems, lockedProblem(held, pullURL(c.repoHTML, c.owner, c.repo, held.Pull)))
		}
		if err != nil {
			if len(taken) > 0 {
				if _, rerr := a.journal.ReleaseLocks(context.WithoutCancel(ctx), repoName, c.number, taken...); rerr != nil {
					logger(ctx).Warn("could not release locks after a refusal", "err", rerr)
				}
			}
			if errors.Is(err, errLocked) {
				return a.reply(ctx, c, refusal(c.author, what, p.headSHA, problems))
			}
			return err
		}
		if !mine[cluster] {
			taken = append(taken, cluster)
		}
	}

	var lines []string
	for _, cluster := range clusters {
		spec := specs[cluster]
		rep := report{Installation: c.installation, Owner: c.owner, Repo: c.repo, Pull: c.number, Head: p.headSHA, By: c.author}
		id, state, err := a.startRollout(ctx, spec, rep)
		if err != nil {
			return err
		}
		lines = append(lines, fmt.Sprintf("| `%s` | %s | %s | %d | %d |", cluster, a.rolloutLink(id), state, len(spec.Nodes), len(spec.Waves)))
	}
	body := fmt.Sprintf("@%s, applying the head %s (%s). Each cluster is locked by this pull request until it is merged or closed, or `/unlock`; progress shows in the `apply: CLUSTER` check runs.\n\n| cluster | rollout | state | nodes | waves |\n|---|---|---|---:|---:|\n%s",
		c.author, short(p.headSHA), what, strings.Join(lines, "\n"))
	return a.reply(ctx, c, body)
}

var errLocked = errors.New("locked by another pull request")

// refusal is the answer to an apply that may not go ahead: every reason at
// once.
func refusal(author, what, head string, problems []string) string {
	return fmt.Sprintf("@%s, I did not apply the head %s (%s): nothing was deployed.\n\n- %s",
		author, short(head), what, strings.Join(problems, "\n- "))
}

// lockedProblem says that another pull request holds a cluster.
func lockedProblem(l store.Lock, url string) string {
	return fmt.Sprintf("**locked**: `%s` is locked by [#%d](%s) (applied by @%s), which is not merged or closed yet; the lock goes when #%d is merged or closed, or someone comments `/unlock %s` there.",
		l.Cluster, l.Pull, url, l.Owner, l.Pull, l.Cluster)
}

// selectClusters picks the clusters /apply names, or every cluster the
// plan changes, and says what is wrong with the names.
func selectClusters(args []string, p *plan.Plan, head *model.Repo) (clusters, problems []string) {
	changed := changedClusters(p)
	if len(args) == 0 {
		if len(changed) == 0 {
			problems = append(problems, "**clusters**: the plan changes no node of any cluster: there is nothing to apply.")
		}
		return changed, problems
	}
	known := map[string]bool{}
	for _, c := range p.Clusters {
		known[c.Name] = true
	}
	if head != nil {
		for _, c := range head.Clusters {
			known[c.Name.V] = true
		}
	}
	for _, name := range args {
		switch {
		case slices.Contains(clusters, name):
		case slices.Contains(changed, name):
			clusters = append(clusters, name)
		case known[name]:
			problems = append(problems, fmt.Sprintf("**clusters**: the plan changes nothing on `%s` (it changes %s).", name, listOrNone(changed)))
		default:
			problems = append(problems, fmt.Sprintf("**clusters**: there is no cluster `%s` (the plan changes %s).", name, listOrNone(changed)))
		}
	}
	return clusters, problems
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	quoted := make([]string, len(names))
	for i, n := range names {
		quoted[i] = "`" + n + "`"
	}
	return strings.Join(quoted, ", ")
}

// newSpec builds the rollout of one cluster of a plan.
func (a *App) newSpec(ctx context.Context, p *plan.Plan, head plan.Snapshot, repoName, cluster, source string) (rollout.Spec, error) {
	parts, err := a.cfg.Rollouts.Rollout(ctx, head.Repo, cluster)
	if err != nil {
		return rollout.Spec{}, err
	}
	return rollout.NewSpec(ctx, p, cluster, head.Repo, repoName, source, parts.Images)
}

// startRollout journals and queues the rollout of spec, or, when the same
// source already has a rollout of the same head on the cluster that did
// not succeed, resumes that one. It returns the rollout's id and what was
// done ("started", "resumed", "running", "already applied").
func (a *App) startRollout(ctx context.Context, spec rollout.Spec, rep report) (id, state string, err error) {
	existing, err := a.journal.Rollouts(ctx, store.RolloutFilter{Repo: spec.Repo, Cluster: spec.Cluster, Limit: 20})
	if err != nil {
		return "", "", err
	}
	for _, r := range existing {
		if r.Source != spec.Source || r.HeadCommit != spec.Head.Commit {
			continue
		}
		if r.Status == store.RolloutSucceeded {
			return r.ID, "already applied", nil
		}
		old, err := decodeReport(r.Report)
		if err != nil {
			return "", "", err
		}
		switch r.Status {
		case store.RolloutRunning:
			// Queued again in case its task was given up; a task that
			// waits or runs is not queued twice.
			return r.ID, "running", a.enqueueRollout(ctx, r, old.Run)
		case store.RolloutHalted:
			// A new run: a new check run, the same deployment.
			rep.Run = old.Run + 1
			rep.Deployment = old.Deployment
			rep.Note = old.Note
			if err := a.saveReport(ctx, r.ID, rep); err != nil {
				return "", "", err
			}
			// Running again from now on: a halted rollout whose end is not
			// reported is one that halted in this run.
			if err := a.journal.SetRolloutStatus(ctx, r.ID, store.RolloutRunning, ""); err != nil {
				return "", "", err
			}
			return r.ID, "resumed", a.enqueueRollout(ctx, r, rep.Run)
		}
	}
	runner := &rollout.Runner{Journal: a.journal}
	id, err = runner.Create(ctx, spec)
	if err != nil {
		return "", "", err
	}
	rep.Run = 1
	if err := a.saveReport(ctx, id, rep); err != nil {
		return "", "", err
	}
	return id, "started", a.enqueueRollout(ctx, store.Rollout{ID: id, Repo: spec.Repo, Cluster: spec.Cluster}, rep.Run)
}

// rolloutTask is the payload of a rollout task.
type rolloutTask struct {
	Rollout string `json:"rollout"`
}

// enqueueRollout queues the task that runs a run of a rollout. The key
// holds the rollout's id and the run: two rollouts of one cluster may wait
// at once (the runner's lease on the cluster lets one run at a time), one
// run of a rollout is never queued twice, and a new run (/apply on a
// halted rollout) is queued even while the task of the last one is still
// being marked done.
func (a *App) enqueueRollout(ctx context.Context, r store.Rollout, run int) error {
	payload, err := json.Marshal(rolloutTask{Rollout: r.ID})
	if err != nil {
		return err
	}
	key := fmt.Sprintf("%s %s %s #%d", r.Repo, r.Cluster, r.ID, run)
	_, err = a.state.Enqueue(ctx, store.Task{Kind: TaskRollout, Key: key, Payload: payload})
	return err
}

// rolloutURL is the bot's page of a rollout, or "" without a public URL.
func (a *App) rolloutURL(id string) string {
	if a.cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(a.cfg.PublicURL, "/") + "/rollouts/" + id
}

// rolloutLink is a rollout's id, linked to its page when there is one.
func (a *App) rolloutLink(id string) string {
	if u := a.rolloutURL(id); u != "" {
		return fmt.Sprintf("[`%s`](%s)", id, u)
	}
	return "`" + id + "`"
}

// pullURL is a pull request's page on GitHub, from its repository's page
// (html_url in the events); github.com when that is unknown.
func pullURL(repoHTML, owner, repo string, number int) string {
	if repoHTML == "" {
		repoHTML = "https://github.com/" + owner + "/" + repo
	}
	return fmt.Sprintf("%s/pull/%d", strings.TrimRight(repoHTML, "/"), number)
}

// onRequestedAction is a press of the plan check run's Apply button: the
// same as /apply without arguments, for the user who pressed it, on the
// pull request the check run was made for.
func (a *App) onRequestedAction(ctx context.Context, d store.Delivery, e *github.CheckRunEvent) error {
	run := e.GetCheckRun()
	if run.GetName() != planCheck || run.GetApp().GetID() != a.cfg.AppID || e.GetRequestedAction() == nil || e.GetRequestedAction().Identifier != applyButton.Identifier {
		return nil
	}
	number, err := parseNumber(run.GetExternalID())
	if err != nil {
		return store.Permanent(fmt.Errorf("the plan check run %d names no pull request: %w", run.GetID(), err))
	}
	gh, err := a.clients.Installation(e.GetInstallation().GetID())
	if err != nil {
		return err
	}
	sender := e.GetSender().GetLogin()
	c := commentContext{gh: gh, installation: e.GetInstallation().GetID(),
		owner: e.GetRepo().GetOwner().GetLogin(), repo: e.GetRepo().GetName(), repoHTML: e.GetRepo().GetHTMLURL(),
		number: number, author: sender}
	log := logger(ctx).With("pull", fmt.Sprintf("%s/%s#%d", c.owner, c.repo, c.number), "author", sender)
	ctx = withLogger(ctx, log)
	level, _, err := gh.Repositories.GetPermissionLevel(ctx, c.owner, c.repo, sender)
	if err != nil {
		return fmt.Errorf("reading %s's permission on %s/%s: %w", sender, c.owner, c.repo, err)
	}
	has := command.FromCollaborator(level.GetPermission(), level.GetRoleName())
	if !has.AtLeast(a.cfg.CommandPermission) {
		log.Info("apply button refused", "has", has.String(), "needs", a.cfg.CommandPermission.String())
		return a.reply(ctx, c, fmt.Sprintf("@%s, I did not run this:\n\n- the Apply button needs %s permission on %s/%s; you have %s.",
			sender, a.cfg.CommandPermission, c.owner, c.repo, has))
	}
	log.Info("apply button pressed", "check_run", run.GetID())
	return a.apply(ctx, d, c, nil, "the Apply button")
}
