package store

import (
	"context"
	"fmt"
	"time"
)

// Lock is a pull request's claim on a cluster: taken by /apply, held until the pull request
// is merged or closed, or unlocked. While it is held no other pull request applies to the
// cluster.
type Lock struct {
	Repo    string
	Cluster string
	Pull    int
	// Owner is who took it (a GitHub login).
	Owner string
	At    time.Time
}

// TakeLock gives cluster's lock to l.Pull unless another pull request holds it. It returns
// the lock as it stands afterwards: l's when taken (or already held by the same pull
// request), the holder's otherwise; ok says whether l.Pull holds it.
func (s *Store) TakeLock(ctx context.Context, l Lock) (held Lock, ok bool, err error) {
	if l.At.IsZero() {
		l.At = time.Now()
	}
	_, err = s.backend.exec(ctx, `INSERT INTO cac_lock (repo, cluster, pull, owner, at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (repo, cluster) DO NOTHING`, l.Repo, l.Cluster, l.Pull, l.Owner, l.At.UnixMilli())
	if err != nil {
		return Lock{}, false, fmt.Errorf("locking %s: %w", l.Cluster, err)
	}
	locks, err := s.Locks(ctx, l.Repo)
	if err != nil {
		return Lock{}, false, err
	}
	for _, x := range locks {
		if x.Cluster == l.Cluster {
			return x, x.Pull == l.Pull, nil
		}
	}
	return Lock{}, false, fmt.Errorf("locking %s: the lock vanished as it was taken", l.Cluster)
}

// Locks lists a repository's held locks by cluster.
func (s *Store) Locks(ctx context.Context, repo string) ([]Lock, error) {
	var out []Lock
	err := s.backend.queryRows(ctx, `SELECT cluster, pull, owner, at FROM cac_lock WHERE repo = ? ORDER BY cluster`, []any{repo},
		func(scan func(dest ...any) error) error {
			l := Lock{Repo: repo}
			var at int64
			err := scan(&l.Cluster, &l.Pull, &l.Owner, &at)
			l.At = time.UnixMilli(at)
			out = append(out, l)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("reading the locks of %s: %w", repo, err)
	}
	return out, nil
}

// ReleaseLocks releases the locks pull holds on the named clusters, or on every cluster
// when none is named, and returns the clusters released.
func (s *Store) ReleaseLocks(ctx context.Context, repo string, pull int, clusters ...string) ([]string, error) {
	locks, err := s.Locks(ctx, repo)
	if err != nil {
		return nil, err
	}
	var released []string
	for _, l := range locks {
		if l.Pull != pull || (len(clusters) > 0 && !contains(clusters, l.Cluster)) {
			continue
		}
		n, err := s.backend.exec(ctx, `DELETE FROM cac_lock WHERE repo = ? AND cluster = ? AND pull = ?`, repo, l.Cluster, pull)
		if err != nil {
			return released, fmt.Errorf("unlocking %s: %w", l.Cluster, err)
		}
		if n > 0 {
			released = append(released, l.Cluster)
		}
	}
	return released, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
