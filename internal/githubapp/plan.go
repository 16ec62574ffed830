package githubapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// planCheck is the name of the plan's check run.
const planCheck = "plan"

// compareFileLimit is how many files GitHub's compare API lists at most; a
// list that long may be cut short, so it counts as touching the fleet.
const compareFileLimit = 300

// touchesFleet reports whether a change to these paths can change the plan.
func touchesFleet(files []*github.CommitFile) bool {
	if len(files) >= compareFileLimit {
		return true
	}
	for _, f := range files {
		for _, name := range []string{f.GetFilename(), f.GetPreviousFilename()} {
			for _, folder := range model.Folders() {
				if strings.HasPrefix(name, folder+"/") {
					return true
				}
			}
		}
	}
	return false
}

// plan computes the plan for a pull request's head and publishes it as the
// "plan" check run. One worker at a time plans a pull request; a head that a
// newer push replaced is not planned, or its check run says it was
// superseded.
func (a *App) plan(ctx context.Context, d store.Delivery, p pull) error {
	log := logger(ctx).With("pull", p.key(), "head", short(p.headSHA))
	ctx = withLogger(ctx, log)
	if superseded, err := a.superseded(ctx, p); err != nil || superseded != "" {
		if superseded != "" {
			log.Info("not planning a superseded head", "newer", short(superseded))
		}
		return err
	}
	release, err := a.claim(ctx, d, p.key(), "another worker is planning "+p.key())
	if err != nil {
		return err
	}
	defer release()

	gh, err := a.clients.Installation(p.installation)
	if err != nil {
		return err
	}
	cmp, _, err := gh.Repositories.CompareCommits(ctx, p.owner, p.repo, p.baseRef, p.headSHA, &github.ListOptions{PerPage: 1})
	if err != nil {
		return fmt.Errorf("comparing %s with %s: %w", p.baseRef, short(p.headSHA), err)
	}
	if !touchesFleet(cmp.Files) {
		log.Info("pull request does not touch the fleet; no plan")
		return nil
	}
	base := cmp.GetMergeBaseCommit().GetSHA()
	run := &checkRun{gh: gh, owner: p.owner, repo: p.repo}
	if err := run.start(ctx, p, a.cfg.PublicURL); err != nil {
		return err
	}
	result, err := a.finish(ctx, gh, p, base, run)
	if err != nil {
		if errors.Is(err, repofs.ErrTooLarge) {
			// The same commit is as large the next time.
			err = store.Permanent(err)
		}
		// This check run must neither stay "in progress" nor pass a
		// required check; a retry opens a new one.
		run.fail(context.WithoutCancel(ctx), d, err)
		return err
	}
	if result != nil && a.buildsImages(p) && result.Valid {
		return a.enqueueImageBuilds(ctx, p, base, result)
	}
	return nil
}

// finish computes the plan and completes the started check run with it,
// unless a newer push superseded the head meanwhile (then the plan is nil).
func (a *App) finish(ctx context.Context, gh *github.Client, p pull, base string, run *checkRun) (*plan.Plan, error) {
	result, err := a.compute(ctx, gh, p, base)
	if err != nil {
		return nil, err
	}
	newer, err := a.superseded(ctx, p)
	if err != nil {
		return nil, err
	}
	if newer != "" {
		logger(ctx).Info("head superseded while planning", "newer", short(newer))
		return nil, run.supersede(ctx, newer)
	}
	note := ""
	if a.cfg.Images != nil && !a.buildsImages(p) && len(imageBuilds(result)) > 0 {
		note = "\n\n> **Images not built yet.** This pull request comes from a fork, and building a Dockerfile runs its author's code on the bot's host: someone with write access comments `/build` to build and test its images.\n"
	}
	locked, err := a.lockNote(ctx, p, result)
	if err != nil {
		return nil, err
	}
	note += locked
	var actions []*github.CheckRunAction
	if a.applyAllowed(result) {
		actions = []*github.CheckRunAction{applyButton}
	}
	return result, run.publish(ctx, result, note, actions)
}

