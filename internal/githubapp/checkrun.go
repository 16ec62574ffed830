package githubapp

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/render"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

const (
	// annotationsPerRequest is GitHub's limit per create or update.
	annotationsPerRequest = 50
	// summaryLimit is GitHub's limit on a check run's summary, in characters.
	summaryLimit = 65535
	// titleLimit keeps an annotation's title short; GitHub cuts long ones.
	titleLimit = 255
	// messageLimit is GitHub's limit on an annotation's message (64 KB).
	messageLimit = 64 * 1024
)

// checkRun is one of the bot's check runs on GitHub: "plan" unless name
// says otherwise.
type checkRun struct {
	gh          *github.Client
	owner, repo string
	id          int64
	name        string
}

// checkName is the check run's name.
func (c *checkRun) checkName() string {
	if c.name == "" {
		return planCheck
	}
	return c.name
}

// start opens the check run as in progress.
func (c *checkRun) start(ctx context.Context, p pull, publicURL string) error {
	opts := github.CreateCheckRunOptions{
		Name:       c.checkName(),
		HeadSHA:    p.headSHA,
		ExternalID: github.String(strconv.Itoa(p.number)),
		Status:     github.String("in_progress"),
		StartedAt:  &github.Timestamp{Time: time.Now()},
		Output: &github.CheckRunOutput{
			Title:   github.String("Computing the plan"),
			Summary: github.String(fmt.Sprintf("Planning %s against %s (%s).", short(p.headSHA), p.baseRef, p.reason)),
		},
	}
	if publicURL != "" {
		opts.DetailsURL = github.String(publicURL)
	}
	run, _, err := c.gh.Checks.CreateCheckRun(ctx, c.owner, c.repo, opts)
	if err != nil {
		return fmt.Errorf("creating the plan check run on %s: %w", short(p.headSHA), err)
	}
	c.id = run.GetID()
	return nil
}

// publish completes the check run with the plan: the rendered plan as
// summary and every finding as an annotation, 50 per request. All but the
// last batch go out while the run is still in progress, so it never shows
// completed with half its annotations. actions are the buttons the
// completed run offers.
func (c *checkRun) publish(ctx context.Context, p *plan.Plan, note string, actions []*github.CheckRunAction) error {
	title := planTitle(p)
	summary := render.Markdown(p, summaryLimit-len(note)) + note
	annotations := annotationsOf(p.Findings)
	for len(annotations) > annotationsPerRequest {
		batch := annotations[:annotationsPerRequest]
		annotations = annotations[annotationsPerRequest:]
		_, _, err := c.gh.Checks.UpdateCheckRun(ctx, c.owner, c.repo, c.id, github.UpdateCheckRunOptions{
			Name:   c.checkName(),
			Output: output(title, summary, batch),
		})
		if err != nil {
			return fmt.Errorf("adding annotations to the plan check run: %w", err)
		}
	}
	if err := c.complete(ctx, conclusion(p), output(title, summary, annotations), actions...); err != nil {
		return fmt.Errorf("completing the plan check run: %w", err)
	}
	return nil
}

// complete concludes the check run, offering actions as buttons.
func (c *checkRun) complete(ctx context.Context, conclusion string, out *github.CheckRunOutput, actions ...*github.CheckRunAction) error {
	_, _, err := c.gh.Checks.UpdateCheckRun(ctx, c.owner, c.repo, c.id, github.UpdateCheckRunOptions{
		Name:        c.checkName(),
		Status:      github.String("completed"),
		Conclusion:  github.String(conclusion),
		CompletedAt: &github.Timestamp{Time: time.Now()},
		Output:      out,
		Actions:     actions,
	})
	return err
}

func output(title, summary string, annotations []*github.CheckRunAnnotation) *github.CheckRunOutput {
	return &github.CheckRunOutput{Title: github.String(title), Summary: github.String(summary), Annotations: annotations}
}

// fail completes the check run as failed because the plan could not be
// computed, and says whether the bot tries again.
func (c *checkRun) fail(ctx context.Context, d store.Delivery, cause error) {
	next := "It tries again on its own; a new `plan` check run replaces this one."
	if store.IsPermanent(cause) {
		next = "Trying again would fail the same way; push a fix, then comment `/plan`."
	}
	summary := fmt.Sprintf("The bot could not compute the plan (attempt %d):\n\n```\n%s\n```\n\n%s",
		d.Attempt, strings.ReplaceAll(cause.Error(), "```", "'''"), next)
	if err := c.complete(ctx, "failure", output("Could not compute the plan", truncate(summary, summaryLimit), nil)); err != nil {
		logger(ctx).Warn("could not mark the plan check run failed", "check_run", c.id, "err", err)
	}
}

// supersede completes the check run as cancelled: a newer push is planned
// instead.
func (c *checkRun) supersede(ctx context.Context, newer string) error {
	summary := fmt.Sprintf("The pull request's head moved on to %s, which gets its own plan.", newer)
	if err := c.complete(ctx, "cancelled", output("Superseded by a newer push", summary, nil)); err != nil {
		return fmt.Errorf("marking the plan check run superseded: %w", err)
	}
	return nil
}

// conclusion is failure for an invalid head, neutral for a plan that
// changes nothing, and success otherwise.
func conclusion(p *plan.Plan) string {
	switch {
	case !p.Valid:
		return "failure"
	case p.Summary.Empty():
		return "neutral"
	}
	return "success"
}

// planTitle says in one line what the plan does.
func planTitle(p *plan.Plan) string {
	s := p.Summary
	if !p.Valid {
		return fmt.Sprintf("%s in the fleet: nothing may be applied", count(s.Errors, "error", "errors"))
	}
	if s.Empty() {
		return "No change to images or nodes"
	}
	var parts []string
	add := func(n int, one, many string) {
		if n > 0 {
			parts = append(parts, count(n, one, many))
		}
	}
	add(s.ImagesToBuild, "image to build", "images to build")
	add(s.Provision, "node to provision", "nodes to provision")
	add(s.Reprovision, "node to re-provision", "nodes to re-provision")
	add(s.Decommission, "node to decommission", "nodes to decommission")
	add(s.ImagesRemoved, "image no longer used", "images no longer used")
	return strings.Join(parts, ", ")
}

func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// annotationsOf turns findings into check run annotations at their file and
// line; a finding about a whole file points at its first line.
func annotationsOf(findings []finding.Finding) []*github.CheckRunAnnotation {
	out := make([]*github.CheckRunAnnotation, 0, len(findings))
	for _, f := range findings {
		line := f.Pos.Line
		if line < 1 {
			line = 1
		}
		path := f.Pos.File
		if path == "" {
			path = "."
		}
		a := &github.CheckRunAnnotation{
			Path:            github.String(path),
			StartLine:       github.Int(line),
			EndLine:         github.Int(line),
			AnnotationLevel: github.String(level(f.Severity)),
			Title:           github.String(truncate(f.Rule, titleLimit)),
			Message:         github.String(truncate(f.Message, messageLimit)),
		}
		if f.Pos.Col > 0 {
			// GitHub takes columns only for annotations on a single line.
			a.StartColumn = github.Int(f.Pos.Col)
			a.EndColumn = github.Int(f.Pos.Col)
		}
		out = append(out, a)
	}
	return out
}

func level(s finding.Severity) string {
	switch s {
	case finding.Error:
		return "failure"
	case finding.Warning:
		return "warning"
	}
	return "notice"
}

// truncate cuts s to at most n bytes at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const mark = "…"
	cut := n - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}
