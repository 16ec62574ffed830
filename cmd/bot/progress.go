package main

import (
	"fmt"
	"io"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/rollout"
)

// progressEvery is how often a rollout's progress is printed while nothing else happens.
const progressEvery = 15 * time.Second

// progressPrinter prints a rollout's progress as the operator wants it: a line when a wave
// starts, a node is done or something fails, and otherwise every progressEvery, with the
// nodes in flight.
func progressPrinter(w io.Writer, now func() time.Time) func(rollout.Progress) {
	var last rollout.Progress
	var printed time.Time
	return func(p rollout.Progress) {
		if p.Wave == 0 {
			return
		}
		changed := p.Wave != last.Wave || p.Done != last.Done || len(p.Failed) != len(last.Failed)
		last = p
		if !changed && now().Sub(printed) < progressEvery {
			return
		}
		printed = now()
		fmt.Fprintf(w, "%s %s\n", printed.Format("15:04:05"), p)
	}
}
