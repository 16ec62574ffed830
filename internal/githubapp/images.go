package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/imagepipeline"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// Images is the image pipeline as the app uses it.
type Images interface {
	Run(ctx context.Context, snap plan.Snapshot, variants []string) ([]imagepipeline.Outcome, error)
	Diff(ctx context.Context, base, head plan.Snapshot, variant string) (imagepipeline.ImageDiff, error)
}

const (
	// imageCheckPrefix starts the name of an image's check run.
	imageCheckPrefix = "image: "
	// TaskImageBuild is the task kind of an image build for a pull request.
	TaskImageBuild = "image_build"
	// progressEvery bounds how often a build's check run is updated.
	progressEvery = 10 * time.Second
)

// imageTask is the payload of an image build task.
type imageTask struct {
	Installation int64  `json:"installation"`
	Owner        string `json:"owner"`
	Repo         string `json:"repo"`
	Number       int    `json:"number"`
	Head         string `json:"head"`
	Base         string `json:"base"`
	BaseRef      string `json:"base_ref"`
	Variant      string `json:"variant"`
}

// buildsImages says whether the pull request's images may be built.
func (a *App) buildsImages(p pull) bool {
	return a.cfg.Images != nil && (!p.fork || p.buildApproved)
}

// imageBuilds are the images a plan builds.
func imageBuilds(p *plan.Plan) []plan.ImageAction {
	var out []plan.ImageAction
	for _, img := range p.Images {
		if img.Action == plan.ImageBuild {
			out = append(out, img)
		}
	}
	return out
}

// enqueueImageBuilds queues one build task per image the plan builds. A
// task already waiting or running for the same head and image is not
// queued twice.
func (a *App) enqueueImageBuilds(ctx context.Context, p pull, base string, result *plan.Plan) error {
	for _, img := range imageBuilds(result) {
		payload, err := json.Marshal(imageTask{Installation: p.installation, Owner: p.owner, Repo: p.repo,
			Number: p.number, Head: p.headSHA, Base: base, BaseRef: p.baseRef, Variant: img.Variant})
		if err != nil {
			return err
		}
		key := fmt.Sprintf("%s/%s@%s %s", p.owner, p.repo, p.headSHA, img.Variant)
		if _, err := a.state.Enqueue(ctx, store.Task{Kind: TaskImageBuild, Key: key, Payload: payload}); err != nil {
			return err
		}
	}
	return nil
}

// HandleImageBuild is the handler of image build tasks: it builds, tests,
// converts and publishes one image of a pull request's head and reports it
// as the check run "image: VARIANT", with the package diff against the
// base.
func (a *App) HandleImageBuild(ctx context.Context, t store.Task) error {
	var it imageTask
	if err := json.Unmarshal(t.Payload, &it); err != nil {
		return store.Permanent(fmt.Errorf("image task payload: %w", err))
	}
	log := a.log.With("task", t.Key, "attempt", t.Attempt)
	ctx = withLogger(ctx, log)
	p := pull{installation: it.Installation, owner: it.Owner, repo: it.Repo, number: it.Number, headSHA: it.Head, baseRef: it.BaseRef}
	if newer, err := a.superseded(ctx, p); err != nil || newer != "" {
		return err
	}
	gh, err := a.clients.Installation(it.Installation)
	if err != nil {
		return err
	}
	run := &checkRun{gh: gh, owner: it.Owner, repo: it.Repo, name: imageCheckPrefix + it.Variant}
	p.reason = "image build"
	if err := run.start(ctx, p, a.cfg.PublicURL); err != nil {
		return err
	}
	err = a.buildImage(ctx, gh, p, it, run)
	if err != nil {
		summary := fmt.Sprintf("The bot could not build `%s` (attempt %d):\n\n```\n%s\n```\n", it.Variant, t.Attempt,
			truncate(strings.ReplaceAll(err.Error(), "```", "'''"), 30_000))
		if cerr := run.complete(context.WithoutCancel(ctx), "failure", output("Could not build "+it.Variant, summary, nil)); cerr != nil {
			log.Warn("could not complete the image check run", "err", cerr)
		}
	}
	return err
}

// buildImage runs the pipeline for the head and completes the check run
// with what became of the image. A build that fails is a completed check
// run, not an error: trying again would fail the same way.
func (a *App) buildImage(ctx context.Context, gh *github.Client, p pull, it imageTask, run *checkRun) error {
	reader := fleet.NewReader()
	headFS, err := a.tarball(ctx, gh, p, it.Head)
	if err != nil {
		return err
	}
	head, err := reader.Load(ctx, headFS, "head "+short(it.Head), it.Head)
	if err != nil {
		return err
	}
	progress := newProgressReport(run, it.Variant)
	pctx := imagebuild.WithProgress(ctx, progress.add)
	stop := progress.start(ctx)
	outcomes, runErr := a.cfg.Images.Run(pctx, head, []string{it.Variant})
	stop()
	if len(outcomes) == 0 {
		return runErr
	}
	o := outcomes[len(outcomes)-1]
	if o.Err != nil {
		return run.complete(ctx, "failure", imageFailure(it.Variant, o, outcomes))
	}

	var diff string
	if baseFS, err := a.tarball(ctx, gh, p, it.Base); err != nil {
		diff = fmt.Sprintf("The base could not be read for a package diff: %v\n", err)
	} else if base, err := reader.LoadBase(ctx, baseFS, "base "+short(it.Base), it.Base); err != nil {
		diff = fmt.Sprintf("The base could not be loaded for a package diff: %v\n", err)
	} else if _, err := imageid.NewResolver(base.Repo).Resolve(it.Variant); err != nil {
		diff = fmt.Sprintf("`%s` is new in this pull request: there is no base to compare with.\n", it.Variant)
	} else if d, err := a.cfg.Images.Diff(pctx, base, head, it.Variant); err != nil {
		diff = fmt.Sprintf("The image at the base could not be built for a package diff:\n\n```\n%s\n```\n", truncate(err.Error(), 8_000))
	} else {
		diff = d.Markdown(30_000)
	}
	return run.complete(ctx, "success", imageSuccess(it.Variant, o, diff, a.cfg.PublicURL))
}

