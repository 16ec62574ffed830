package store_test

import (
	"context"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

func TestRolloutJournalSurvivesARestart(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		r := store.Rollout{ID: "r1", Repo: "acme/fleet", Cluster: "green", Source: "cli", BaseCommit: "b", HeadCommit: "h",
			Spec: []byte(`{"x":1}`), Status: store.RolloutRunning}
		if err := s.CreateRollout(ctx, r); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateRollout(ctx, r); err == nil {
			t.Error("a second rollout with the same id was accepted")
		}
		for i, step := range []string{"prepare", "trigger", "wait"} {
			if err := s.AppendRolloutEvent(ctx, store.RolloutEvent{RolloutID: "r1", Wave: 1, Node: "able", Step: step, Phase: "begin", Detail: step}); err != nil {
				t.Fatalf("event %d: %v", i, err)
			}
		}
		s.Stop(ctx)
		s.Close()

		s = open(t, cfg())
		got, err := s.Rollout(ctx, "r1")
		if err != nil {
			t.Fatal(err)
		}
		if got.Cluster != "green" || string(got.Spec) != `{"x":1}` || got.Status != store.RolloutRunning {
			t.Errorf("rollout after a restart = %+v", got)
		}
		events, err := s.RolloutEvents(ctx, "r1", 0)
		if err != nil {
			t.Fatal(err)
		}
		var steps []string
		for _, e := range events {
			steps = append(steps, e.Step)
		}
		if len(steps) != 3 || steps[0] != "prepare" || steps[2] != "wait" {
			t.Errorf("journal after a restart = %v, want prepare, trigger, wait", steps)
		}
		later, _ := s.RolloutEvents(ctx, "r1", events[0].Seq)
		if len(later) != 2 {
			t.Errorf("events after the first = %d, want 2", len(later))
		}
		if err := s.SetRolloutStatus(ctx, "r1", store.RolloutHalted, "node able: step wait: deploy failed"); err != nil {
			t.Fatal(err)
		}
		list, err := s.Rollouts(ctx, store.RolloutFilter{Cluster: "green"})
		if err != nil || len(list) != 1 || list[0].Status != store.RolloutHalted || list[0].Message == "" {
			t.Errorf("Rollouts = %+v, %v", list, err)
		}
		if _, err := s.Rollout(ctx, "nope"); !store.IsNotFound(err) {
			t.Errorf("unknown rollout: %v, want not found", err)
		}
	})
}

func TestDeployedCommitIsTheLastRecorded(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		if _, err := s.Deployed(ctx, "acme/fleet", "green"); !store.IsNotFound(err) {
			t.Errorf("nothing deployed yet: %v, want not found", err)
		}
		for _, c := range []string{"c1", "c2"} {
			if err := s.RecordDeployed(ctx, store.Deployment{Repo: "acme/fleet", Cluster: "green", Commit: c, RolloutID: "r-" + c}); err != nil {
				t.Fatal(err)
			}
		}
		d, err := s.Deployed(ctx, "acme/fleet", "green")
		if err != nil || d.Commit != "c2" || d.RolloutID != "r-c2" {
			t.Errorf("Deployed = %+v, %v; want c2 by r-c2", d, err)
		}
		if holder, _ := s.LeaseHolder(ctx, "rollout:green"); holder != "" {
			t.Errorf("lease holder before any = %q", holder)
		}
		s.AcquireLease(ctx, "rollout:green", "r-c2", 60e9)
		if holder, _ := s.LeaseHolder(ctx, "rollout:green"); holder != "r-c2" {
			t.Errorf("lease holder = %q, want r-c2", holder)
		}
	})
}

func TestLocksKeepOtherPullRequestsOut(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		held, ok, err := s.TakeLock(ctx, store.Lock{Repo: "acme/fleet", Cluster: "green", Pull: 12, Owner: "alice"})
		if err != nil || !ok || held.Pull != 12 {
			t.Fatalf("first lock: %+v %v %v", held, ok, err)
		}
		if _, ok, _ := s.TakeLock(ctx, store.Lock{Repo: "acme/fleet", Cluster: "green", Pull: 12, Owner: "bob"}); !ok {
			t.Error("the holder could not take its own lock again")
		}
		held, ok, _ = s.TakeLock(ctx, store.Lock{Repo: "acme/fleet", Cluster: "green", Pull: 13, Owner: "carol"})
		if ok || held.Pull != 12 || held.Owner != "alice" {
			t.Errorf("another pull request got the lock, or the holder is not named: %+v %v", held, ok)
		}
		if _, ok, _ := s.TakeLock(ctx, store.Lock{Repo: "acme/fleet", Cluster: "blue", Pull: 13, Owner: "carol"}); !ok {
			t.Error("a free cluster could not be locked")
		}
		if rel, _ := s.ReleaseLocks(ctx, "acme/fleet", 13, "green"); len(rel) != 0 {
			t.Errorf("pull 13 released %v, which it does not hold", rel)
		}
		rel, err := s.ReleaseLocks(ctx, "acme/fleet", 12)
		if err != nil || len(rel) != 1 || rel[0] != "green" {
			t.Errorf("ReleaseLocks = %v, %v", rel, err)
		}
		if _, ok, _ := s.TakeLock(ctx, store.Lock{Repo: "acme/fleet", Cluster: "green", Pull: 13, Owner: "carol"}); !ok {
			t.Error("a released lock could not be taken")
		}
		if err := s.SetRolloutReport(ctx, "nope", []byte("{}")); !store.IsNotFound(err) {
			t.Errorf("report of an unknown rollout: %v", err)
		}
	})
}
