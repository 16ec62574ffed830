package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
)

// runMainEnv makes the test binary run the bot's main instead of the tests,
// so a test can run `bot serve` as a process of its own and kill it.
const runMainEnv = "BOT_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// gate is a proxy in front of the fake GitHub that holds every request
// but the start-up check (GET /app) until opened.
type gate struct {
	mu     sync.Mutex
	open   chan struct{}
	held   int
	opened bool
}

func newGate(t *testing.T, target string) (*gate, string) {
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	g := &gate{open: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/app" {
			g.mu.Lock()
			g.held++
			g.mu.Unlock()
			select {
			case <-g.open:
			case <-r.Context().Done():
				return
			}
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return g, srv.URL + "/"
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.opened {
		g.opened = true
		close(g.open)
	}
}

func (g *gate) heldRequests() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// startProcess runs `bot serve` as a separate process, with extra flags.
func startProcess(t *testing.T, appID int64, githubURL, addr, dataDir string, extra ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	args := append([]string{"serve", "--listen", addr, "--app-id", fmt.Sprint(appID),
		"--github-url", githubURL, "--data-dir", dataDir, "--log-format", "text", "--build-images=false"}, extra...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	log := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	waitHealthy(t, "http://"+addr, log)
	return cmd, log
}

// TestServeKilledAfterAcknowledgingStillPlans kills the bot with SIGKILL
// after it answered 202 and before its job could reach GitHub; the bot
// started again on the same data directory must still plan.
func TestServeKilledAfterAcknowledgingStillPlans(t *testing.T) {
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 8, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
	secret := serveEnv(t, gh)
	g, proxied := newGate(t, gh.URL())
	t.Cleanup(g.release)
	dataDir := t.TempDir()
	addr := freeAddr(t)

	first, log := startProcess(t, gh.AppID(), proxied, addr, dataDir)
	id := randomID()
	if status, body := deliver(t, "http://"+addr+"/api/github/webhooks", secret, id, "pull_request",
		gh.PullRequestEvent("opened", owner, repoName, pr.Number)); status != http.StatusAccepted {
		t.Fatalf("delivery: %d %s, want 202", status, body)
	}
	// Let the job start and get stuck at the gate, so the kill cuts off a
	// running job, not only a waiting one.
	waitFor(t, "the job to reach GitHub", log, func() bool { return g.heldRequests() > 0 })
	if err := first.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	if runs := planRuns(gh, pr.HeadSHA); len(runs) != 0 {
		t.Fatalf("the killed bot reached GitHub: %d plan check runs", len(runs))
	}

	g.release()
	_, log = startProcess(t, gh.AppID(), proxied, addr, dataDir)
	run := completedPlan(t, gh, pr.HeadSHA, log)
	if run.Conclusion != "success" {
		t.Errorf("conclusion %q, want success", run.Conclusion)
	}
	if status, body := deliver(t, "http://"+addr+"/api/github/webhooks", secret, id, "pull_request",
		gh.PullRequestEvent("opened", owner, repoName, pr.Number)); status != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("redelivering after the restart: %d %s, want 200 duplicate", status, body)
	}
}

// TestServeShutdownFinishesTheJobInFlight: SIGTERM (here, the end of the
// context) while a plan waits on GitHub lets that plan finish before the
// bot exits.
func TestServeShutdownFinishesTheJobInFlight(t *testing.T) {
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	g, proxied := newGate(t, gh.URL())
	t.Cleanup(g.release) // before the gate's server closes, even when the test fails
	s := startServe(t, gh, t.TempDir(), "--github-url", proxied)
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 12, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	waitFor(t, "the job to reach GitHub", s.log, func() bool { return g.heldRequests() > 0 })

	stopped := make(chan int, 1)
	go func() { stopped <- s.stop() }()
	select {
	case code := <-stopped:
		t.Fatalf("bot serve exited (%d) with a job in flight", code)
	case <-time.After(300 * time.Millisecond):
	}
	g.release()
	if code := <-stopped; code != 0 {
		t.Errorf("bot serve exited %d; log:\n%s", code, s.log)
	}
	runs := planRuns(gh, pr.HeadSHA)
	if len(runs) != 1 || runs[0].Status != "completed" || runs[0].Conclusion != "success" {
		t.Errorf("after shutdown: %+v, want the plan completed", runs)
	}
}
