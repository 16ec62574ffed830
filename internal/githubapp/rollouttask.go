package githubapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// report is what the app keeps about a rollout in the journal
// (store.Rollout.Report): where on GitHub it is reported, and how far the
// reporting got, so that a rollout resumed after a restart goes on with
// the same check run and the same deployment.
type report struct {
	Installation int64  `json:"installation"`
	Owner        string `json:"owner"`
	Repo         string `json:"repo"`
	// RepoHTML is the repository's page on GitHub, for links.
	RepoHTML string `json:"repo_html,omitempty"`
	// Pull is the pull request the rollout is reported on in comments:
	// the one /apply was written on, or the one a push merged; zero for
	// none.
	Pull int `json:"pull,omitempty"`
	// Head is the commit the check run and the deployment are on.
	Head string `json:"head"`
	// By is who asked for the rollout: a login.
	By string `json:"by,omitempty"`
	// Note is said in every report of the rollout, such as where the base
	// of a merge's plan came from.
	Note string `json:"note,omitempty"`
	// Run counts the runs asked for: /apply on a halted rollout starts run
	// 2, reported on a check run of its own.
	Run int `json:"run"`
	// CheckRun and Deployment are the ids on GitHub; zero until made.
	CheckRun   int64 `json:"check_run,omitempty"`
	Deployment int64 `json:"deployment,omitempty"`
	// InProgress says the deployment status in_progress of this run was
	// posted, FinalStatus which final status was ("success", "failure").
	InProgress  bool   `json:"in_progress,omitempty"`
	FinalStatus string `json:"final_status,omitempty"`
	// Finished is the rollout's status once this run's end was reported
	// (check run, deployment status and comment); empty until then.
	Finished string `json:"finished,omitempty"`
}

func decodeReport(b []byte) (report, error) {
	var r report
	if len(b) == 0 {
		return r, nil
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("decoding a rollout's report: %w", err)
	}
	return r, nil
}

func (a *App) saveReport(ctx context.Context, id string, r report) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return a.journal.SetRolloutReport(ctx, id, b)
}

// busyRetry is how soon a rollout that waits for its cluster looks again.
const busyRetry = 10 * time.Second

// StopRollouts cuts off the rollouts this process runs, for a shutdown:
// they stay "running" in the journal and resume at the next start (or on
// another replica). Shutdown then need not wait for them.
func (a *App) StopRollouts() { a.stopRollouts() }

// HandleRollout is the handler of rollout tasks: it runs (or resumes) one
// rollout and reports it on GitHub — the check run "apply: CLUSTER" on the
// deployed commit, updated as the rollout goes, a deployment with its
// statuses, and a comment on the pull request at the end. A halted rollout
// is reported and the task ends: it resumes only when asked to.
func (a *App) HandleRollout(ctx context.Context, t store.Task) error {
	log := a.log.With("task", t.Key, "attempt", t.Attempt)
	return a.runJob(TaskRollout, log, func() error { return a.handleRollout(ctx, t) })
}

