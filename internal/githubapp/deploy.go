package githubapp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// applyCheckPrefix starts the name of a rollout's check run: "apply: c000".
const applyCheckPrefix = "apply: "

// deploymentDescriptionLimit is GitHub's limit on a deployment status's
// description, in characters.
const deploymentDescriptionLimit = 140

// reporter shows one rollout on GitHub: its check run, its deployment and
// its final comment. Progress comes from the runner, on the runner's
// goroutines; GitHub is told from startUpdates' goroutine, throttled.
type reporter struct {
	a      *App
	gh     *github.Client
	id     string
	spec   rollout.Spec
	source string
	rep    report

	mu     sync.Mutex
	latest rollout.Progress
	have   bool
	wave   int
	failed int
	sent   string        // the summary last sent
	urgent chan struct{} // capacity 1: a wave or failure to show now
}

func newReporter(a *App, gh *github.Client, rec store.Rollout, spec rollout.Spec, rep report) *reporter {
	return &reporter{a: a, gh: gh, id: rec.ID, spec: spec, rep: rep, source: rec.Source, urgent: make(chan struct{}, 1)}
}

func (r *reporter) checkName() string { return applyCheckPrefix + r.spec.Cluster }

func (r *reporter) run() *checkRun {
	return &checkRun{gh: r.gh, owner: r.rep.Owner, repo: r.rep.Repo, id: r.rep.CheckRun, name: r.checkName()}
}

// save records the report in the journal.
func (r *reporter) save(ctx context.Context) error { return r.a.saveReport(ctx, r.id, r.rep) }

