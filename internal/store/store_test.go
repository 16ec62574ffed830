package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
	"github.com/cluster-as-code/cluster-as-code/internal/store/storetest"
)

// backends runs a test on SQLite and on PostgreSQL. cfg returns a fresh
// configuration whose database lives as long as the test.
func backends(t *testing.T, test func(t *testing.T, cfg func() store.Config)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		test(t, func() store.Config { return store.Config{DataDir: dir} })
	})
	t.Run("postgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		test(t, func() store.Config { return store.Config{DatabaseURL: url} })
	})
}

func open(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		s.Stop(context.Background())
		s.Close()
	})
	return s
}

// recorder is a Handler that records what it worked and signals each call.
type recorder struct {
	mu    sync.Mutex
	seen  map[string]int
	order []store.Delivery
	calls chan store.Delivery
	// fail decides the result of a call; nil means success.
	fail func(d store.Delivery) error
}

func newRecorder() *recorder {
	return &recorder{seen: map[string]int{}, calls: make(chan store.Delivery, 1024)}
}

func (r *recorder) handle(ctx context.Context, d store.Delivery) error {
	r.mu.Lock()
	r.seen[d.ID]++
	r.order = append(r.order, d)
	fail := r.fail
	r.mu.Unlock()
	r.calls <- d
	if fail != nil {
		return fail(d)
	}
	return nil
}

func (r *recorder) wait(t *testing.T) store.Delivery {
	t.Helper()
	select {
	case d := <-r.calls:
		return d
	case <-time.After(60 * time.Second):
		t.Fatal("no delivery was handled within a minute")
		return store.Delivery{}
	}
}

func (r *recorder) count(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

func waitPending(t *testing.T, s *store.Store, want int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := s.Pending(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pending deliveries: got %d, want %d", n, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAcceptStoresOnceAndWorksOnce(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		rec := newRecorder()
		c := cfg()
		c.Handler = rec.handle
		s := open(t, c)
		d := store.Delivery{ID: "d-1", Event: "pull_request", Payload: []byte(`{"action":"opened"}`)}
		for i, want := range []bool{true, false, false} {
			fresh, err := s.Accept(ctx, d)
			if err != nil {
				t.Fatalf("Accept #%d: %v", i+1, err)
			}
			if fresh != want {
				t.Errorf("Accept #%d: fresh = %v, want %v", i+1, fresh, want)
			}
		}
		if n, _ := s.Pending(ctx); n != 1 {
			t.Errorf("pending before start: %d, want 1 (duplicates must not queue work)", n)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		got := rec.wait(t)
		if got.ID != "d-1" || got.Event != "pull_request" || string(got.Payload) != `{"action":"opened"}` || got.Attempt != 1 {
			t.Errorf("handled %+v, want the accepted delivery on attempt 1", got)
		}
		waitPending(t, s, 0)
		if n := rec.count("d-1"); n != 1 {
			t.Errorf("handled d-1 %d times, want once", n)
		}
	})
}

func TestConcurrentAcceptsShareCommitsAndLoseNothing(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		const distinct = 300
		var wg sync.WaitGroup
		var mu sync.Mutex
		fresh := map[string]int{}
		errs := make(chan error, 2*distinct)
		for i := range 2 * distinct {
			wg.Add(1)
			go func() {
				defer wg.Done()
				id := fmt.Sprintf("d-%d", i%distinct) // every id twice
				ok, err := s.Accept(ctx, store.Delivery{ID: id, Event: "ping", Payload: []byte(`{}`)})
				if err != nil {
					errs <- err
					return
				}
				if ok {
					mu.Lock()
					fresh[id]++
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if len(fresh) != distinct {
			t.Errorf("%d ids reported new, want %d", len(fresh), distinct)
		}
		for id, n := range fresh {
			if n != 1 {
				t.Errorf("%s reported new %d times", id, n)
			}
		}
		if n, _ := s.Pending(ctx); n != distinct {
			t.Errorf("pending: %d, want %d", n, distinct)
		}
	})
}

func TestAcceptedDeliveriesSurviveARestart(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		first, err := store.Open(ctx, cfg())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := first.Accept(ctx, store.Delivery{ID: "before-restart", Event: "ping", Payload: []byte(`{"zen":"x"}`)}); err != nil {
			t.Fatal(err)
		}
		if err := first.Close(); err != nil {
			t.Fatal(err)
		}
		rec := newRecorder()
		c := cfg()
		c.Handler = rec.handle
		second := open(t, c)
		if err := second.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if d := rec.wait(t); d.ID != "before-restart" {
			t.Errorf("handled %q, want the delivery accepted before the restart", d.ID)
		}
		if fresh, err := second.Accept(ctx, store.Delivery{ID: "before-restart", Event: "ping", Payload: []byte(`{}`)}); err != nil || fresh {
			t.Errorf("redelivery after restart: fresh=%v err=%v, want a duplicate", fresh, err)
		}
	})
}

