package rollout

import (
	"fmt"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// Progress is where a rollout stands, as its journal tells it: what the command line prints
// and the apply check run shows.
type Progress struct {
	ID      string
	Cluster string
	Status  string
	Message string
	// Wave is the wave being worked (or the last one worked), Waves how many there are.
	Wave  int
	Waves int
	// Done counts the nodes deployed and gated, Total the nodes the rollout acts on.
	Done  int
	Total int
	// Current lists the nodes in flight, in wave order.
	Current []NodeProgress
	// Failed lists what failed, each naming node and step.
	Failed []string
}

// NodeProgress is a node in flight: its step and Ironic's provision state.
type NodeProgress struct {
	Node  string
	Step  string
	State string
}

func (n NodeProgress) String() string {
	if n.State == "" {
		return fmt.Sprintf("%s (%s)", n.Node, n.Step)
	}
	return fmt.Sprintf("%s (%s, %s)", n.Node, n.Step, n.State)
}

// Summarize computes a rollout's progress from its spec, status and journal.
func Summarize(id string, spec Spec, status, message string, events []store.RolloutEvent) Progress {
	t := newTally(spec)
	for _, e := range events {
		t.add(e)
	}
	return t.progress(id, status, message)
}

// tally is a rollout's progress taken in one journal event at a time, so that a running
// rollout reports it after every event without reading its whole journal again.
type tally struct {
	spec      Spec
	order     map[string]int // node → its place in the spec
	wave      int
	done      map[string]bool
	current   map[string]NodeProgress
	failed    map[string]string // node, or a step of the rollout → what failed
	failOrder []string
}

func newTally(spec Spec) *tally {
	t := &tally{spec: spec, order: map[string]int{}, done: map[string]bool{},
		current: map[string]NodeProgress{}, failed: map[string]string{}}
	for i, n := range spec.Nodes {
		t.order[n.Name] = i
	}
	return t
}

// add takes in the next event of the journal.
func (t *tally) add(e store.RolloutEvent) {
	t.wave = max(t.wave, e.Wave)
	switch {
	case e.Step == StepRollout && e.Phase == string(ironic.Begin):
		// A fresh run: what failed before is being retried.
		clear(t.failed)
		t.failOrder = t.failOrder[:0]
	case e.Node == "":
		if e.Phase == string(ironic.End) && e.Error != "" && e.Step != StepRollout && e.Step != StepWave {
			t.fail(e.Step, fmt.Sprintf("%s: %s", e.Step, e.Error))
		}
	case e.Step == StepNode && e.Phase == string(ironic.End):
		delete(t.current, e.Node)
		if e.Error == "" {
			t.done[e.Node] = true
			delete(t.failed, e.Node)
		} else {
			t.fail(e.Node, e.Error)
		}
	default:
		if !t.done[e.Node] {
			cur := t.current[e.Node]
			cur.Node, cur.Step = e.Node, e.Step
			if e.State != "" {
				cur.State = e.State
			}
			t.current[e.Node] = cur
		}
	}
}

func (t *tally) fail(key, msg string) {
	if _, seen := t.failed[key]; !seen {
		t.failOrder = append(t.failOrder, key)
	}
	t.failed[key] = msg
}

// progress is where the rollout stands after the events added so far.
func (t *tally) progress(id, status, message string) Progress {
	p := Progress{ID: id, Cluster: t.spec.Cluster, Status: status, Message: message, Wave: t.wave,
		Waves: len(t.spec.Waves), Done: len(t.done), Total: len(t.spec.Nodes)}
	if status == store.RolloutRunning {
		for _, c := range t.current {
			p.Current = append(p.Current, c)
		}
		slices.SortFunc(p.Current, func(a, b NodeProgress) int { return t.order[a.Node] - t.order[b.Node] })
	}
	for _, k := range t.failOrder {
		if msg, ok := t.failed[k]; ok {
			p.Failed = append(p.Failed, msg)
		}
	}
	return p
}

// String is the one-line progress the command line prints.
func (p Progress) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: wave %d/%d, %d/%d nodes done", p.Cluster, p.Wave, p.Waves, p.Done, p.Total)
	if len(p.Current) > 0 {
		var cur []string
		for _, c := range p.Current {
			cur = append(cur, c.String())
		}
		fmt.Fprintf(&b, "; in flight: %s", strings.Join(cur, ", "))
	}
	if len(p.Failed) > 0 {
		fmt.Fprintf(&b, "; failed: %s", strings.Join(p.Failed, "; "))
	}
	return b.String()
}
