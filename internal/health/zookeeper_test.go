package health_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"

	"github.com/cluster-as-code/cluster-as-code/internal/health"
	"github.com/cluster-as-code/cluster-as-code/internal/zktest"
)

// members names the ensemble's members after the green cluster's masters.
func members(e *zktest.Ensemble) []health.Member {
	names := []string{"able", "theta", "frozen", "delta", "echo"}
	var out []health.Member
	for i, m := range e.Members() {
		out = append(out, health.Member{Node: names[i], Addr: m.ClientAddr})
	}
	return out
}

// follower returns the index of a member that follows.
func follower(t *testing.T, ctx context.Context, e *zktest.Ensemble) int {
	t.Helper()
	for i, m := range e.Members() {
		if mode, err := zktest.Mode(ctx, m.ClientAddr); err == nil && mode == "follower" {
			return i
		}
	}
	t.Fatal("no member follows")
	return -1
}

func TestZooKeeper(t *testing.T) {
	e := zktest.Start(t, 3)
	ms := members(e)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	t.Run("healthy", func(t *testing.T) {
		if err := health.ZooKeeper(ctx, ms, 1, false); err != nil {
			t.Errorf("got %v, want no error", err)
		}
	})

	t.Run("leaders", func(t *testing.T) {
		err := health.ZooKeeper(ctx, ms, 2, false)
		if err == nil || !strings.Contains(err.Error(), "1 leader among 3 members") || !strings.Contains(err.Error(), "want 2") {
			t.Errorf("got %v, want 1 leader among 3 members, want 2", err)
		}
	})

	t.Run("write and read", func(t *testing.T) {
		before := zkGoroutines()
		if err := health.ZooKeeper(ctx, ms, 1, true); err != nil {
			t.Fatalf("got %v, want no error", err)
		}
		// The client is closed: none of its goroutines is left.
		if err := waitFor(ctx, func() error {
			if after := zkGoroutines(); after > before {
				return fmt.Errorf("%d go-zookeeper goroutines left", after-before)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
		// The znode it wrote is gone.
		conn, _, err := zk.Connect(e.ClientAddrs(), 4*time.Second, zk.WithLogger(log.New(io.Discard, "", 0)))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		children, _, err := conn.Children(health.WriteReadPath)
		if err != nil {
			t.Fatalf("listing %s: %v", health.WriteReadPath, err)
		}
		if len(children) != 0 {
			t.Errorf("%s holds %v after the check, want nothing", health.WriteReadPath, children)
		}
	})

	t.Run("member stopped", func(t *testing.T) {
		i := follower(t, ctx, e)
		if err := e.Stop(i); err != nil {
			t.Fatal(err)
		}
		err := health.ZooKeeper(ctx, ms, 1, true)
		want := fmt.Sprintf("member %s (%s): ", ms[i].Node, ms[i].Addr)
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("got %v, want %q… connection refused", err, want)
		}
		if err := e.Start(i); err != nil {
			t.Fatal(err)
		}
		if err := waitFor(ctx, func() error { return health.ZooKeeper(ctx, ms, 1, true) }); err != nil {
			t.Errorf("after the member was started again: %v\n%s", err, e.LogTail(i))
		}
	})

	t.Run("no quorum", func(t *testing.T) {
		leader, err := e.Leader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other := (leader + 1) % 3
		remaining := 3 - leader - other
		for _, i := range []int{leader, other} {
			if err := e.Stop(i); err != nil {
				t.Fatal(err)
			}
		}
		// The remaining follower serves no more once it notices (syncLimit).
		want := fmt.Sprintf("member %s (%s): not serving (This ZooKeeper instance is not currently serving requests)",
			ms[remaining].Node, ms[remaining].Addr)
		err = waitFor(ctx, func() error {
			err := health.ZooKeeper(ctx, ms[remaining:remaining+1], 1, false)
			if err == nil || !errors.Is(err, health.ErrNotServing) {
				return fmt.Errorf("got %v, want ErrNotServing", err)
			}
			if err.Error() != want {
				return fmt.Errorf("got %q, want %q", err, want)
			}
			return nil
		})
		if err != nil {
			t.Error(err)
		}
		for _, i := range []int{leader, other} {
			if err := e.Start(i); err != nil {
				t.Fatal(err)
			}
		}
		if err := waitFor(ctx, func() error { return health.ZooKeeper(ctx, ms, 1, false) }); err != nil {
			t.Fatalf("after the members were started again: %v", err)
		}
	})
}

// TestZooKeeperSplitBrain asks three standalone servers, as if they were one ensemble.
func TestZooKeeperSplitBrain(t *testing.T) {
	var ms []health.Member
	for _, name := range []string{"able", "theta", "frozen"} {
		e := zktest.Start(t, 1)
		ms = append(ms, health.Member{Node: name, Addr: e.Members()[0].ClientAddr})
	}
	err := health.ZooKeeper(context.Background(), ms, 1, false)
	if err == nil || !strings.HasPrefix(err.Error(), "3 leaders among 3 members (member able (") {
		t.Errorf("got %v, want 3 leaders among 3 members", err)
	}
	if err := health.ZooKeeper(context.Background(), ms, 3, false); err != nil {
		t.Errorf("with leaders 3: got %v, want no error", err)
	}
}

// zkGoroutines counts the goroutines running the ZooKeeper client's code.
func zkGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, "github.com/go-zookeeper/zk.") {
			n++
		}
	}
	return n
}

// waitFor calls try every 50 ms until it succeeds or ctx ends; it returns the last failure.
func waitFor(ctx context.Context, try func() error) error {
	for {
		err := try()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %w", ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}
