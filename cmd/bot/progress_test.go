package main

import (
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
)

func TestProgressPrintsWavesDoneNodesAndFailuresAndOtherwiseNowAndThen(t *testing.T) {
	var out strings.Builder
	clock := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	print := progressPrinter(&out, func() time.Time { return clock })
	step := func(p rollout.Progress, after time.Duration) {
		clock = clock.Add(after)
		print(p)
	}
	base := rollout.Progress{Cluster: "green", Waves: 2, Total: 3}
	at := func(wave, done int, current ...string) rollout.Progress {
		p := base
		p.Wave, p.Done = wave, done
		for _, c := range current {
			p.Current = append(p.Current, rollout.NodeProgress{Node: c, Step: "wait", State: "deploying"})
		}
		return p
	}
	step(at(0, 0), 0)                      // before the first wave: nothing
	step(at(1, 0), 0)                      // wave 1 starts: printed
	step(at(1, 0, "able"), time.Second)    // a step: not printed
	step(at(1, 0, "able"), 20*time.Second) // nothing new for a while: printed
	step(at(1, 1), time.Second)            // a node done: printed
	failed := at(2, 1, "frozen")
	failed.Failed = []string{"frozen: step wait: deploy failed"}
	step(failed, time.Second) // a failure: printed
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("printed %d lines, want 4:\n%s", len(lines), out.String())
	}
	for i, want := range []string{"wave 1/2, 0/3 nodes done", "in flight: able (wait, deploying)", "wave 1/2, 1/3 nodes done", "failed: frozen: step wait: deploy failed"} {
		if !strings.Contains(lines[i], want) {
			t.Errorf("line %d = %q, want it to say %q", i+1, lines[i], want)
		}
	}
}