func (a *App) handleRollout(ctx context.Context, t store.Task) error {
	var tp rolloutTask
	if err := json.Unmarshal(t.Payload, &tp); err != nil {
		return store.Permanent(fmt.Errorf("rollout task payload: %w", err))
	}
	log := a.log.With("rollout", tp.Rollout, "attempt", t.Attempt)
	ctx = withLogger(ctx, log)
	if a.rollouts.Err() != nil {
		return store.Snooze(time.Second, "the bot is shutting down")
	}
	if !a.applies() {
		return store.Permanent(errors.New("this bot does not apply: no Ironic configured"))
	}
	rec, err := a.journal.Rollout(ctx, tp.Rollout)
	if store.IsNotFound(err) {
		return store.Permanent(err)
	}
	if err != nil {
		return err
	}
	rep, err := decodeReport(rec.Report)
	if err != nil {
		return store.Permanent(err)
	}
	if rep.Finished != "" && rep.Finished == rec.Status {
		return nil // this run was reported to its end
	}
	spec, err := rollout.UnmarshalSpec(rec.Spec)
	if err != nil {
		return store.Permanent(err)
	}
	holder, err := a.journal.LeaseHolder(ctx, rollout.LeaseKey(spec.Repo, spec.Cluster))
	if err != nil {
		return err
	}
	if holder != "" && holder != rec.ID {
		log.Info("cluster busy; waiting", "holder", holder)
		return store.Snooze(busyRetry, fmt.Sprintf("rollout %s runs on %s", holder, spec.Cluster))
	}
	// A rollout holds its worker for as long as it runs: at most
	// MaxRollouts at once, so that deliveries keep workers of their own.
	select {
	case a.running <- struct{}{}:
		defer func() { <-a.running }()
	default:
		return store.Snooze(busyRetry, fmt.Sprintf("%d rollouts run already", cap(a.running)))
	}
	gh, err := a.clients.Installation(rep.Installation)
	if err != nil {
		return err
	}
	rp := newReporter(a, gh, rec, spec, rep)
	if rec.Status == store.RolloutRunning && rec.Source == sourcePush {
		newer, err := a.newerPushRollout(ctx, rec)
		if err != nil {
			return err
		}
		if newer != "" {
			return rp.supersede(ctx, newer)
		}
	}
	if rec.Status == store.RolloutSucceeded || (rec.Status == store.RolloutHalted && rep.Finished == "" && rep.CheckRun != 0) {
		// It ended before its end was reported (a restart in between).
		return rp.finish(ctx)
	}

	head, err := a.loadSnapshot(ctx, fleet.NewReader(), gh, rep.Owner, rep.Repo, spec.Head.Commit, false)
	if err != nil {
		return err
	}
	parts, err := a.cfg.Rollouts.Rollout(ctx, head.Repo, spec.Cluster)
	if err != nil {
		return err
	}
	if err := rp.begin(ctx); err != nil {
		return err
	}
	runner := &rollout.Runner{
		Journal:     a.journal,
		Provisioner: parts.Provisioner,
		Gates:       parts.Gates,
		ConfigDrive: parts.ConfigDrive,
		BeforeNode:  parts.BeforeNode,
		Tree:        rollout.TreeDigest(head.Repo),
		Progress:    rp.progress,
		Log:         log,
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	stopOnShutdown := context.AfterFunc(a.rollouts, cancel)
	defer stopOnShutdown()
	stopUpdates := rp.startUpdates(runCtx)
	log.Info("running rollout", "cluster", spec.Cluster, "head", short(spec.Head.Commit), "nodes", len(spec.Nodes), "waves", len(spec.Waves))
	runErr := runner.Run(runCtx, rec.ID)
	stopUpdates()
	switch {
	case errors.Is(runErr, rollout.ErrBusy):
		return store.Snooze(busyRetry, runErr.Error())
	case runCtx.Err() != nil:
		// Cut off (shutdown, or the task's timeout): left running in the
		// journal, to be resumed by the next attempt.
		log.Info("rollout interrupted", "err", runErr)
		return store.Snooze(time.Second, "rollout interrupted: "+fmt.Sprint(runErr))
	}
	after, err := a.journal.Rollout(context.WithoutCancel(ctx), rec.ID)
	if err != nil {
		return err
	}
	if after.Status == store.RolloutRunning {
		// Not a halt: the journal or something else failed; try again,
		// the rollout resumes where it is.
		return fmt.Errorf("rollout %s: %w", rec.ID, runErr)
	}
	log.Info("rollout ended", "status", after.Status, "err", runErr)
	return rp.finish(context.WithoutCancel(ctx))
}

// newerPushRollout returns a rollout of the default branch on the same
// cluster created after rec, or "": an older merge must not overwrite a
// newer one that ran first.
func (a *App) newerPushRollout(ctx context.Context, rec store.Rollout) (string, error) {
	list, err := a.journal.Rollouts(ctx, store.RolloutFilter{Repo: rec.Repo, Cluster: rec.Cluster, Limit: 50})
	if err != nil {
		return "", err
	}
	for _, r := range list {
		if r.ID != rec.ID && r.Source == sourcePush && r.HeadCommit != rec.HeadCommit && r.Created.After(rec.Created) {
			return r.ID, nil
		}
	}
	return "", nil
}
