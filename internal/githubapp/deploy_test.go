package githubapp

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test -update rewrites it); got:\n%s\nwant:\n%s", path, got, want)
	}
}

// progressSpec is a rollout of three waves: a master, then two agents
// together, then a decommission.
func progressSpec() rollout.Spec {
	return rollout.Spec{
		Schema: rollout.SpecSchema, Repo: "sop/fleet", Cluster: "green", Source: "pull/7",
		Base: plan.Revision{Rev: "base", Commit: "1111111111111111111111111111111111111111"},
		Head: plan.Revision{Rev: "head", Commit: "2222222222222222222222222222222222222222"},
		Waves: []plan.Wave{
			{Number: 1, Role: model.Masters, Action: plan.Reprovision, Nodes: []string{"able"}, Down: 1},
			{Number: 2, Role: model.Agents, Action: plan.Reprovision, Nodes: []string{"earner", "farlo"}, Down: 2},
			{Number: 3, Role: model.Agents, Action: plan.Decommission, Nodes: []string{"mile"}, Down: 1},
		},
		Nodes: []rollout.Node{
			{Name: "able", Role: model.Masters, Action: plan.Reprovision},
			{Name: "earner", Role: model.Agents, Action: plan.Reprovision},
			{Name: "farlo", Role: model.Agents, Action: plan.Reprovision},
			{Name: "mile", Role: model.Agents, Action: plan.Decommission},
		},
	}
}

// journal is a rollout's events in order.
func journal(steps ...store.RolloutEvent) []store.RolloutEvent {
	at := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	for i := range steps {
		steps[i].Seq = int64(i + 1)
		steps[i].At = at.Add(time.Duration(i) * time.Second)
	}
	return steps
}

func ev(wave int, node, step, phase, state, errMsg string) store.RolloutEvent {
	return store.RolloutEvent{Wave: wave, Node: node, Step: step, Phase: phase, State: state, Error: errMsg}
}

func TestRenderProgress(t *testing.T) {
	spec := progressSpec()
	firstWave := []store.RolloutEvent{
		ev(0, "", rollout.StepRollout, "begin", "", ""),
		ev(0, "", rollout.StepPreflight, "begin", "", ""), ev(0, "", rollout.StepPreflight, "end", "", ""),
		ev(1, "", rollout.StepWave, "begin", "", ""),
		ev(1, "able", "trigger", "begin", "active", ""), ev(1, "able", "wait", "begin", "deploying", ""),
		ev(1, "able", "wait", "end", "active", ""), ev(1, "able", rollout.StepNode, "end", "", ""),
		ev(1, "", rollout.StepWave, "end", "", ""),
		ev(2, "", rollout.StepWave, "begin", "", ""),
	}
	rep := report{Owner: "sop", Repo: "fleet", Pull: 7, Head: spec.Head.Commit, By: "walt"}
	url := "https://bot.example.com/rollouts/green-1"
	cases := []struct {
		name, status, message string
		events                []store.RolloutEvent
		source                string
		rep                   report
		title                 string
	}{
		{name: "running", status: store.RolloutRunning, rep: rep, events: journal(append(firstWave,
			ev(2, "earner", "wait", "begin", "wait call-back", ""),
			ev(2, "farlo", "provide", "begin", "manageable", ""),
		)...), title: "green: wave 2 of 3, 1 of 4 nodes done"},
		{name: "halted", status: store.RolloutHalted, rep: rep,
			message: "rollout of green halted in wave 2: node farlo (f00): step wait: provision state \"deploy failed\": no disk",
			events: journal(append(firstWave,
				ev(2, "earner", rollout.StepNode, "end", "", ""),
				ev(2, "farlo", "wait", "end", "deploy failed", "no disk"),
				ev(2, "farlo", rollout.StepNode, "end", "", "node farlo (f00): step wait: provision state \"deploy failed\": no disk"),
				ev(2, "", rollout.StepWave, "end", "", "node farlo failed"),
				ev(0, "", rollout.StepRollout, "end", "", "halted"),
			)...), title: "green halted in wave 2 of 3, 2 of 4 nodes done"},
		{name: "succeeded-push", status: store.RolloutSucceeded, source: sourcePush,
			rep: report{Owner: "sop", Repo: "fleet", Pull: 7, Head: spec.Head.Commit, By: "alice",
				Note: "Nothing was recorded as deployed to `green` yet: planned from the push's previous commit 1111111."},
			events: journal(append(firstWave,
				ev(2, "earner", rollout.StepNode, "end", "", ""), ev(2, "farlo", rollout.StepNode, "end", "", ""),
				ev(2, "", rollout.StepWave, "end", "", ""),
				ev(3, "mile", rollout.StepNode, "end", "", ""),
				ev(0, "", rollout.StepRollout, "end", "", ""),
			)...), title: "green deployed: 4 nodes in 3 waves"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := rollout.Summarize("green-1", spec, c.status, c.message, c.events)
			if got := progressTitle(p); got != c.title {
				t.Errorf("title %q, want %q", got, c.title)
			}
			got := renderProgress(p, c.status, spec, c.rep, c.source, url)
			if len(got) > summaryLimit {
				t.Errorf("summary of %d bytes, over GitHub's limit", len(got))
			}
			golden(t, "apply-"+c.name+".md", got)
			if c.status != store.RolloutRunning {
				a := New(Config{PublicURL: "https://bot.example.com"}, nil, nil, nil, nil)
				r := newReporter(a, nil, store.Rollout{ID: "green-1", Source: c.source}, spec, c.rep)
				golden(t, "apply-"+c.name+"-comment.md", r.comment(p, store.Rollout{ID: "green-1", Status: c.status, Message: c.message}))
			}
		})
	}
}

func TestTruncateRunes(t *testing.T) {
	s := strings.Repeat("é", 200)
	got := truncateRunes(s, deploymentDescriptionLimit)
	if n := len([]rune(got)); n != deploymentDescriptionLimit || !strings.HasSuffix(got, "…") {
		t.Errorf("truncateRunes: %d characters %q", n, got[len(got)-10:])
	}
	if got := truncateRunes("short", 140); got != "short" {
		t.Errorf("truncateRunes(short) = %q", got)
	}
}