func TestFailedDeliveriesAreRetriedAndSnoozedOnesComeBack(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		rec := newRecorder()
		rec.fail = func(d store.Delivery) error {
			switch {
			case d.ID == "flaky" && d.Attempt == 1:
				return errors.New("GitHub answered 502")
			case d.ID == "waiting" && rec.count("waiting") == 1: // a snooze is not an attempt
				return store.Snooze(time.Second, "another job holds the pull request")
			case d.ID == "broken":
				return store.Permanent(errors.New("payload does not parse"))
			}
			return nil
		}
		c := cfg()
		c.Handler = rec.handle
		s := open(t, c)
		for _, id := range []string{"flaky", "waiting", "broken"} {
			if _, err := s.Accept(ctx, store.Delivery{ID: id, Event: "ping", Payload: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for range 5 { // flaky twice, waiting twice, broken once
			rec.wait(t)
		}
		waitPending(t, s, 0)
		for id, want := range map[string]int{"flaky": 2, "waiting": 2, "broken": 1} {
			if got := rec.count(id); got != want {
				t.Errorf("%s handled %d times, want %d", id, got, want)
			}
		}
	})
}

func TestLeases(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		steps := []struct {
			name   string
			holder string
			ttl    time.Duration
			want   bool
		}{
			{"first holder takes it", "job-1", time.Hour, true},
			{"second holder is refused", "job-2", time.Hour, false},
			{"holder takes it again after a restart", "job-1", time.Hour, true},
		}
		for _, st := range steps {
			got, err := s.AcquireLease(ctx, "o/r#1", st.holder, st.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if got != st.want {
				t.Errorf("%s: got %v, want %v", st.name, got, st.want)
			}
		}
		if got, _ := s.AcquireLease(ctx, "o/r#2", "job-2", time.Hour); !got {
			t.Error("a lease on another pull request was refused")
		}
		if err := s.ReleaseLease(ctx, "o/r#1", "job-2"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AcquireLease(ctx, "o/r#1", "job-3", time.Hour); got {
			t.Error("releasing someone else's lease freed it")
		}
		if err := s.ReleaseLease(ctx, "o/r#1", "job-1"); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.AcquireLease(ctx, "o/r#1", "job-3", -time.Second); !got {
			t.Error("a released lease was refused")
		}
		if got, _ := s.AcquireLease(ctx, "o/r#1", "job-4", time.Hour); !got {
			t.Error("an expired lease was refused")
		}
	})
}

func TestHeadsKeepTheNewestPush(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		s := open(t, cfg())
		if sha, err := s.Head(ctx, "o/r#1"); err != nil || sha != "" {
			t.Fatalf("unknown pull request: %q %v, want empty", sha, err)
		}
		t0 := time.Unix(1_700_000_000, 0)
		s.RecordHead(ctx, "o/r#1", "aaa", t0)
		s.RecordHead(ctx, "o/r#1", "ccc", t0.Add(2*time.Second))
		s.RecordHead(ctx, "o/r#1", "bbb", t0.Add(time.Second)) // worked late
		if sha, _ := s.Head(ctx, "o/r#1"); sha != "ccc" {
			t.Errorf("head: %q, want the newest push ccc", sha)
		}
	})
}

func TestSQLiteDataDirServesOneProcess(t *testing.T) {
	dir := t.TempDir()
	open(t, store.Config{DataDir: dir})
	_, err := store.Open(context.Background(), store.Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "in use by another bot process") {
		t.Fatalf("second Open on %s: %v, want 'in use by another bot process'", dir, err)
	}
}

