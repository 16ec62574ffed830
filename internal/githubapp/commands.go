package githubapp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/command"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// commentLimit is GitHub's limit on a comment's body, in characters.
const commentLimit = 65536

// commandSpec describes one comment command.
type commandSpec struct {
	name  string
	usage string
	help  string
	// acts marks commands that change something; they need the configured
	// command permission, the others only read access.
	acts bool
	run  func(a *App, ctx context.Context, d store.Delivery, c commentContext, cmd command.Command) error
}

// commandSpecs lists the commands, in the order /help shows them.
func commandSpecs() []commandSpec {
	return []commandSpec{
		{name: "plan", usage: "/plan", acts: true,
			help: "compute the plan again for the pull request's current head",
			run:  (*App).runPlan},
		{name: "apply", usage: "/apply [CLUSTER…]", acts: true,
			help: "deploy the pull request's head to the clusters named, or to every cluster its plan changes, once the apply requirements are met; locks those clusters for this pull request until it is merged or closed. On a halted rollout of the same head, resumes it",
			run:  (*App).runApply},
		{name: "unlock", usage: "/unlock [CLUSTER…]", acts: true,
			help: "release the locks this pull request holds on the clusters named, or on all of them, so that other pull requests can apply there",
			run:  (*App).runUnlock},
		{name: "build", usage: "/build", acts: true,
			help: "build and test the images a pull request from a fork changes (they are not built on their own: building runs the Dockerfile's code on the bot's host)",
			run:  (*App).runBuild},
		{name: "help", usage: "/help",
			help: "show this help",
			run:  (*App).runHelp},
	}
}

func lookupCommand(name string) (commandSpec, bool) {
	for _, s := range commandSpecs() {
		if s.name == name {
			return s, true
		}
	}
	return commandSpec{}, false
}

// commentContext is where a command was written and by whom.
type commentContext struct {
	gh           *github.Client
	installation int64
	owner, repo  string
	// repoHTML is the repository's page, https://github.com/OWNER/REPO.
	repoHTML  string
	number    int
	commentID int64
	author    string
}

// onIssueComment runs the commands in a new comment on an open pull
// request. Edited and deleted comments, comments on issues, and comments by
// bots (this one included) are ignored.
func (a *App) onIssueComment(ctx context.Context, d store.Delivery, e *github.IssueCommentEvent) error {
	issue, comment := e.GetIssue(), e.GetComment()
	author := comment.GetUser()
	if e.GetAction() != "created" || !issue.IsPullRequest() || issue.GetState() != "open" {
		return nil
	}
	if author.GetType() == "Bot" || strings.EqualFold(author.GetLogin(), a.cfg.BotLogin) {
		return nil
	}
	var cmds []command.Command
	seen := map[string]bool{}
	for _, cmd := range command.Parse(comment.GetBody()) {
		if _, ok := lookupCommand(cmd.Name); ok && !seen[cmd.Name] {
			seen[cmd.Name] = true
			cmds = append(cmds, cmd)
		}
	}
	if len(cmds) == 0 {
		return nil
	}
	gh, err := a.clients.Installation(e.GetInstallation().GetID())
	if err != nil {
		return err
	}
	c := commentContext{
		gh: gh, installation: e.GetInstallation().GetID(),
		owner: e.GetRepo().GetOwner().GetLogin(), repo: e.GetRepo().GetName(), repoHTML: e.GetRepo().GetHTMLURL(),
		number: issue.GetNumber(), commentID: comment.GetID(), author: author.GetLogin(),
	}
	log := logger(ctx).With("pull", fmt.Sprintf("%s/%s#%d", c.owner, c.repo, c.number), "author", c.author)
	ctx = withLogger(ctx, log)
	level, _, err := gh.Repositories.GetPermissionLevel(ctx, c.owner, c.repo, c.author)
	if err != nil {
		return fmt.Errorf("reading %s's permission on %s/%s: %w", c.author, c.owner, c.repo, err)
	}
	has := command.FromCollaborator(level.GetPermission(), level.GetRoleName())
	var accepted []command.Command
	var refusals []string
	for _, cmd := range cmds {
		spec, _ := lookupCommand(cmd.Name)
		need := command.PermissionRead
		if spec.acts {
			need = a.cfg.CommandPermission
		}
		if !has.AtLeast(need) {
			refusals = append(refusals, fmt.Sprintf("`/%s` needs %s permission on %s/%s; you have %s.", cmd.Name, need, c.owner, c.repo, has))
			log.Info("command refused", "command", cmd.Name, "has", has.String(), "needs", need.String())
			continue
		}
		accepted = append(accepted, cmd)
	}
	if len(accepted) > 0 {
		if _, _, err := gh.Reactions.CreateIssueCommentReaction(ctx, c.owner, c.repo, c.commentID, "eyes"); err != nil {
			return fmt.Errorf("reacting to comment %d: %w", c.commentID, err)
		}
	}
	// Commands that act run before those that only answer, and refusals
	// are posted last: a command that must wait (another worker holds the
	// pull request) or fail runs the whole comment again later, and what
	// was already posted would be posted twice.
	slices.SortStableFunc(accepted, func(x, y command.Command) int {
		xs, _ := lookupCommand(x.Name)
		ys, _ := lookupCommand(y.Name)
		switch {
		case xs.acts && !ys.acts:
			return -1
		case ys.acts && !xs.acts:
			return 1
		}
		return 0
	})
	for _, cmd := range accepted {
		spec, _ := lookupCommand(cmd.Name)
		log.Info("running command", "command", cmd.Name, "line", cmd.Line)
		if err := spec.run(a, ctx, d, c, cmd); err != nil {
			return fmt.Errorf("/%s: %w", cmd.Name, err)
		}
	}
	if len(refusals) > 0 {
		body := fmt.Sprintf("@%s, I did not run this:\n\n- %s", c.author, strings.Join(refusals, "\n- "))
		if err := a.reply(ctx, c, body); err != nil {
			return err
		}
	}
	return nil
}

