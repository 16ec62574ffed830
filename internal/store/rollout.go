package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Rollout statuses.
const (
	// RolloutRunning: started and not finished; a rollout found running after a restart was
	// cut off and is resumed.
	RolloutRunning = "running"
	// RolloutHalted: stopped at a failed node or gate, or refused by preflight; it resumes only
	// when asked to.
	RolloutHalted = "halted"
	// RolloutSucceeded: every wave done and gated.
	RolloutSucceeded = "succeeded"
)

// Rollout is one execution of one cluster's part of a plan, as the journal holds it.
type Rollout struct {
	ID string
	// Repo names the fleet repository ("owner/name", or a local path for the command line).
	Repo    string
	Cluster string
	// Source says who started it: "cli", "pull/12", "push".
	Source     string
	BaseCommit string
	HeadCommit string
	// Spec is the rollout's own description (JSON, owned by package rollout): what to do to
	// which node. It holds no secret.
	Spec []byte
	// Report is what the reporter (the GitHub App) keeps about the rollout: its check run,
	// deployment, pull request. Opaque to the store.
	Report  []byte
	Status  string
	Message string
	Created time.Time
	Updated time.Time
}

// RolloutEvent is one line of a rollout's journal: a step of a node (or of a wave, when Node
// is empty) beginning or ending.
type RolloutEvent struct {
	// Seq orders the events of all rollouts; set by the store.
	Seq       int64
	RolloutID string
	At        time.Time
	Wave      int
	Node      string
	Step      string
	Phase     string
	State     string
	Detail    string
	Error     string
}