// superseded returns the newer head that replaced p's head, or "".
func (a *App) superseded(ctx context.Context, p pull) (string, error) {
	head, err := a.state.Head(ctx, p.key())
	if err != nil || head == "" || head == p.headSHA {
		return "", err
	}
	return head, nil
}

// compute loads both revisions through GitHub's tarball API and plans.
func (a *App) compute(ctx context.Context, gh *github.Client, p pull, base string) (*plan.Plan, error) {
	result, _, err := a.computeWithHead(ctx, gh, p, base)
	return result, err
}

// computeWithHead is compute that also returns the head as loaded, which a
// rollout deploys.
func (a *App) computeWithHead(ctx context.Context, gh *github.Client, p pull, base string) (*plan.Plan, plan.Snapshot, error) {
	reader := fleet.NewReader()
	baseSnap, err := a.loadSnapshot(ctx, reader, gh, p.owner, p.repo, base, true)
	if err != nil {
		return nil, plan.Snapshot{}, err
	}
	headSnap, err := a.loadSnapshot(ctx, reader, gh, p.owner, p.repo, p.headSHA, false)
	if err != nil {
		return nil, plan.Snapshot{}, err
	}
	return plan.Compute(baseSnap, headSnap), headSnap, nil
}

// loadSnapshot downloads (or takes from the cache) one commit and loads it,
// as a base (where findings do not matter) or as a head.
func (a *App) loadSnapshot(ctx context.Context, reader *fleet.Reader, gh *github.Client, owner, repo, sha string, asBase bool) (plan.Snapshot, error) {
	fsys, err := a.tarball(ctx, gh, pull{owner: owner, repo: repo}, sha)
	if err != nil {
		return plan.Snapshot{}, err
	}
	if asBase {
		snap, err := reader.LoadBase(ctx, fsys, "base "+short(sha), sha)
		if err != nil {
			return plan.Snapshot{}, fmt.Errorf("loading base %s: %w", short(sha), err)
		}
		return snap, nil
	}
	snap, err := reader.Load(ctx, fsys, "head "+short(sha), sha)
	if err != nil {
		return plan.Snapshot{}, fmt.Errorf("loading head %s: %w", short(sha), err)
	}
	return snap, nil
}

// tarball returns the fleet folders of one commit, downloaded unless a
// recent plan did.
func (a *App) tarball(ctx context.Context, gh *github.Client, p pull, sha string) (*repofs.Snapshot, error) {
	key := p.owner + "/" + p.repo + "@" + sha
	if snap, ok := a.snapshots.get(key); ok {
		return snap, nil
	}
	snap, err := a.download(ctx, gh, p, sha)
	if err != nil {
		return nil, err
	}
	a.snapshots.put(key, snap)
	return snap, nil
}

// download fetches one commit's tarball through GitHub's API.
func (a *App) download(ctx context.Context, gh *github.Client, p pull, sha string) (*repofs.Snapshot, error) {
	link, _, err := gh.Repositories.GetArchiveLink(ctx, p.owner, p.repo, github.Tarball, &github.RepositoryContentGetOptions{Ref: sha}, 0)
	if err != nil {
		return nil, fmt.Errorf("asking for the tarball of %s: %w", short(sha), err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link.String(), nil)
	if err != nil {
		return nil, err
	}
	// The link carries its own short-lived token; the installation token
	// is not sent to the download host.
	resp, err := a.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("downloading the tarball of %s: %s", short(sha), redactURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Errorf("downloading the tarball of %s: %s", short(sha), resp.Status)
	}
	snap, err := repofs.FromTar(resp.Body, model.Folders()...)
	if err != nil {
		return nil, fmt.Errorf("reading the tarball of %s: %w", short(sha), err)
	}
	// The tar reader stops at the end-of-archive marker; read the padding
	// after it too, so the server finishes its answer and the connection
	// can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	snap.Commit = sha
	return snap, nil
}

// redactURL drops the query (which holds a token) from a URL error.
func redactURL(err error) string {
	msg := err.Error()
	if i := strings.Index(msg, "?"); i >= 0 {
		if j := strings.IndexAny(msg[i:], "\": "); j >= 0 {
			return msg[:i] + msg[i+j:]
		}
		return msg[:i]
	}
	return msg
}
