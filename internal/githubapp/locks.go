package githubapp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// runUnlock is /unlock [CLUSTER…]: it releases the locks this pull request
// holds, on the clusters named or on all of them. A rollout already
// running goes on; the lock only keeps other pull requests from applying.
func (a *App) runUnlock(ctx context.Context, _ store.Delivery, c commentContext, cmd command.Command) error {
	if !a.applies() {
		return a.reply(ctx, c, "This bot does not apply plans, so it holds no locks: it runs without Ironic (`--ironic-url`).")
	}
	repoName := c.owner + "/" + c.repo
	locks, err := a.journal.Locks(ctx, repoName)
	if err != nil {
		return err
	}
	var held []string
	for _, l := range locks {
		if l.Pull == c.number {
			held = append(held, l.Cluster)
		}
	}
	var notHeld []string
	for _, name := range cmd.Args {
		if !slices.Contains(held, name) && !slices.Contains(notHeld, name) {
			notHeld = append(notHeld, name)
		}
	}
	released, err := a.journal.ReleaseLocks(ctx, repoName, c.number, cmd.Args...)
	if err != nil {
		return err
	}
	logger(ctx).Info("unlocked", "clusters", released)
	var b strings.Builder
	switch {
	case len(released) > 0:
		fmt.Fprintf(&b, "@%s, released the lock of this pull request on %s: other pull requests may apply there now.", c.author, listOrNone(released))
	case len(cmd.Args) == 0:
		fmt.Fprintf(&b, "@%s, this pull request holds no lock.", c.author)
	}
	if len(notHeld) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "This pull request holds no lock on %s (it holds %s).", listOrNone(notHeld), listOrNone(held))
	}
	return a.reply(ctx, c, b.String())
}

// onClosed releases the locks of a pull request that was merged or closed.
func (a *App) onClosed(ctx context.Context, e *github.PullRequestEvent) error {
	if a.journal == nil {
		return nil
	}
	owner, name, number := e.GetRepo().GetOwner().GetLogin(), e.GetRepo().GetName(), e.GetPullRequest().GetNumber()
	released, err := a.journal.ReleaseLocks(ctx, owner+"/"+name, number)
	if err != nil {
		return err
	}
	if len(released) == 0 {
		return nil
	}
	how := "closed"
	if e.GetPullRequest().GetMerged() {
		how = "merged"
	}
	logger(ctx).Info("released the locks of a closed pull request", "pull", number, "clusters", released, "how", how)
	gh, err := a.clients.Installation(e.GetInstallation().GetID())
	if err != nil {
		return err
	}
	body := fmt.Sprintf("Released this pull request's lock on %s: it was %s.", listOrNone(released), how)
	if how == "closed" {
		body += " What it applied stays deployed until the next rollout of the default branch, which plans from it."
	}
	_, _, err = gh.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: github.String(body)})
	if err != nil {
		return fmt.Errorf("commenting on #%d: %w", number, err)
	}
	return nil
}

// lockNote tells, in a plan, the clusters it changes that another pull
// request holds locked.
func (a *App) lockNote(ctx context.Context, p pull, result *plan.Plan) (string, error) {
	if a.journal == nil {
		return "", nil
	}
	changed := changedClusters(result)
	if len(changed) == 0 {
		return "", nil
	}
	locks, err := a.journal.Locks(ctx, p.owner+"/"+p.repo)
	if err != nil {
		return "", err
	}
	var lines []string
	for _, l := range locks {
		if l.Pull == p.number || !slices.Contains(changed, l.Cluster) {
			continue
		}
		lines = append(lines, fmt.Sprintf("> - `%s` is locked by [#%d](%s) (applied by @%s): `/apply` here is refused until #%d is merged or closed, or unlocked there.",
			l.Cluster, l.Pull, pullURL(p.repoHTML, p.owner, p.repo, l.Pull), l.Owner, l.Pull))
	}
	if len(lines) == 0 {
		return "", nil
	}
	return "\n\n> **Locked clusters.**\n" + strings.Join(lines, "\n") + "\n", nil
}
