package githubapp

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// zeroSHA is a push's "before" when it created the branch, and its "after"
// when it deleted it.
const zeroSHA = "0000000000000000000000000000000000000000"

// onPush rolls a new commit of the default branch out: for each cluster it
// plans from the commit last deployed there (the push's "before" when none
// was recorded) to the new head, and runs the clusters that have work.
// What an /apply deployed already is planned away (the pull request's head
// was recorded as deployed), and Ironic skips nodes that run their target.
// Pushes to other branches are ignored. A cluster locked by another open
// pull request is left to it.
func (a *App) onPush(ctx context.Context, d store.Delivery, e *github.PushEvent) error {
	repo := e.GetRepo()
	def := repo.GetDefaultBranch()
	if def == "" {
		def = repo.GetMasterBranch()
	}
	after := e.GetAfter()
	if def == "" || e.GetRef() != "refs/heads/"+def || e.GetDeleted() || after == "" || after == zeroSHA {
		return nil
	}
	if !a.applies() {
		logger(ctx).Info("push to the default branch; this bot does not apply", "after", short(after))
		return nil
	}
	owner := repo.GetOwner().GetLogin()
	if owner == "" {
		owner = repo.GetOwner().GetName()
	}
	name := repo.GetName()
	repoName := owner + "/" + name
	log := logger(ctx).With("repo", repoName, "after", short(after))
	ctx = withLogger(ctx, log)

	release, err := a.claim(ctx, d, repoName+" push", "another worker is rolling out a push to "+repoName)
	if err != nil {
		return err
	}
	defer release()

	inst := e.GetInstallation().GetID()
	gh, err := a.clients.Installation(inst)
	if err != nil {
		return err
	}
	merged, err := mergedPull(ctx, gh, owner, name, after)
	if err != nil {
		return err
	}
	reader := fleet.NewReader()
	head, err := a.loadSnapshot(ctx, reader, gh, owner, name, after, false)
	if err != nil {
		return err
	}
	before := e.GetBefore()
	created := before == "" || before == zeroSHA
	plans := map[string]*plan.Plan{}
	planFrom := func(base string) (*plan.Plan, error) {
		if p, ok := plans[base]; ok {
			return p, nil
		}
		var baseSnap plan.Snapshot
		var err error
		if base == "" {
			baseSnap, err = reader.Empty(ctx)
		} else {
			baseSnap, err = a.loadSnapshot(ctx, reader, gh, owner, name, base, true)
		}
		if err != nil {
			return nil, err
		}
		p := plan.Compute(baseSnap, head)
		plans[base] = p
		return p, nil
	}

	deployed := map[string]string{}
	list, err := a.journal.DeployedClusters(ctx, repoName)
	if err != nil {
		return err
	}
	for _, dep := range list {
		deployed[dep.Cluster] = dep.Commit
	}
	names := map[string]bool{}
	for _, c := range head.Repo.Clusters {
		names[c.Name.V] = true
	}
	for c := range deployed {
		names[c] = true
	}
	if !created {
		fromBefore, err := planFrom(before)
		if err != nil {
			return err
		}
		for _, c := range fromBefore.Clusters {
			names[c.Name] = true
		}
	}
	clusters := make([]string, 0, len(names))
	for c := range names {
		clusters = append(clusters, c)
	}
	sort.Strings(clusters)

	locks, err := a.journal.Locks(ctx, repoName)
	if err != nil {
		return err
	}
	mergedNumber := merged.GetNumber()
	var lines []string
	for _, cluster := range clusters {
		base, note := deployed[cluster], ""
		switch {
		case base != "":
		case created:
			note = fmt.Sprintf("Nothing was recorded as deployed to `%s`, and the push created the branch: planned from an empty fleet.", cluster)
		default:
			base = before
			note = fmt.Sprintf("Nothing was recorded as deployed to `%s` yet: planned from the push's previous commit %s.", cluster, short(before))
		}
		p, err := planFrom(base)
		if err != nil {
			return err
		}
		if !p.Valid {
			log.Warn("the default branch has validation errors; nothing rolled out")
			return a.commentMerge(ctx, gh, owner, name, merged, after,
				[]string{fmt.Sprintf("The default branch at %s has validation errors (see its `plan`): nothing was deployed.", short(after))})
		}
		from := "`" + short(base) + "`"
		if base == "" {
			from = "nothing"
		}
		i := slices.IndexFunc(p.Clusters, func(c plan.ClusterPlan) bool { return c.Name == cluster })
		if i < 0 || len(p.Clusters[i].Waves) == 0 {
			lines = append(lines, fmt.Sprintf("| `%s` | %s | nothing to do: it runs all this commit asks for |", cluster, from))
			continue
		}
		if l, ok := lockedByOther(locks, cluster, mergedNumber); ok {
			lines = append(lines, fmt.Sprintf("| `%s` | %s | not deployed: locked by [#%d](%s), which applied its own head there; its merge or the next push deploys the default branch |",
				cluster, from, l.Pull, pullURL(repo.GetHTMLURL(), owner, name, l.Pull)))
			continue
		}
		spec, err := a.newSpec(ctx, p, head, repoName, cluster, sourcePush)
		if err != nil {
			lines = append(lines, fmt.Sprintf("| `%s` | %s | **not deployed**: %s |", cluster, from, oneLine(err.Error())))
			continue
		}
		rep := report{Installation: inst, Owner: owner, Repo: name, RepoHTML: repo.GetHTMLURL(), Pull: mergedNumber,
			Head: after, By: e.GetSender().GetLogin(), Note: note}
		id, state, err := a.startRollout(ctx, spec, rep)
		if err != nil {
			return err
		}
		log.Info("rollout of the default branch", "cluster", cluster, "rollout", id, "state", state, "base", short(base))
		lines = append(lines, fmt.Sprintf("| `%s` | %s | rollout %s %s: %s in %s |", cluster, from, a.rolloutLink(id), state,
			count(len(spec.Nodes), "node", "nodes"), count(len(spec.Waves), "wave", "waves")))
	}
	if len(lines) == 0 {
		return nil
	}
	return a.commentMerge(ctx, gh, owner, name, merged, after,
		[]string{fmt.Sprintf("Rolling out the default branch at %s, cluster by cluster, each from the commit last deployed there:", short(after)),
			"| cluster | from | what happens |\n|---|---|---|\n" + strings.Join(lines, "\n"),
			"Each rollout reports on the commit (the `apply: CLUSTER` check run and a deployment) and here when it ends."})
}

