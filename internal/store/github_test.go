package store_test

import (
	"context"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

func TestDeployedClusters(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		if got, err := s.DeployedClusters(ctx, "acme/fleet"); err != nil || len(got) != 0 {
			t.Fatalf("nothing deployed yet: %+v %v", got, err)
		}
		for _, d := range []store.Deployment{
			{Repo: "acme/fleet", Cluster: "green", Commit: "c1", RolloutID: "r1"},
			{Repo: "acme/fleet", Cluster: "blue", Commit: "c1", RolloutID: "r2"},
			{Repo: "acme/fleet", Cluster: "green", Commit: "c2", RolloutID: "r3"},
			{Repo: "acme/other", Cluster: "red", Commit: "c9", RolloutID: "r4"},
		} {
			if err := s.RecordDeployed(ctx, d); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.DeployedClusters(ctx, "acme/fleet")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Cluster != "blue" || got[0].Commit != "c1" || got[1].Cluster != "green" || got[1].Commit != "c2" || got[1].RolloutID != "r3" {
			t.Errorf("DeployedClusters = %+v, want blue at c1 and green at c2 (its latest), in name order", got)
		}
	})
}
