package zktest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestEnsemble(t *testing.T) {
	e := Start(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	members := e.Members()
	if len(members) != 3 {
		t.Fatalf("got %d members, want 3", len(members))
	}
	for i, m := range members {
		if m.ID != i+1 {
			t.Errorf("member %d: got ID %d, want %d", i, m.ID, i+1)
		}
		mode, err := Mode(ctx, m.ClientAddr)
		if err != nil {
			t.Fatalf("member %d: %v", m.ID, err)
		}
		if mode != "leader" && mode != "follower" {
			t.Errorf("member %d: got mode %q, want leader or follower", m.ID, mode)
		}
	}
	if got := strings.Count(e.ConnectString(), ","); got != 2 {
		t.Errorf("ConnectString() = %q, want three addresses", e.ConnectString())
	}
	leader, err := e.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := e.Down(); got != 0 {
		t.Errorf("Down() = %d after Start, want 0", got)
	}

	// A rolling restart, one member at a time, waiting for each to serve again.
	for i := range members {
		if err := e.Stop(i); err != nil {
			t.Fatal(err)
		}
		if got := e.Down(); got != 1 {
			t.Errorf("Down() = %d with member %d stopped, want 1", got, i+1)
		}
		if _, err := Mode(ctx, members[i].ClientAddr); err == nil {
			t.Errorf("member %d answers srvr while stopped", i+1)
		}
		if err := e.Start(i); err != nil {
			t.Fatal(err)
		}
		if err := e.WaitServing(ctx, i); err != nil {
			t.Fatalf("member %d: %v\n%s", i+1, err, e.LogTail(i))
		}
	}
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.MaxDown(); got != 1 {
		t.Errorf("MaxDown() = %d after a rolling restart, want 1", got)
	}

	// Two members down at once is recorded, and loses the quorum.
	other := (leader + 1) % 3
	if err := e.Stop(leader); err != nil {
		t.Fatal(err)
	}
	if err := e.Stop(other); err != nil {
		t.Fatal(err)
	}
	if got := e.MaxDown(); got != 2 {
		t.Errorf("MaxDown() = %d after stopping two members, want 2", got)
	}
	last := 3 - leader - other
	// It may go on leading for up to syncLimit ticks before it notices.
	err = poll(ctx, func() error {
		if mode, err := Mode(ctx, members[last].ClientAddr); err == nil {
			return fmt.Errorf("serves as %s", mode)
		}
		return nil
	})
	if err != nil {
		t.Errorf("the last member without a quorum: %v", err)
	}
	if err := e.Start(leader); err != nil {
		t.Fatal(err)
	}
	if err := e.Start(leader); err == nil {
		t.Errorf("starting a running member: no error")
	}
	if err := e.Restart(other); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Down(); got != 0 {
		t.Errorf("Down() = %d after WaitReady, want 0", got)
	}

	// A killed member is down until it serves again.
	if err := e.Kill(leader); err != nil {
		t.Fatal(err)
	}
	if got := e.Down(); got != 1 {
		t.Errorf("Down() = %d with a member killed, want 1", got)
	}
	if err := e.Start(leader); err != nil {
		t.Fatal(err)
	}
	if err := e.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	if got := e.Down(); got != 0 {
		t.Errorf("Down() = %d after WaitReady, want 0", got)
	}
}

func TestStandalone(t *testing.T) {
	e := Start(t, 1)
	mode, err := Mode(context.Background(), e.Members()[0].ClientAddr)
	if err != nil {
		t.Fatal(err)
	}
	if mode != "standalone" {
		t.Errorf("got mode %q, want standalone", mode)
	}
}
