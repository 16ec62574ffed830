package server

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

func TestRolloutPages(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	spec := rollout.Spec{
		Schema: rollout.SpecSchema, Repo: "sop/fleet", Cluster: "green", Source: "pull/3",
		Head:  plan.Revision{Commit: "2222222222222222222222222222222222222222"},
		Waves: []plan.Wave{{Number: 1, Role: model.Agents, Action: plan.Reprovision, Nodes: []string{"earner", "farlo"}, Down: 2}},
		Nodes: []rollout.Node{{Name: "earner", Role: model.Agents}, {Name: "farlo", Role: model.Agents}},
	}
	b, err := spec.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateRollout(ctx, store.Rollout{ID: "green-1", Repo: spec.Repo, Cluster: "green", Source: spec.Source,
		HeadCommit: spec.Head.Commit, Spec: b, Status: store.RolloutRunning}); err != nil {
		t.Fatal(err)
	}
	for _, e := range []store.RolloutEvent{
		{Step: rollout.StepRollout, Phase: "begin", Detail: "start"},
		{Wave: 1, Step: rollout.StepWave, Phase: "begin"},
		{Wave: 1, Node: "earner", Step: rollout.StepNode, Phase: "end", Detail: "deployed"},
		{Wave: 1, Node: "farlo", Step: "wait", Phase: "begin", State: "wait call-back"},
	} {
		e.RolloutID = "green-1"
		if err := st.AppendRolloutEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("GET /rollouts/{id}", rolloutPage(st))
	mux.Handle("GET /rollouts/{$}", rolloutList(st))
	get := func(path string) (int, string) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		return rec.Code, rec.Body.String()
	}

	code, body := get("/rollouts/green-1")
	if code != http.StatusOK {
		t.Fatalf("GET /rollouts/green-1: %d %s", code, body)
	}
	for _, want := range []string{
		"cluster   green of sop/fleet", "status    running", "progress  wave 1 of 1, 1 of 2 nodes done",
		"in flight\n  farlo (wait, wait call-back)", "earner farlo  in progress", "journal (4 events)", "[wait call-back]",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the rollout's page lacks %q:\n%s", want, body)
		}
	}
	if code, _ := get("/rollouts/nothing"); code != http.StatusNotFound {
		t.Errorf("an unknown rollout: %d, want 404", code)
	}
	if code, body := get("/rollouts/"); code != http.StatusOK || !strings.Contains(body, "green-1") || !strings.Contains(body, "pull/3") {
		t.Errorf("GET /rollouts/: %d\n%s", code, body)
	}
}

func TestRolloutEnv(t *testing.T) {
	apply := &ApplyConfig{Ironic: ironic.Config{URL: "http://ironic:6385"}}
	if _, err := newRolloutEnv(Config{Apply: apply}, nil); err == nil || !strings.Contains(err.Error(), "--image-url") {
		t.Errorf("no image URL: %v, want an error naming --image-url", err)
	}
	images, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	env, err := newRolloutEnv(Config{Apply: apply, PublicURL: "https://bot.example.com/"}, images)
	if err != nil {
		t.Fatal(err)
	}
	if env.imageURL != "https://bot.example.com/images/" {
		t.Errorf("image URL %q, want the bot's own /images/", env.imageURL)
	}
	if _, ok := env.images.(rollout.StoreImages); !ok {
		t.Errorf("images resolved by %T, want the local store", env.images)
	}
	parts, err := env.Rollout(context.Background(), &model.Repo{}, "gone")
	if err != nil || parts.Gates != nil || parts.ConfigDrive != nil || parts.Provisioner == nil {
		t.Errorf("a cluster the head removed: %+v %v; want Ironic only, no gates nor config drives", parts, err)
	}
}
