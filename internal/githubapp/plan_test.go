package githubapp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/ghapi"
	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// memState is State in memory. moveHead, when set, is the head Head
// reports from its second call on: a push that lands while a plan runs.
type memState struct {
	mu       sync.Mutex
	heads    map[string]string
	seen     map[string]time.Time
	calls    int
	moveHead string
	// heldBy, when set, holds every lease for another worker.
	heldBy string
}

func (m *memState) AcquireLease(_ context.Context, _, holder string, _ time.Duration) (bool, error) {
	return m.heldBy == "" || m.heldBy == holder, nil
}
func (m *memState) ReleaseLease(context.Context, string, string) error { return nil }

func (m *memState) Enqueue(context.Context, store.Task) (bool, error) { return true, nil }

func (m *memState) RecordHead(_ context.Context, pr, sha string, at time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.heads == nil {
		m.heads, m.seen = map[string]string{}, map[string]time.Time{}
	}
	if at.Before(m.seen[pr]) {
		return nil
	}
	m.heads[pr], m.seen[pr] = sha, at
	return nil
}

func (m *memState) Head(_ context.Context, pr string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if m.moveHead != "" && m.calls > 1 {
		return m.moveHead, nil
	}
	return m.heads[pr], nil
}

// tinyFleet is a git repository with a one-file fleet on main and a branch
// "more" that changes it; push adds a commit to "more".
func tinyFleet(t *testing.T) (dir string, push func()) {
	t.Helper()
	dir = t.TempDir()
	gitIn := func(args ...string) {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-c", "user.name=T", "-c", "user.email=t@example.com",
			"-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	write := func(content string) {
		os.MkdirAll(filepath.Join(dir, "inventory"), 0o755)
		os.WriteFile(filepath.Join(dir, "inventory", "room.yaml"), []byte(content), 0o644)
	}
	gitIn("init", "-q")
	write("racks: []\n")
	gitIn("add", "-A")
	gitIn("commit", "-qm", "base")
	pushes := 0
	push = func() {
		gitIn("checkout", "-q", "more")
		write(fmt.Sprintf("# push %d\nracks: []\n", pushes))
		gitIn("commit", "-qam", fmt.Sprint("push ", pushes))
		gitIn("checkout", "-q", "main")
		pushes++
	}
	gitIn("branch", "more")
	push()
	return dir, push
}

func newTestApp(t *testing.T, gh *githubtest.Server, state State) *App {
	t.Helper()
	clients, err := ghapi.NewClients(ghapi.Config{AppID: gh.AppID(), PrivateKey: gh.PrivateKeyPEM(), BaseURL: gh.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return New(Config{AppID: gh.AppID(), BotLogin: gh.BotLogin()}, clients, state, nil, nil)
}

func TestANewerPushSupersedesAnOlderHead(t *testing.T) {
	ctx := context.Background()
	gh := githubtest.New(t)
	dir, push := tinyFleet(t)
	gh.AddRepo("o", "r", dir)
	// The pull request is opened at the first push, then the second lands.
	pr := gh.OpenPullRequest("o", "r", githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "more", Author: "a"})
	older := gh.PullRequestEvent("opened", "o", "r", pr.Number)
	push()
	newer := gh.PushPullRequest("o", "r", pr.Number)
	if newer.HeadSHA == pr.HeadSHA {
		t.Fatal("the fixture's push did not move the head")
	}
	state := &memState{}
	app := newTestApp(t, gh, state)
	t0 := time.Now()

	// The newer push's delivery is worked first; the older one, received
	// before it, comes late and must not plan its stale head.
	sync := gh.PullRequestEvent("synchronize", "o", "r", pr.Number)
	if err := app.Handle(ctx, store.Delivery{ID: "2", Event: "pull_request", Payload: sync, Received: t0.Add(time.Second), JobID: 2}); err != nil {
		t.Fatal(err)
	}
	if err := app.Handle(ctx, store.Delivery{ID: "1", Event: "pull_request", Payload: older, Received: t0, JobID: 1}); err != nil {
		t.Fatal(err)
	}
	runs := gh.CheckRuns("o", "r")
	if len(runs) != 1 || runs[0].HeadSHA != newer.HeadSHA || runs[0].Status != "completed" {
		t.Fatalf("check runs %+v, want one completed, on the newer head %s", runs, newer.HeadSHA)
	}
}

func TestAPushDuringPlanningCancelsTheOlderCheckRun(t *testing.T) {
	ctx := context.Background()
	gh := githubtest.New(t)
	dir, _ := tinyFleet(t)
	gh.AddRepo("o", "r", dir)
	pr := gh.OpenPullRequest("o", "r", githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "more", Author: "a"})
	state := &memState{moveHead: "0123456789abcdef0123456789abcdef01234567"}
	app := newTestApp(t, gh, state)
	if err := app.Handle(ctx, store.Delivery{ID: "1", Event: "pull_request", Payload: gh.PullRequestEvent("opened", "o", "r", pr.Number), Received: time.Now(), JobID: 1}); err != nil {
		t.Fatal(err)
	}
	runs := gh.CheckRuns("o", "r")
	if len(runs) != 1 || runs[0].Conclusion != "cancelled" || runs[0].Output.Title != "Superseded by a newer push" {
		t.Fatalf("check runs %+v, want one cancelled as superseded", runs)
	}
}

func TestAPullRequestIsPlannedByOneWorkerAtATime(t *testing.T) {
	gh := githubtest.New(t)
	dir, _ := tinyFleet(t)
	gh.AddRepo("o", "r", dir)
	pr := gh.OpenPullRequest("o", "r", githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "more", Author: "a"})
	app := newTestApp(t, gh, &memState{heldBy: "job-1"})
	err := app.Handle(context.Background(), store.Delivery{ID: "2", Event: "pull_request",
		Payload: gh.PullRequestEvent("synchronize", "o", "r", pr.Number), Received: time.Now(), JobID: 2})
	if !store.IsSnooze(err) {
		t.Fatalf("Handle: %v, want a snooze while job-1 plans the pull request", err)
	}
	if runs := gh.CheckRuns("o", "r"); len(runs) != 0 {
		t.Errorf("%d check runs while another worker held the pull request", len(runs))
	}
}