// CreateRollout records a new rollout. Its ID must be new.
func (s *Store) CreateRollout(ctx context.Context, r Rollout) error {
	now := time.Now()
	_, err := s.backend.exec(ctx, `INSERT INTO cac_rollout
		(id, repo, cluster, source, base_commit, head_commit, spec, report, status, message, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.Repo, r.Cluster, r.Source, r.BaseCommit, r.HeadCommit, r.Spec, nonNil(r.Report), r.Status, r.Message,
		now.UnixMilli(), now.UnixMilli())
	if err != nil {
		return fmt.Errorf("recording rollout %s: %w", r.ID, err)
	}
	return nil
}

const rolloutColumns = `id, repo, cluster, source, base_commit, head_commit, spec, report, status, message, created_at, updated_at`

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func scanRollout(scan func(dest ...any) error) (Rollout, error) {
	var r Rollout
	var created, updated int64
	err := scan(&r.ID, &r.Repo, &r.Cluster, &r.Source, &r.BaseCommit, &r.HeadCommit, &r.Spec, &r.Report, &r.Status,
		&r.Message, &created, &updated)
	r.Created, r.Updated = time.UnixMilli(created), time.UnixMilli(updated)
	return r, err
}

// Rollout loads one rollout; the error wraps ErrNotFound when there is none of that id.
func (s *Store) Rollout(ctx context.Context, id string) (Rollout, error) {
	var out []Rollout
	err := s.backend.queryRows(ctx, `SELECT `+rolloutColumns+` FROM cac_rollout WHERE id = ?`, []any{id},
		func(scan func(dest ...any) error) error {
			r, err := scanRollout(scan)
			out = append(out, r)
			return err
		})
	if err != nil {
		return Rollout{}, fmt.Errorf("loading rollout %s: %w", id, err)
	}
	if len(out) == 0 {
		return Rollout{}, fmt.Errorf("rollout %s: %w", id, ErrNotFound)
	}
	return out[0], nil
}

// RolloutFilter selects rollouts; empty fields match everything.
type RolloutFilter struct {
	Repo    string
	Cluster string
	Status  string
	// Limit caps the number returned, newest first; zero means 50.
	Limit int
}

// Rollouts lists rollouts, newest first.
func (s *Store) Rollouts(ctx context.Context, f RolloutFilter) ([]Rollout, error) {
	if f.Limit <= 0 {
		f.Limit = 50
	}
	query := `SELECT ` + rolloutColumns + ` FROM cac_rollout WHERE (? = '' OR repo = ?) AND (? = '' OR cluster = ?)
		AND (? = '' OR status = ?) ORDER BY created_at DESC, id DESC LIMIT ?`
	var out []Rollout
	err := s.backend.queryRows(ctx, query, []any{f.Repo, f.Repo, f.Cluster, f.Cluster, f.Status, f.Status, f.Limit},
		func(scan func(dest ...any) error) error {
			r, err := scanRollout(scan)
			out = append(out, r)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("listing rollouts: %w", err)
	}
	return out, nil
}

// SetRolloutStatus records a rollout's status and a message saying why (the halting error,
// say).
func (s *Store) SetRolloutStatus(ctx context.Context, id, status, message string) error {
	n, err := s.backend.exec(ctx, `UPDATE cac_rollout SET status = ?, message = ?, updated_at = ? WHERE id = ?`,
		status, message, time.Now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("recording the status of rollout %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("recording the status of rollout %s: %w", id, ErrNotFound)
	}
	return nil
}

// SetRolloutReport records what the reporter keeps about a rollout.
func (s *Store) SetRolloutReport(ctx context.Context, id string, report []byte) error {
	n, err := s.backend.exec(ctx, `UPDATE cac_rollout SET report = ?, updated_at = ? WHERE id = ?`,
		nonNil(report), time.Now().UnixMilli(), id)
	if err != nil {
		return fmt.Errorf("recording the report of rollout %s: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("recording the report of rollout %s: %w", id, ErrNotFound)
	}
	return nil
}

// AppendRolloutEvent writes one event to the journal; it is durable when this returns.
func (s *Store) AppendRolloutEvent(ctx context.Context, e RolloutEvent) error {
	if e.At.IsZero() {
		e.At = time.Now()
	}
	_, err := s.backend.exec(ctx, `INSERT INTO cac_rollout_event (rollout_id, at, wave, node, step, phase, state, detail, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.RolloutID, e.At.UnixMilli(), e.Wave, e.Node, e.Step, e.Phase, e.State, e.Detail, e.Error)
	if err != nil {
		return fmt.Errorf("journaling rollout %s: %w", e.RolloutID, err)
	}
	return nil
}

// RolloutEvents returns a rollout's journal in the order it was written, from after seq
// (zero for all of it).
func (s *Store) RolloutEvents(ctx context.Context, id string, after int64) ([]RolloutEvent, error) {
	var out []RolloutEvent
	err := s.backend.queryRows(ctx, `SELECT seq, at, wave, node, step, phase, state, detail, error
		FROM cac_rollout_event WHERE rollout_id = ? AND seq > ? ORDER BY seq`, []any{id, after},
		func(scan func(dest ...any) error) error {
			e := RolloutEvent{RolloutID: id}
			var at int64
			err := scan(&e.Seq, &at, &e.Wave, &e.Node, &e.Step, &e.Phase, &e.State, &e.Detail, &e.Error)
			e.At = time.UnixMilli(at)
			out = append(out, e)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("reading the journal of rollout %s: %w", id, err)
	}
	return out, nil
}

// Deployment is the commit last deployed to a cluster, and by which rollout.
type Deployment struct {
	Repo      string
	Cluster   string
	Commit    string
	RolloutID string
	At        time.Time
}

// RecordDeployed records that a rollout brought cluster to commit.
func (s *Store) RecordDeployed(ctx context.Context, d Deployment) error {
	if d.At.IsZero() {
		d.At = time.Now()
	}
	_, err := s.backend.exec(ctx, `INSERT INTO cac_deployed (repo, cluster, commit_sha, rollout_id, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repo, cluster) DO UPDATE SET commit_sha = excluded.commit_sha, rollout_id = excluded.rollout_id, at = excluded.at`,
		d.Repo, d.Cluster, d.Commit, d.RolloutID, d.At.UnixMilli())
	if err != nil {
		return fmt.Errorf("recording the commit deployed to %s: %w", d.Cluster, err)
	}
	return nil
}

// Deployed returns the commit last deployed to a cluster; the error wraps ErrNotFound when
// none was recorded.
func (s *Store) Deployed(ctx context.Context, repo, cluster string) (Deployment, error) {
	var out []Deployment
	err := s.backend.queryRows(ctx, `SELECT commit_sha, rollout_id, at FROM cac_deployed WHERE repo = ? AND cluster = ?`,
		[]any{repo, cluster}, func(scan func(dest ...any) error) error {
			d := Deployment{Repo: repo, Cluster: cluster}
			var at int64
			err := scan(&d.Commit, &d.RolloutID, &at)
			d.At = time.UnixMilli(at)
			out = append(out, d)
			return err
		})
	if err != nil {
		return Deployment{}, fmt.Errorf("reading the commit deployed to %s: %w", cluster, err)
	}
	if len(out) == 0 {
		return Deployment{}, fmt.Errorf("no commit recorded as deployed to %s: %w", cluster, ErrNotFound)
	}
	return out[0], nil
}

// IsNotFound reports whether err says the store holds no such thing.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// LeaseHolder returns who holds the lease on key, or "" when no one holds it (or it expired).
func (s *Store) LeaseHolder(ctx context.Context, key string) (string, error) {
	var holder string
	_, err := s.backend.queryValue(ctx, &holder, `SELECT holder FROM cac_lease WHERE key = ? AND expires_at >= ?`,
		key, time.Now().UnixMilli())
	if err != nil {
		return "", fmt.Errorf("reading lease %q: %w", key, err)
	}
	return holder, nil
}
