package githubapp

import (
	"context"
	"time"
)

// repeat calls f every interval, and at once whenever urgent receives (nil: never), until
// stop is called or ctx ends. stop waits for a call in progress to return.
func repeat(ctx context.Context, interval time.Duration, urgent <-chan struct{}, f func(context.Context)) (stop func()) {
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-tick.C:
			case <-urgent:
			}
			f(ctx)
		}
	}()
	return func() {
		close(done)
		<-finished
	}
}
