package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"
)

// deliveryArgs is the queue's job for one delivery. The payload stays in
// cac_delivery, so jobs are small whatever GitHub sent.
type deliveryArgs struct {
	DeliveryID string `json:"delivery_id"`
	Event      string `json:"event"`
}

// Kind names the job kind in the queue's table.
func (deliveryArgs) Kind() string { return "github_delivery" }

type deliveryWorker struct {
	river.WorkerDefaults[deliveryArgs]
	store *Store
}

// Work loads the delivery and hands it to the store's handler.
func (w *deliveryWorker) Work(ctx context.Context, job *river.Job[deliveryArgs]) error {
	d, err := w.store.Delivery(ctx, job.Args.DeliveryID)
	if err != nil {
		return err
	}
	d.JobID = job.ID
	d.Attempt = job.Attempt
	if w.store.cfg.Handler == nil {
		return river.JobSnooze(time.Minute) // an intake-only store: leave it for a worker
	}
	return riverResult(w.store.cfg.Handler(ctx, d))
}

type snoozeError struct {
	after  time.Duration
	reason string
}

func (e *snoozeError) Error() string {
	return fmt.Sprintf("trying again in %s: %s", e.after.Round(time.Millisecond), e.reason)
}

// Snooze returns an error that makes a Handler's delivery be tried again
// after d without counting as a failed attempt: the work is waiting for
// something (a lease held by another worker, a rate limit), not failing.
func Snooze(d time.Duration, reason string) error {
	if d < time.Second {
		d = time.Second
	}
	return &snoozeError{after: d, reason: reason}
}

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps an error that retrying cannot fix, such as a payload that
// does not parse: the delivery is given up at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsSnooze reports whether err is (or wraps) a Snooze.
func IsSnooze(err error) bool {
	var s *snoozeError
	return errors.As(err, &s)
}

// IsPermanent reports whether err is (or wraps) a Permanent error.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