// begin makes what a run is reported on, each thing once across restarts:
// the check run, the deployment and its in_progress status.
func (r *reporter) begin(ctx context.Context) error {
	url := r.a.rolloutURL(r.id)
	if r.rep.CheckRun == 0 {
		opts := github.CreateCheckRunOptions{
			Name: r.checkName(), HeadSHA: r.rep.Head, Status: github.String("in_progress"),
			StartedAt: &github.Timestamp{Time: time.Now()},
			Output:    output(fmt.Sprintf("Applying to %s", r.spec.Cluster), r.render(rollout.Summarize(r.id, r.spec, store.RolloutRunning, "", nil), store.RolloutRunning), nil),
		}
		if r.rep.Pull != 0 {
			opts.ExternalID = github.String(strconv.Itoa(r.rep.Pull))
		}
		if url != "" {
			opts.DetailsURL = github.String(url)
		}
		run, _, err := r.gh.Checks.CreateCheckRun(ctx, r.rep.Owner, r.rep.Repo, opts)
		if err != nil {
			return fmt.Errorf("creating the check run %q: %w", r.checkName(), err)
		}
		r.rep.CheckRun = run.GetID()
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	if r.rep.Deployment == 0 {
		desc := fmt.Sprintf("%s: %s in %s (rollout %s)", r.spec.Cluster, count(len(r.spec.Nodes), "node", "nodes"), count(len(r.spec.Waves), "wave", "waves"), r.id)
		d, _, err := r.gh.Repositories.CreateDeployment(ctx, r.rep.Owner, r.rep.Repo, &github.DeploymentRequest{
			Ref:              github.String(r.rep.Head),
			Task:             github.String("deploy"),
			Environment:      github.String(r.spec.Cluster),
			Description:      github.String(desc),
			AutoMerge:        github.Bool(false),
			RequiredContexts: &[]string{},
			Payload:          map[string]any{"rollout": r.id, "cluster": r.spec.Cluster, "source": r.source},
		})
		if err != nil {
			return fmt.Errorf("creating the deployment of %s to %s: %w", short(r.rep.Head), r.spec.Cluster, err)
		}
		r.rep.Deployment = d.GetID()
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	if !r.rep.InProgress {
		if err := r.deploymentStatus(ctx, "in_progress", fmt.Sprintf("Rolling out to %s", r.spec.Cluster)); err != nil {
			return err
		}
		r.rep.InProgress = true
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (r *reporter) deploymentStatus(ctx context.Context, state, description string) error {
	req := &github.DeploymentStatusRequest{State: github.String(state), Description: github.String(truncateRunes(description, deploymentDescriptionLimit))}
	if url := r.a.rolloutURL(r.id); url != "" {
		req.LogURL = github.String(url)
	}
	if _, _, err := r.gh.Repositories.CreateDeploymentStatus(ctx, r.rep.Owner, r.rep.Repo, r.rep.Deployment, req); err != nil {
		return fmt.Errorf("setting deployment %d %s: %w", r.rep.Deployment, state, err)
	}
	return nil
}

// progress takes the runner's progress; it is called after every journal
// event, synchronously, so it only records it and wakes the updater on a
// new wave or a new failure.
func (r *reporter) progress(p rollout.Progress) {
	r.mu.Lock()
	r.latest, r.have = p, true
	urgent := p.Wave != r.wave || len(p.Failed) > r.failed
	r.wave, r.failed = p.Wave, len(p.Failed)
	r.mu.Unlock()
	if urgent {
		select {
		case r.urgent <- struct{}{}:
		default:
		}
	}
}

// startUpdates shows the progress on the check run: every
// RolloutProgressEvery when it changed, and at once on a new wave or
// failure.
func (r *reporter) startUpdates(ctx context.Context) (stop func()) {
	return repeat(ctx, r.a.cfg.RolloutProgressEvery, r.urgent, r.flush)
}

// flush sends the latest progress unless the check run shows it already.
func (r *reporter) flush(ctx context.Context) {
	r.mu.Lock()
	p, have := r.latest, r.have
	r.mu.Unlock()
	if !have {
		return
	}
	summary := r.render(p, store.RolloutRunning)
	if summary == r.sent {
		return
	}
	_, _, err := r.gh.Checks.UpdateCheckRun(ctx, r.rep.Owner, r.rep.Repo, r.rep.CheckRun, github.UpdateCheckRunOptions{
		Name:   r.checkName(),
		Status: github.String("in_progress"),
		Output: output(progressTitle(p), summary, nil),
	})
	if err != nil {
		if ctx.Err() == nil {
			logger(ctx).Warn("could not show the rollout's progress", "err", err)
		}
		return
	}
	r.sent = summary
}

// finish reports the rollout's end as the journal tells it: the check run
// completed, the deployment's final status, the comment.
func (r *reporter) finish(ctx context.Context) error {
	rec, err := r.a.journal.Rollout(ctx, r.id)
	if err != nil {
		return err
	}
	events, err := r.a.journal.RolloutEvents(ctx, r.id, 0)
	if err != nil {
		return err
	}
	p := rollout.Summarize(r.id, r.spec, rec.Status, rec.Message, events)
	if r.rep.CheckRun == 0 || r.rep.Deployment == 0 {
		if err := r.begin(ctx); err != nil {
			return err
		}
	}
	conclusion, state := "success", "success"
	if rec.Status != store.RolloutSucceeded {
		conclusion, state = "failure", "failure"
	}
	if err := r.run().complete(ctx, conclusion, output(progressTitle(p), r.render(p, rec.Status), nil)); err != nil {
		return fmt.Errorf("completing the check run %q: %w", r.checkName(), err)
	}
	// Each of the next two is done once, even when a failure in between
	// makes the task run again.
	if r.rep.FinalStatus == "" {
		if err := r.deploymentStatus(ctx, state, progressTitle(p)); err != nil {
			return err
		}
		r.rep.FinalStatus = state
		if err := r.save(ctx); err != nil {
			return err
		}
	}
	if r.rep.Pull != 0 {
		body := r.comment(p, rec)
		if _, _, err := r.gh.Issues.CreateComment(ctx, r.rep.Owner, r.rep.Repo, r.rep.Pull, &github.IssueComment{Body: github.String(truncate(body, commentLimit))}); err != nil {
			return fmt.Errorf("commenting on #%d: %w", r.rep.Pull, err)
		}
	}
	r.rep.Finished = rec.Status
	return r.save(ctx)
}

// supersede ends a rollout of an older push that a newer one replaced,
// without running it.
func (r *reporter) supersede(ctx context.Context, newer string) error {
	msg := fmt.Sprintf("superseded by rollout %s of a newer commit of the default branch", newer)
	if err := r.a.journal.SetRolloutStatus(ctx, r.id, store.RolloutHalted, msg); err != nil {
		return err
	}
	if r.rep.CheckRun != 0 {
		summary := fmt.Sprintf("Not run: %s, which deploys what this one would and more.", r.a.rolloutLink(newer))
		if err := r.run().complete(ctx, "cancelled", output("Superseded by a newer rollout", summary, nil)); err != nil {
			return err
		}
	}
	if r.rep.Deployment != 0 {
		if err := r.deploymentStatus(ctx, "inactive", "Superseded by rollout "+newer); err != nil {
			return err
		}
	}
	r.rep.Finished = store.RolloutHalted
	return r.save(ctx)
}

// progressTitle says in one line where a rollout stands.
func progressTitle(p rollout.Progress) string {
	switch p.Status {
	case store.RolloutSucceeded:
		return fmt.Sprintf("%s deployed: %s in %s", p.Cluster, count(p.Total, "node", "nodes"), count(p.Waves, "wave", "waves"))
	case store.RolloutHalted:
		if p.Wave == 0 {
			return fmt.Sprintf("%s halted before changing anything", p.Cluster)
		}
		return fmt.Sprintf("%s halted in wave %d of %d, %d of %d nodes done", p.Cluster, p.Wave, p.Waves, p.Done, p.Total)
	}
	if p.Wave == 0 {
		return fmt.Sprintf("%s: starting, %s in %s", p.Cluster, count(p.Total, "node", "nodes"), count(p.Waves, "wave", "waves"))
	}
	return fmt.Sprintf("%s: wave %d of %d, %d of %d nodes done", p.Cluster, p.Wave, p.Waves, p.Done, p.Total)
}

// render is the check run's summary for a rollout at p.
func (r *reporter) render(p rollout.Progress, status string) string {
	return renderProgress(p, status, r.spec, r.rep, r.source, r.a.rolloutURL(r.id))
}

// renderProgress is an apply check run's summary: what is deployed from
// where, the waves and how far each got, the nodes in flight with their
// step and Ironic state, and what failed.
func renderProgress(p rollout.Progress, status string, spec rollout.Spec, rep report, source, url string) string {
	var b strings.Builder
	id := "`" + p.ID + "`"
	if url != "" {
		id = fmt.Sprintf("[`%s`](%s)", p.ID, url)
	}
	fmt.Fprintf(&b, "Rollout %s of **%s**: %s → %s", id, spec.Cluster, revLabel(spec.Base), revLabel(spec.Head))
	switch {
	case rep.By != "" && source == sourcePush:
		fmt.Fprintf(&b, ", pushed by @%s", rep.By)
	case rep.By != "":
		fmt.Fprintf(&b, ", asked by @%s", rep.By)
	}
	if rep.Pull != 0 {
		fmt.Fprintf(&b, " (#%d)", rep.Pull)
	}
	b.WriteString(".\n")
	if rep.Note != "" {
		fmt.Fprintf(&b, "\n> %s\n", rep.Note)
	}
	fmt.Fprintf(&b, "\n**%s** — wave %d of %d, %d of %d nodes done.\n", statusWord(status), p.Wave, p.Waves, p.Done, p.Total)
	if len(spec.Waves) > 0 {
		b.WriteString("\n| Wave | Role | Action | Nodes | State |\n|---:|---|---|---|---|\n")
		for _, w := range spec.Waves {
			fmt.Fprintf(&b, "| %d | %s | %s | %s | %s |\n", w.Number, w.Role, w.Action, strings.Join(w.Nodes, ", "), waveState(w.Number, p, status))
		}
	}
	if len(p.Current) > 0 {
		b.WriteString("\n### In flight\n\n| Node | Step | Ironic state |\n|---|---|---|\n")
		for _, c := range p.Current {
			state := c.State
			if state == "" {
				state = "–"
			}
			fmt.Fprintf(&b, "| %s | %s | %s |\n", c.Node, c.Step, state)
		}
	}
	if len(p.Failed) > 0 {
		b.WriteString("\n### Failed\n\n")
		for _, f := range p.Failed {
			fmt.Fprintf(&b, "- %s\n", oneLine(f))
		}
	}
	if p.Message != "" && status != store.RolloutRunning && len(p.Failed) == 0 {
		fmt.Fprintf(&b, "\n```\n%s\n```\n", strings.ReplaceAll(p.Message, "```", "'''"))
	}
	return truncate(b.String(), summaryLimit)
}

func statusWord(status string) string {
	switch status {
	case store.RolloutSucceeded:
		return "Succeeded"
	case store.RolloutHalted:
		return "Halted"
	}
	return "Running"
}

// waveState says how far a wave got.
func waveState(n int, p rollout.Progress, status string) string {
	switch {
	case status == store.RolloutSucceeded || n < p.Wave:
		return "done"
	case n == p.Wave && status == store.RolloutHalted:
		return "**halted**"
	case n == p.Wave:
		return "in progress"
	}
	return "waiting"
}

// revLabel names a revision by its short commit.
func revLabel(r plan.Revision) string {
	switch {
	case r.Commit != "":
		return "`" + short(r.Commit) + "`"
	case r.Rev != "":
		return r.Rev
	}
	return "nothing"
}

// comment is the pull request comment at the end of a rollout: where it
// stands, and for a halt where, why and how to go on.
func (r *reporter) comment(p rollout.Progress, rec store.Rollout) string {
	var b strings.Builder
	link := r.a.rolloutLink(r.id)
	what := fmt.Sprintf("this pull request's head %s", short(r.rep.Head))
	if r.source == sourcePush {
		what = fmt.Sprintf("the merge %s", short(r.rep.Head))
	}
	if rec.Status == store.RolloutSucceeded {
		fmt.Fprintf(&b, "Deployed %s to **%s**: %s in %s (rollout %s).", what, r.spec.Cluster,
			count(p.Total, "node", "nodes"), count(p.Waves, "wave", "waves"), link)
		if r.rep.Note != "" {
			fmt.Fprintf(&b, "\n\n> %s", r.rep.Note)
		}
		if r.source != sourcePush {
			fmt.Fprintf(&b, "\n\n`%s` stays locked by this pull request until it is merged or closed, or someone comments `/unlock %s`.", r.spec.Cluster, r.spec.Cluster)
		}
		return b.String()
	}
	fmt.Fprintf(&b, "The rollout of %s to **%s** halted (rollout %s): %d of %d nodes done", what, r.spec.Cluster, link, p.Done, p.Total)
	if p.Wave > 0 {
		fmt.Fprintf(&b, ", in wave %d of %d", p.Wave, p.Waves)
	}
	b.WriteString(". No further node was touched.\n\n")
	if len(p.Failed) > 0 {
		b.WriteString("What failed:\n\n")
		for _, f := range p.Failed {
			fmt.Fprintf(&b, "- %s\n", oneLine(f))
		}
		b.WriteString("\n")
	}
	if rec.Message != "" && len(p.Failed) == 0 {
		fmt.Fprintf(&b, "Why:\n\n```\n%s\n```\n\n", strings.ReplaceAll(rec.Message, "```", "'''"))
	}
	if r.source == sourcePush {
		fmt.Fprintf(&b, "To go on: fix the cause (in Ironic, the hardware, or with a new commit on the default branch, whose rollout plans from what was last deployed), or resume this rollout with `bot rollout resume %s`.", r.id)
	} else {
		fmt.Fprintf(&b, "To go on: fix the cause, then comment `/apply %s`. While the head stays %s, that resumes this rollout where it stopped (nodes already done are not touched again); after a new push it starts a new one.", r.spec.Cluster, short(r.rep.Head))
	}
	return b.String()
}

// oneLine keeps an error on one Markdown line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// truncateRunes cuts s to at most n characters, marking the cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}
