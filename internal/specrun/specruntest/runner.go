// Package specruntest provides a fake specrun.Runner that answers from a table and records the
// commands it was asked to run.
package specruntest

import (
	"context"
	"slices"
	"sync"
)

// Reply is what the fake answers for one command.
type Reply struct {
	Exit           int
	Stdout, Stderr string
	// Err is returned as the error of a command that could not be run.
	Err error
	// Hang makes the command run until its context is done, then return the context's error.
	Hang bool
}

// Runner is a fake specrun.Runner. Replies maps the command line a spec gives (what follows
// `sh -c`) to its reply; a command with no reply exits 127 with "sh: 1: NAME: not found" on
// stderr, as sh says. The zero Runner answers every command that way.
type Runner struct {
	Replies map[string]Reply

	mu    sync.Mutex
	calls [][]string
}

// Run records argv and answers from Replies.
func (r *Runner) Run(ctx context.Context, argv []string) (int, []byte, []byte, error) {
	r.mu.Lock()
	r.calls = append(r.calls, slices.Clone(argv))
	r.mu.Unlock()
	line := ""
	if len(argv) == 3 && argv[0] == "sh" && argv[1] == "-c" {
		line = argv[2]
	}
	rep, ok := r.Replies[line]
	if !ok {
		return 127, nil, []byte("sh: 1: " + line + ": not found\n"), nil
	}
	if rep.Hang {
		<-ctx.Done()
		return -1, nil, nil, ctx.Err()
	}
	return rep.Exit, []byte(rep.Stdout), []byte(rep.Stderr), rep.Err
}

// Calls returns the argv of every command run so far, in order.
func (r *Runner) Calls() [][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}
