// Package fleet reads a fleet repository the way every entry point needs it: a snapshot from a
// working tree, a git revision or nothing at all, loaded and validated, ready to plan.
package fleet

import (
	"context"
	"fmt"
	"io/fs"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
	"github.com/cluster-as-code/cluster-as-code/internal/validate"
)

// WorkingTree is the Rev of a snapshot read from the files on disk.
const WorkingTree = "working tree"

// Reader loads snapshots, sharing decoded files between them.
type Reader struct {
	Loader *model.Loader
}

// NewReader returns a reader with a fresh loader.
func NewReader() *Reader { return &Reader{Loader: &model.Loader{}} }

// Load loads and validates the fleet in fsys.
func (r *Reader) Load(ctx context.Context, fsys fs.FS, rev, commit string) (plan.Snapshot, error) {
	s, err := r.LoadBase(ctx, fsys, rev, commit)
	if err != nil {
		return s, err
	}
	s.Findings = append(s.Findings, validate.Check(s.Repo)...)
	finding.Sort(s.Findings)
	return s, nil
}

// LoadBase loads the fleet in fsys without validating it: a plan shows only the head's
// findings, so checking the base would be work thrown away. Its findings are the loader's.
func (r *Reader) LoadBase(ctx context.Context, fsys fs.FS, rev, commit string) (plan.Snapshot, error) {
	repo, findings, err := r.Loader.Load(ctx, fsys)
	if err != nil {
		return plan.Snapshot{}, err
	}
	return plan.Snapshot{Rev: rev, Commit: commit, Repo: repo, FS: fsys, Findings: findings}, nil
}

// Dir loads and validates the working tree at dir.
func (r *Reader) Dir(ctx context.Context, dir string) (plan.Snapshot, error) {
	snap, err := repofs.FromDir(dir, model.Folders()...)
	if err != nil {
		return plan.Snapshot{}, err
	}
	s, err := r.Load(ctx, snap, WorkingTree, "")
	if err != nil {
		return plan.Snapshot{}, fmt.Errorf("%s: %w", dir, err)
	}
	return s, nil
}

// Git loads and validates revision rev of the git repository at dir.
func (r *Reader) Git(ctx context.Context, dir, rev string) (plan.Snapshot, error) {
	return r.git(ctx, dir, rev, r.Load)
}

// GitBase loads revision rev of the git repository at dir as the base of a plan, unvalidated.
func (r *Reader) GitBase(ctx context.Context, dir, rev string) (plan.Snapshot, error) {
	return r.git(ctx, dir, rev, r.LoadBase)
}

type loadFunc func(ctx context.Context, fsys fs.FS, rev, commit string) (plan.Snapshot, error)

func (r *Reader) git(ctx context.Context, dir, rev string, load loadFunc) (plan.Snapshot, error) {
	snap, err := repofs.FromGit(ctx, dir, rev, model.Folders()...)
	if err != nil {
		return plan.Snapshot{}, err
	}
	s, err := load(ctx, snap, rev, snap.Commit)
	if err != nil {
		return plan.Snapshot{}, fmt.Errorf("revision %s of %s: %w", rev, dir, err)
	}
	return s, nil
}

// Empty is the snapshot of no fleet at all: the base of a plan that builds everything.
func (r *Reader) Empty(ctx context.Context) (plan.Snapshot, error) {
	return r.Load(ctx, model.Empty(), "empty", "")
}
