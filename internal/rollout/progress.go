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
	p := Progress{ID: id, Cluster: spec.Cluster, Status: status, Message: message, Waves: len(spec.Waves), Total: len(spec.Nodes)}
	done := map[string]bool{}
	current := map[string]NodeProgress{}
	failed := map[string]string{}
	var failOrder []string
	for _, e := range events {
		if e.Wave > p.Wave {
			p.Wave = e.Wave
		}
		switch {
		case e.Step == StepRollout && e.Phase == string(ironic.Begin):
			// A fresh run: what failed before is being retried.
			clear(failed)
			failOrder = failOrder[:0]
		case e.Node == "":
			if e.Phase == string(ironic.End) && e.Error != "" && e.Step != StepRollout && e.Step != StepWave {
				key := e.Step
				if _, seen := failed[key]; !seen {
					failOrder = append(failOrder, key)
				}
				failed[key] = fmt.Sprintf("%s: %s", e.Step, e.Error)
			}
		case e.Step == StepNode && e.Phase == string(ironic.End):
			delete(current, e.Node)
			if e.Error == "" {
				done[e.Node] = true
				delete(failed, e.Node)
			} else {
				if _, seen := failed[e.Node]; !seen {
					failOrder = append(failOrder, e.Node)
				}
				failed[e.Node] = e.Error
			}
		default:
			if !done[e.Node] {
				cur := current[e.Node]
				cur.Node, cur.Step = e.Node, e.Step
				if e.State != "" {
					cur.State = e.State
				}
				current[e.Node] = cur
			}
		}
	}
	p.Done = len(done)
	order := map[string]int{}
	for i, n := range spec.Nodes {
		order[n.Name] = i
	}
	for _, c := range current {
		p.Current = append(p.Current, c)
	}
	slices.SortFunc(p.Current, func(a, b NodeProgress) int { return order[a.Node] - order[b.Node] })
	for _, k := range failOrder {
		if msg, ok := failed[k]; ok {
			p.Failed = append(p.Failed, msg)
		}
	}
	if status != store.RolloutRunning {
		p.Current = nil
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
