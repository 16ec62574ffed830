package store

import (
	"context"
	"fmt"
	"time"
)

// DeployedClusters returns, for every cluster of repo that a rollout ever
// brought to a commit, the commit last deployed, by cluster name.
func (s *Store) DeployedClusters(ctx context.Context, repo string) ([]Deployment, error) {
	var out []Deployment
	err := s.backend.queryRows(ctx, `SELECT cluster, commit_sha, rollout_id, at FROM cac_deployed WHERE repo = ? ORDER BY cluster`,
		[]any{repo}, func(scan func(dest ...any) error) error {
			d := Deployment{Repo: repo}
			var at int64
			err := scan(&d.Cluster, &d.Commit, &d.RolloutID, &at)
			d.At = time.UnixMilli(at)
			out = append(out, d)
			return err
		})
	if err != nil {
		return nil, fmt.Errorf("reading the commits deployed to the clusters of %s: %w", repo, err)
	}
	return out, nil
}
