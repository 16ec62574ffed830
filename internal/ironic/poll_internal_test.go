package ironic

import (
	"testing"
	"time"
)

func TestWaitsPollOftenOnlyWhenTheStateIsDue(t *testing.T) {
	p := NewProvisioner(nil, Config{PollInterval: time.Second})
	if got := p.pollDelay("active", 3*time.Second); got != time.Second {
		t.Errorf("before any deploy was seen: %v, want the interval", got)
	}
	p.durations.observe("active", 12*time.Second)
	p.durations.observe("active", 8*time.Second) // the mean: 10 s
	for _, c := range []struct {
		elapsed, want time.Duration
	}{
		{-1, time.Second},                                 // a wait this run did not start
		{0, 4 * time.Second},                              // long before it is due: every four intervals
		{7 * time.Second, 2500 * time.Millisecond},        // until the window opens
		{9200 * time.Millisecond, 300 * time.Millisecond}, // wake up when the window opens
		{9600 * time.Millisecond, 250 * time.Millisecond}, // due: a quarter of the interval
		{11 * time.Second, 250 * time.Millisecond},
		{12500 * time.Millisecond, time.Second}, // late: back to the interval
	} {
		if got := p.pollDelay("active", c.elapsed); got != c.want {
			t.Errorf("after %v: poll in %v, want %v", c.elapsed, got, c.want)
		}
	}
	if got := p.pollDelay("available", 0); got != time.Second {
		t.Errorf("another state is learned on its own: %v", got)
	}
}