// commentMerge comments on the merged pull request, when there is one.
func (a *App) commentMerge(ctx context.Context, gh *github.Client, owner, name string, merged *github.PullRequest, after string, paragraphs []string) error {
	if merged == nil {
		return nil
	}
	body := strings.Join(paragraphs, "\n\n")
	if _, _, err := gh.Issues.CreateComment(ctx, owner, name, merged.GetNumber(), &github.IssueComment{Body: github.String(truncate(body, commentLimit))}); err != nil {
		return fmt.Errorf("commenting on #%d: %w", merged.GetNumber(), err)
	}
	return nil
}

// lockedByOther returns the lock on cluster held by a pull request other
// than number.
func lockedByOther(locks []store.Lock, cluster string, number int) (store.Lock, bool) {
	for _, l := range locks {
		if l.Cluster == cluster && l.Pull != number {
			return l, true
		}
	}
	return store.Lock{}, false
}

// mergedPull finds the pull request whose merge made commit sha, or nil.
func mergedPull(ctx context.Context, gh *github.Client, owner, name, sha string) (*github.PullRequest, error) {
	prs, _, err := gh.PullRequests.ListPullRequestsWithCommit(ctx, owner, name, sha, &github.ListOptions{PerPage: 100})
	if err != nil {
		return nil, fmt.Errorf("finding the pull request of %s: %w", short(sha), err)
	}
	for _, pr := range prs {
		if pr.GetMergeCommitSHA() == sha {
			return pr, nil
		}
	}
	for _, pr := range prs {
		if pr.MergedAt != nil {
			return pr, nil
		}
	}
	return nil, nil
}