// imageSuccess is the check run's output for a published image.
func imageSuccess(variant string, o imagepipeline.Outcome, diff, publicURL string) *github.CheckRunOutput {
	m := o.Manifest
	var b strings.Builder
	fmt.Fprintf(&b, "Built `%s` as `%s`", variant, m.ID.Short())
	if o.Spec != nil {
		fmt.Fprintf(&b, "; all %d spec checks passed", o.Spec.Summary.Checks)
	}
	b.WriteString(".\n\n### Artifacts\n\n| file | kind | size | sha256 |\n|---|---|---:|---|\n")
	for _, art := range m.Artifacts {
		name := "`" + art.Name + "`"
		if publicURL != "" {
			name = fmt.Sprintf("[`%s`](%s/images/%s/%s)", art.Name, strings.TrimRight(publicURL, "/"), m.ID, art.Name)
		}
		fmt.Fprintf(&b, "| %s | %s | %.1f MiB | `%s` |\n", name, art.Kind, float64(art.Size)/(1<<20), art.SHA256)
	}
	b.WriteString("\n### Changes against the base\n\n")
	b.WriteString(diff)
	if o.Spec != nil {
		b.WriteString("\n<details><summary>Spec results</summary>\n\n")
		b.WriteString(o.Spec.Markdown(summaryLimit - b.Len() - 100))
		b.WriteString("\n</details>\n")
	}
	title := fmt.Sprintf("%s built and tested: %d packages", variant, len(m.Packages))
	return output(title, truncate(b.String(), summaryLimit), nil)
}

// imageFailure is the check run's output for an image that failed a step:
// the step, the error, and the spec failures as annotations.
func imageFailure(variant string, o imagepipeline.Outcome, all []imagepipeline.Outcome) *github.CheckRunOutput {
	step := "build"
	var se *imagepipeline.StepError
	if errors.As(o.Err, &se) {
		step = se.Step
	}
	var b strings.Builder
	fmt.Fprintf(&b, "`%s` failed at the step **%s**:\n\n```\n%s\n```\n", variant, step,
		truncate(strings.ReplaceAll(o.Err.Error(), "```", "'''"), 30_000))
	for _, other := range all[:len(all)-1] {
		if other.Err != nil {
			fmt.Fprintf(&b, "\nIt is built on `%s`, which failed too: see its own check run.\n", other.Build.Variant)
		}
	}
	var annotations []*github.CheckRunAnnotation
	if o.Spec != nil {
		b.WriteString("\n" + o.Spec.Markdown(summaryLimit-b.Len()-100))
		annotations = annotationsOf(o.Spec.Findings())
		if len(annotations) > annotationsPerRequest {
			annotations = annotations[:annotationsPerRequest]
		}
	}
	return output(fmt.Sprintf("%s failed: %s", variant, step), truncate(b.String(), summaryLimit), annotations)
}

// progressReport keeps a build's last lines and shows them on its check
// run now and then.
type progressReport struct {
	check   *checkRun
	variant string
	mu      sync.Mutex
	lines   []string
	changed bool
}

func newProgressReport(run *checkRun, variant string) *progressReport {
	return &progressReport{check: run, variant: variant}
}

func (p *progressReport) add(variant, line string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lines = append(p.lines, "["+variant+"] "+line)
	if len(p.lines) > 20 {
		p.lines = p.lines[len(p.lines)-20:]
	}
	p.changed = true
}

// start updates the check run every progressEvery until stop is called.
func (p *progressReport) start(ctx context.Context) (stop func()) {
	return repeat(ctx, progressEvery, nil, p.flush)
}

func (p *progressReport) flush(ctx context.Context) {
	p.mu.Lock()
	if !p.changed {
		p.mu.Unlock()
		return
	}
	p.changed = false
	text := strings.ReplaceAll(strings.Join(p.lines, "\n"), "```", "'''")
	p.mu.Unlock()
	summary := fmt.Sprintf("Building `%s`. The latest output:\n\n```\n%s\n```\n", p.variant, truncate(text, 20_000))
	_, _, err := p.check.gh.Checks.UpdateCheckRun(ctx, p.check.owner, p.check.repo, p.check.id, github.UpdateCheckRunOptions{
		Name:   p.check.checkName(),
		Status: github.String("in_progress"),
		Output: output("Building "+p.variant, summary, nil),
	})
	if err != nil {
		logger(ctx).Warn("could not show build progress", "err", err)
	}
}