func TestUnreachablePostgresSaysWhereWithoutThePassword(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := store.Open(ctx, store.Config{DatabaseURL: "postgres://bot:hunter2secret@127.0.0.1:1/fleet?sslmode=disable&connect_timeout=2"})
	if err == nil {
		t.Fatal("Open succeeded on a closed port")
	}
	if !strings.Contains(err.Error(), "127.0.0.1:1/fleet") {
		t.Errorf("error %q does not say which database", err)
	}
	if strings.Contains(err.Error(), "hunter2secret") {
		t.Errorf("error %q shows the password", err)
	}
}

func TestPruneKeepsDeliveriesStillToBeWorked(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		rec := newRecorder()
		rec.fail = func(d store.Delivery) error {
			if d.ID == "stuck" {
				return store.Snooze(time.Hour, "waiting")
			}
			return nil
		}
		c := cfg()
		c.Handler = rec.handle
		s := open(t, c)
		old := time.Now().Add(-30 * 24 * time.Hour)
		for _, id := range []string{"done", "stuck"} {
			if _, err := s.Accept(ctx, store.Delivery{ID: id, Event: "ping", Payload: []byte(`{}`), Received: old}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Accept(ctx, store.Delivery{ID: "recent", Event: "ping", Payload: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			rec.wait(t)
		}
		waitPending(t, s, 1) // "stuck" waits an hour
		n, err := s.Prune(ctx, time.Now().Add(-14*24*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("pruned %d deliveries, want 1 (the old one that was worked)", n)
		}
		if total, _ := s.Deliveries(ctx); total != 2 {
			t.Errorf("%d deliveries left, want 2 (the recent one and the one still waiting)", total)
		}
		if fresh, _ := s.Accept(ctx, store.Delivery{ID: "stuck", Event: "ping", Payload: []byte(`{}`)}); fresh {
			t.Error("a delivery still waiting was forgotten: its redelivery counted as new")
		}
	})
}

// TestReplicasShareThePostgresQueue runs two stores on one PostgreSQL
// database, as two bot replicas: deliveries accepted by either are worked
// once, by one of them.
func TestReplicasShareThePostgresQueue(t *testing.T) {
	url := storetest.PostgresURL(t)
	ctx := context.Background()
	rec := newRecorder()
	var replicas []*store.Store
	for range 2 {
		s := open(t, store.Config{DatabaseURL: url, Handler: rec.handle})
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		replicas = append(replicas, s)
	}
	const n = 60
	for i := range n {
		// Every delivery reaches both replicas, as behind a load balancer
		// with a redelivery: only one copy may be stored.
		for _, s := range replicas {
			if _, err := s.Accept(ctx, store.Delivery{ID: fmt.Sprintf("r-%d", i), Event: "ping", Payload: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range n {
		rec.wait(t)
	}
	waitPending(t, replicas[0], 0)
	for i := range n {
		if got := rec.count(fmt.Sprintf("r-%d", i)); got != 1 {
			t.Errorf("delivery r-%d worked %d times, want once", i, got)
		}
	}
}

func TestTasksRunOncePerKeyAtATime(t *testing.T) {
	backends(t, func(t *testing.T, cfg func() store.Config) {
		ctx := context.Background()
		ran := make(chan store.Task, 10)
		c := cfg()
		c.Tasks = map[string]store.TaskKind{"build": {Timeout: time.Minute, Handler: func(_ context.Context, task store.Task) error {
			ran <- task
			return nil
		}}}
		s := open(t, c)
		for i, want := range []bool{true, false} {
			fresh, err := s.Enqueue(ctx, store.Task{Kind: "build", Key: "o/r@abc base", Payload: []byte(`{"n":1}`)})
			if err != nil || fresh != want {
				t.Fatalf("Enqueue #%d: %v %v, want %v", i+1, fresh, err, want)
			}
		}
		if _, err := s.Enqueue(ctx, store.Task{Kind: "unknown", Key: "x"}); err == nil {
			t.Error("a task of a kind with no handler was enqueued")
		}
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case task := <-ran:
			if task.Key != "o/r@abc base" || strings.ReplaceAll(string(task.Payload), " ", "") != `{"n":1}` || task.Attempt != 1 { // PostgreSQL stores jsonb: spacing is its own
				t.Errorf("handled %+v", task)
			}
		case <-time.After(time.Minute):
			t.Fatal("the task did not run")
		}
		waitPending(t, s, 0)
		if fresh, _ := s.Enqueue(ctx, store.Task{Kind: "build", Key: "o/r@abc base"}); !fresh {
			t.Error("a finished task's key could not be enqueued again")
		}
	})
}
