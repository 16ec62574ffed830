package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// Task is work the bot gives itself, such as building an image for a pull
// request: durable like a delivery, run by the handler registered for its
// kind.
type Task struct {
	// Kind selects the handler.
	Kind string
	// Key identifies the work: a task is not enqueued again while one with
	// the same kind and key waits or runs ("owner/repo@sha image base").
	Key string
	// Payload is the handler's own data.
	Payload json.RawMessage

	// JobID and Attempt are set when the task is handed to its handler.
	JobID   int64
	Attempt int
}

// TaskKind configures the handling of one kind of task.
type TaskKind struct {
	Handler func(ctx context.Context, t Task) error
	// Timeout cancels a handler that runs longer; zero means the store's
	// JobTimeout.
	Timeout time.Duration
}

// taskArgs is the queue's job for a task. Uniqueness is by kind and key.
type taskArgs struct {
	TaskKind string          `json:"kind" river:"unique"`
	Key      string          `json:"key" river:"unique"`
	Payload  json.RawMessage `json:"payload"`
}

// Kind names the job kind in the queue's table.
func (taskArgs) Kind() string { return "task" }

type taskWorker struct {
	river.WorkerDefaults[taskArgs]
	store *Store
}

// Timeout is the task kind's timeout.
func (w *taskWorker) Timeout(job *river.Job[taskArgs]) time.Duration {
	if k, ok := w.store.cfg.Tasks[job.Args.TaskKind]; ok && k.Timeout > 0 {
		return k.Timeout
	}
	return 0
}

// Work hands the task to its kind's handler.
func (w *taskWorker) Work(ctx context.Context, job *river.Job[taskArgs]) error {
	k, ok := w.store.cfg.Tasks[job.Args.TaskKind]
	if !ok {
		return river.JobCancel(fmt.Errorf("no handler for task kind %q", job.Args.TaskKind))
	}
	err := k.Handler(ctx, Task{Kind: job.Args.TaskKind, Key: job.Args.Key, Payload: job.Args.Payload, JobID: job.ID, Attempt: job.Attempt})
	return riverResult(err)
}

// riverResult turns a handler's Snooze and Permanent into River's.
func riverResult(err error) error {
	var snooze *snoozeError
	var permanent *permanentError
	switch {
	case errors.As(err, &snooze):
		return river.JobSnooze(snooze.after)
	case errors.As(err, &permanent):
		return river.JobCancel(permanent.err)
	}
	return err
}

// pendingStates are the states in which a task counts as waiting or
// running, for uniqueness.
var pendingStates = []rivertype.JobState{
	rivertype.JobStateAvailable, rivertype.JobStatePending, rivertype.JobStateRetryable,
	rivertype.JobStateRunning, rivertype.JobStateScheduled,
}

// Enqueue stores a task and reports whether it was new: false means a task
// of the same kind and key is waiting or running already.
func (s *Store) Enqueue(ctx context.Context, t Task) (bool, error) {
	if _, ok := s.cfg.Tasks[t.Kind]; !ok {
		return false, fmt.Errorf("enqueueing a %q task: no handler for that kind", t.Kind)
	}
	if len(t.Payload) == 0 {
		t.Payload = json.RawMessage("null")
	}
	fresh, err := s.backend.insert(ctx, taskArgs{TaskKind: t.Kind, Key: t.Key, Payload: t.Payload},
		&river.InsertOpts{UniqueOpts: river.UniqueOpts{ByArgs: true, ByState: pendingStates}})
	if err != nil {
		return false, fmt.Errorf("enqueueing %s task %q: %w", t.Kind, t.Key, err)
	}
	return fresh, nil
}