func (a *App) reply(ctx context.Context, c commentContext, body string) error {
	_, _, err := c.gh.Issues.CreateComment(ctx, c.owner, c.repo, c.number, &github.IssueComment{Body: github.String(truncate(body, commentLimit))})
	if err != nil {
		return fmt.Errorf("commenting on #%d: %w", c.number, err)
	}
	return nil
}

// runPlan plans the pull request's current head.
func (a *App) runPlan(ctx context.Context, d store.Delivery, c commentContext, _ command.Command) error {
	return a.planCurrentHead(ctx, d, c, "/plan by @"+c.author, false)
}

// planCurrentHead reads the pull request's head from GitHub and plans it;
// buildApproved lets a fork's images be built.
func (a *App) planCurrentHead(ctx context.Context, d store.Delivery, c commentContext, reason string, buildApproved bool) error {
	pr, _, err := c.gh.PullRequests.Get(ctx, c.owner, c.repo, c.number)
	if err != nil {
		return fmt.Errorf("reading pull request #%d: %w", c.number, err)
	}
	p := pull{installation: c.installation, owner: c.owner, repo: c.repo, number: c.number,
		headSHA: pr.GetHead().GetSHA(), baseRef: pr.GetBase().GetRef(), reason: reason,
		fork: isFork(pr), buildApproved: buildApproved, repoHTML: c.repoHTML}
	if err := p.check(); err != nil {
		return err
	}
	// The API's head is the newest there is: it supersedes older work.
	if err := a.state.RecordHead(ctx, p.key(), p.headSHA, d.Received); err != nil {
		return err
	}
	return a.plan(ctx, d, p)
}

// runBuild plans the pull request's current head and builds its images,
// even when it comes from a fork.
func (a *App) runBuild(ctx context.Context, d store.Delivery, c commentContext, cmd command.Command) error {
	if a.cfg.Images == nil {
		return a.reply(ctx, c, "This bot does not build images: it runs without an image pipeline.")
	}
	return a.planCurrentHead(ctx, d, c, "/build by @"+c.author, true)
}

// runHelp answers with the commands and who may use them.
func (a *App) runHelp(ctx context.Context, _ store.Delivery, c commentContext, _ command.Command) error {
	var b strings.Builder
	b.WriteString("Commands, each on a line of its own in a comment on this pull request:\n\n| command | does | needs |\n|---|---|---|\n")
	for _, s := range commandSpecs() {
		need := command.PermissionRead
		if s.acts {
			need = a.cfg.CommandPermission
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s permission |\n", s.usage, s.help, need)
	}
	b.WriteString("\nThe bot plans every pull request that touches `inventory/`, `clusters/`, `images/` or `specs/` on its own; see the `plan` check.")
	if a.applies() {
		var reqs []string
		for _, r := range a.cfg.ApplyRequirements {
			reqs = append(reqs, "`"+string(r)+"`")
		}
		if len(reqs) == 0 {
			reqs = []string{"none"}
		}
		fmt.Fprintf(&b, " `/apply` (or the plan's **Apply** button) also needs the apply requirements: %s.", strings.Join(reqs, ", "))
	} else {
		b.WriteString(" This bot does not apply: it runs without Ironic.")
	}
	return a.reply(ctx, c, b.String())
}
