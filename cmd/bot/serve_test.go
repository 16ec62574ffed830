package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
	"github.com/cluster-as-code/cluster-as-code/internal/store/storetest"
)

// The end-to-end tests run `bot serve` with its real store against the fake
// GitHub, and deliver signed webhooks over HTTP.

const (
	owner    = "sop"
	repoName = "fleet"
)

// syncBuffer is a bytes.Buffer safe for the server's log writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// served is one running `bot serve`.
type served struct {
	url    string // the webhook endpoint
	base   string // http://host:port
	secret []byte
	log    *syncBuffer
	stop   func() int
}

// freeAddr returns a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serveEnv sets the secrets `bot serve` reads from the environment.
func serveEnv(t *testing.T, gh *githubtest.Server) []byte {
	t.Helper()
	secret := []byte("webhook-secret-" + randomID())
	t.Setenv("CAC_WEBHOOK_SECRET", string(secret))
	t.Setenv("CAC_PRIVATE_KEY", string(gh.PrivateKeyPEM()))
	return secret
}

// startServe runs `bot serve` in-process until the test ends (or stop).
func startServe(t *testing.T, gh *githubtest.Server, dataDir string, extra ...string) *served {
	t.Helper()
	return startServeAt(t, gh, freeAddr(t), dataDir, extra...)
}

// startServeAt is startServe listening on addr.
func startServeAt(t *testing.T, gh *githubtest.Server, addr, dataDir string, extra ...string) *served {
	t.Helper()
	secret := serveEnv(t, gh)
	args := append([]string{"serve", "--listen", addr, "--app-id", fmt.Sprint(gh.AppID()),
		"--github-url", gh.URL(), "--data-dir", dataDir, "--log-format", "text", "--workers", "2",
		"--build-images=false"}, extra...)
	ctx, cancel := context.WithCancel(context.Background())
	log := &syncBuffer{}
	done := make(chan int, 1)
	go func() { done <- run(ctx, args, io.Discard, log) }()
	s := &served{url: "http://" + addr + "/api/github/webhooks", base: "http://" + addr, secret: secret, log: log}
	var once sync.Once
	code := 0
	s.stop = func() int {
		once.Do(func() {
			cancel()
			select {
			case code = <-done:
			case <-time.After(90 * time.Second):
				t.Errorf("bot serve did not shut down within 90 s; log:\n%s", log)
			}
		})
		return code
	}
	t.Cleanup(func() {
		if code := s.stop(); code != 0 {
			t.Errorf("bot serve exited %d; log:\n%s", code, log)
		}
	})
	waitHealthy(t, s.base, log)
	return s
}

func waitHealthy(t *testing.T, base string, log fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("bot serve did not become healthy within 30 s; log:\n%s", log)
}

func randomID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// deliver posts a delivery signed with secret (nil: unsigned) and returns
// the status and body.
func deliver(t *testing.T, url string, secret []byte, id, event string, payload []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	if secret != nil {
		req.Header.Set("X-Hub-Signature-256", githubtest.Sign(secret, payload))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("delivering %s: %v", event, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// jobsDone reads from /metrics how many jobs of kind finished without error.
func (s *served) jobsDone(t *testing.T, kind string) int {
	t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	prefix := `cac_job_duration_seconds_count{kind="` + kind + `",outcome="ok"} `
	for _, line := range strings.Split(string(body), "\n") {
		if n, ok := strings.CutPrefix(line, prefix); ok {
			var count int
			fmt.Sscan(n, &count)
			return count
		}
	}
	return 0
}

// accept delivers and fails the test unless the bot stored it.
func (s *served) accept(t *testing.T, event string, payload []byte) string {
	t.Helper()
	id := randomID()
	if status, body := deliver(t, s.url, s.secret, id, event, payload); status != http.StatusAccepted {
		t.Fatalf("delivering %s: %d %s, want 202", event, status, body)
	}
	return id
}

// waitFor polls until cond holds, for at most three minutes: a bound on a bot that is stuck,
// generous because the package's tests (image builds, Ironic deploys) share two cores.
func waitFor(t *testing.T, what string, log fmt.Stringer, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited three minutes for %s; bot log:\n%s", what, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// completedPlan waits for the completed "plan" check run on sha.
func completedPlan(t *testing.T, gh *githubtest.Server, sha string, log fmt.Stringer) githubtest.CheckRun {
	t.Helper()
	var found githubtest.CheckRun
	waitFor(t, "the plan check run on "+sha[:7], log, func() bool {
		for _, run := range gh.CheckRuns(owner, repoName) {
			if run.Name == "plan" && run.HeadSHA == sha && run.Status == "completed" {
				found = run
				return true
			}
		}
		return false
	})
	return found
}

// planRuns returns the plan check runs on sha.
func planRuns(gh *githubtest.Server, sha string) []githubtest.CheckRun {
	var out []githubtest.CheckRun
	for _, run := range gh.CheckRuns(owner, repoName) {
		if run.Name == "plan" && run.HeadSHA == sha {
			out = append(out, run)
		}
	}
	return out
}

// fleetRepo is the example fleet as a git repository, registered with the
// fake GitHub, with branches made by the given edits.
func fleetRepo(t *testing.T, gh *githubtest.Server, branches map[string]func(dir string)) string {
	t.Helper()
	dir := exampleRepo(t)
	for name, edit := range branches {
		git(t, dir, "checkout", "-q", "-b", name, "main")
		edit(dir)
		commitAll(t, dir, name)
	}
	git(t, dir, "checkout", "-q", "main")
	gh.AddRepo(owner, repoName, dir)
	return dir
}

// agentImageChange rebuilds the agent image: every agent is re-provisioned,
// in waves of the agents' max_down.
func agentImageChange(t *testing.T) func(string) {
	return func(dir string) {
		path := filepath.Join(dir, "images", "mesos-agent", "Dockerfile")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		writeFile(t, dir, "images/mesos-agent/Dockerfile", string(data)+"# rebuilt for the test\n")
	}
}

func TestServePlansAPullRequestThatTouchesTheFleet(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			gh := githubtest.New(t)
			fleetRepo(t, gh, map[string]func(string){
				"agent-image": agentImageChange(t),
				"docs-only":   func(dir string) { writeFile(t, dir, "README.md", "# the fleet\n") },
			})
			var extra []string
			if backend == "postgres" {
				extra = []string{"--database-url", storetest.PostgresURL(t)}
			}
			s := startServe(t, gh, t.TempDir(), extra...)

			docs := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 1, BaseRef: "main", HeadRef: "docs-only", Author: "alice"})
			pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 2, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
			s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, docs.Number))
			s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))

			run := completedPlan(t, gh, pr.HeadSHA, s.log)
			if run.Conclusion != "success" {
				t.Errorf("conclusion %q, want success; summary:\n%s", run.Conclusion, run.Output.Summary)
			}
			for _, want := range []string{"| Wave | Role | Action | Nodes | Down at once |", "mesos-agent", "re-provision"} {
				if !strings.Contains(run.Output.Summary, want) {
					t.Errorf("summary lacks %q:\n%s", want, run.Output.Summary)
				}
			}
			if !strings.Contains(run.Output.Title, "re-provision") {
				t.Errorf("title %q does not say nodes are re-provisioned", run.Output.Title)
			}
			if run.ExternalID != "2" {
				t.Errorf("external id %q, want the pull request number 2", run.ExternalID)
			}
			// Both deliveries were worked by now or soon: wait until the
			// docs-only one was looked at, then check it got no check run.
			waitFor(t, "the docs-only pull request to be compared", s.log, func() bool {
				for _, r := range gh.Requests() {
					if strings.Contains(r.Path, "/compare/") && strings.HasSuffix(r.Path, docs.HeadSHA) {
						return true
					}
				}
				return false
			})
			s.stop() // drains the job in flight
			if runs := planRuns(gh, docs.HeadSHA); len(runs) != 0 {
				t.Errorf("a pull request that touches no fleet folder got %d plan check runs", len(runs))
			}
		})
	}
}

func TestServeAnnotatesInvalidYAMLAtItsLine(t *testing.T) {
	gh := githubtest.New(t)
	dir := fleetRepo(t, gh, map[string]func(string){
		"broken": func(dir string) {
			replaceOnce(t, filepath.Join(dir, "clusters", "green-cluster.yaml"), "\nclusters:\n", "\nclusters:\n  broken: [unclosed\n")
		},
	})
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 3, BaseRef: "main", HeadRef: "broken", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	run := completedPlan(t, gh, pr.HeadSHA, s.log)
	if run.Conclusion != "failure" {
		t.Errorf("conclusion %q, want failure", run.Conclusion)
	}
	want := expectedFindings(t, dir, "broken")
	if len(run.Annotations) != len(want) || len(want) == 0 {
		t.Fatalf("%d annotations, want %d (one per finding): %+v", len(run.Annotations), len(want), run.Annotations)
	}
	a := run.Annotations[0]
	if a.Path != "clusters/green-cluster.yaml" || a.Level != "failure" {
		t.Errorf("annotation %+v, want a failure on clusters/green-cluster.yaml", a)
	}
	// The parser reports the unclosed bracket at or after the line the test
	// broke (line 20); it must be the loader's line, not line 1 by default.
	if a.StartLine != want[0].line {
		t.Errorf("annotation on line %d, want line %d where the loader found it", a.StartLine, want[0].line)
	}
	if a.StartLine < 20 {
		t.Errorf("annotation on line %d: the broken line is 20", a.StartLine)
	}
}

type wantFinding struct {
	path string
	line int
	rule string
}

// expectedFindings loads rev of the repository at dir as the bot's command
// line does.
func expectedFindings(t *testing.T, dir, rev string) []wantFinding {
	t.Helper()
	snap, err := fleet.NewReader().Git(context.Background(), dir, rev)
	if err != nil {
		t.Fatal(err)
	}
	var out []wantFinding
	for _, f := range snap.Findings {
		out = append(out, wantFinding{path: f.Pos.File, line: max(f.Pos.Line, 1), rule: f.Rule})
	}
	return out
}

// manyServers is an inventory file of 120 servers whose hardware profile
// does not exist: exactly 120 findings, one per server, at its line.
func manyServers() string {
	var b strings.Builder
	b.WriteString("racks:\n")
	for r := range 3 {
		fmt.Fprintf(&b, "  - name: EXTRA-%d\n    location: SOP-MCR\n    size: 45\n    devices:\n", r)
		for j := range 40 {
			i := r*40 + j
			fmt.Fprintf(&b, `      - server:
          name: extra-%03d
          serial: X%05d
          hardware: no-such-profile
          date_added: "2020-01-01"
          ironic_uuid: 00000000-0000-0000-0000-%012x
          rack_position: [%d]
          ipmi:
            mac: 02:00:00:00:%02x:%02x
            switch: sop-mcr-n5-ipmi
            switch_port: %d
          network:
            - physical_slot: sfp-card/1
              mac_address: 02:00:00:01:%02x:%02x
              switch: sop-mcr-n5-tor1
              switch_port: %d
`, i, i, i+1, j+1, i/256, i%256, 100+i, i/256, i%256, 100+i)
		}
	}
	return b.String()
}

func TestServeSendsEveryAnnotationOf120Findings(t *testing.T) {
	gh := githubtest.New(t)
	dir := fleetRepo(t, gh, map[string]func(string){
		"many": func(dir string) { writeFile(t, dir, "inventory/extra.yaml", manyServers()) },
	})
	want := expectedFindings(t, dir, "many")
	if len(want) != 120 {
		t.Fatalf("the fixture gives %d findings, want 120", len(want))
	}
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 4, BaseRef: "main", HeadRef: "many", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	run := completedPlan(t, gh, pr.HeadSHA, s.log)
	if run.Conclusion != "failure" {
		t.Errorf("conclusion %q, want failure", run.Conclusion)
	}
	if len(run.Annotations) != 120 {
		t.Fatalf("%d annotations arrived, want all 120", len(run.Annotations))
	}
	got := map[wantFinding]int{}
	for _, a := range run.Annotations {
		got[wantFinding{path: a.Path, line: a.StartLine, rule: a.Title}]++
	}
	for _, w := range want {
		if got[w] != 1 {
			t.Errorf("finding %+v arrived %d times, want once", w, got[w])
		}
	}
	// 120 annotations at 50 per request: the create, two updates adding 50
	// while in progress, and the completing update with the last 20.
	if run.Updates != 3 {
		t.Errorf("%d updates of the check run, want 3 (50 + 50 + 20 annotations)", run.Updates)
	}
}

func TestServeCommandsNeedPermission(t *testing.T) {
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	gh.SetPermission(owner, repoName, "rita", "read")
	gh.SetPermission(owner, repoName, "walt", "write")
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 5, BaseRef: "main", HeadRef: "agent-image", Author: "walt"})

	payload, readerComment := gh.IssueCommentEvent(owner, repoName, pr.Number, "rita", "Could we get a fresh plan?\n\n/plan\n")
	s.accept(t, "issue_comment", payload)
	var refusal string
	waitFor(t, "a reply to the reader's /plan", s.log, func() bool {
		for _, c := range gh.Comments(owner, repoName, pr.Number) {
			if c.User == gh.BotLogin() {
				refusal = c.Body
				return true
			}
		}
		return false
	})
	for _, want := range []string{"@rita", "/plan", "write", "read"} {
		if !strings.Contains(refusal, want) {
			t.Errorf("refusal %q does not mention %q", refusal, want)
		}
	}
	if r := gh.Reactions(owner, repoName, readerComment); len(r) != 0 {
		t.Errorf("a refused command got reactions %v", r)
	}
	if runs := planRuns(gh, pr.HeadSHA); len(runs) != 0 {
		t.Errorf("a reader's /plan made %d check runs", len(runs))
	}

	quoted, quotedComment := gh.IssueCommentEvent(owner, repoName, pr.Number, "walt", "> /plan\n\n```\n/plan\n```\nno command here")
	s.accept(t, "issue_comment", quoted)
	payload, writerComment := gh.IssueCommentEvent(owner, repoName, pr.Number, "walt", "/plan")
	s.accept(t, "issue_comment", payload)
	run := completedPlan(t, gh, pr.HeadSHA, s.log)
	if run.Conclusion != "success" {
		t.Errorf("conclusion %q after /plan, want success", run.Conclusion)
	}
	if r := gh.Reactions(owner, repoName, writerComment); len(r) != 1 || r[0] != "eyes" {
		t.Errorf("reactions on the writer's /plan: %v, want [eyes]", r)
	}
	if r := gh.Reactions(owner, repoName, quotedComment); len(r) != 0 {
		t.Errorf("a quoted and a fenced /plan were taken as commands: reactions %v", r)
	}

	payload, _ = gh.IssueCommentEvent(owner, repoName, pr.Number, "rita", "/help")
	s.accept(t, "issue_comment", payload)
	waitFor(t, "the /help answer", s.log, func() bool {
		for _, c := range gh.Comments(owner, repoName, pr.Number) {
			if c.User == gh.BotLogin() && strings.Contains(c.Body, "| `/plan` |") {
				return true
			}
		}
		return false
	})

	// Editing a comment into a command runs nothing: only new comments do.
	edited := gh.IssueCommentEditedEvent(owner, repoName, quotedComment, "/plan")
	s.accept(t, "issue_comment", edited)

	// The bot's own comments are never commands, even when they quote one.
	own, ownComment := gh.IssueCommentEvent(owner, repoName, pr.Number, gh.BotLogin(), "/plan")
	s.accept(t, "issue_comment", own)
	waitFor(t, "all six comments to be worked", s.log, func() bool { return s.jobsDone(t, "issue_comment") == 6 })
	s.stop()
	if r := gh.Reactions(owner, repoName, quotedComment); len(r) != 0 {
		t.Errorf("an edit that added /plan ran it: reactions %v", r)
	}
	if r := gh.Reactions(owner, repoName, ownComment); len(r) != 0 {
		t.Errorf("the bot answered its own comment: reactions %v", r)
	}
	if runs := planRuns(gh, pr.HeadSHA); len(runs) != 1 {
		t.Errorf("%d plan check runs, want 1 (the writer's /plan only)", len(runs))
	}
}

func TestServeTakesADeliveryOnceAndOnlySigned(t *testing.T) {
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 6, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
	payload := gh.PullRequestEvent("opened", owner, repoName, pr.Number)

	cases := []struct {
		name   string
		secret []byte
		status int
	}{
		{"unsigned", nil, http.StatusUnauthorized},
		{"signed with another secret", []byte("not-the-secret"), http.StatusUnauthorized},
	}
	for _, c := range cases {
		if status, body := deliver(t, s.url, c.secret, randomID(), "pull_request", payload); status != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, status, body, c.status)
		}
	}
	tampered := bytes.Replace(payload, []byte(`"opened"`), []byte(`"reopened"`), 1)
	req, _ := http.NewRequest(http.MethodPost, s.url, bytes.NewReader(tampered))
	req.Header.Set("X-GitHub-Event", "pull_request")
	req.Header.Set("X-GitHub-Delivery", randomID())
	req.Header.Set("X-Hub-Signature-256", githubtest.Sign(s.secret, payload))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a body changed after signing: %d, want 401", resp.StatusCode)
	}

	id := randomID()
	if status, _ := deliver(t, s.url, s.secret, id, "pull_request", payload); status != http.StatusAccepted {
		t.Fatalf("first delivery: %d, want 202", status)
	}
	if status, body := deliver(t, s.url, s.secret, id, "pull_request", payload); status != http.StatusOK || !strings.Contains(body, "duplicate") {
		t.Errorf("the same delivery again: %d %s, want 200 duplicate", status, body)
	}
	completedPlan(t, gh, pr.HeadSHA, s.log)
	// The job's duration is recorded when the job returns, just after its
	// last request to GitHub.
	waitFor(t, "the job to finish", s.log, func() bool { return s.jobsDone(t, "pull_request") == 1 })

	resp, err = http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`cac_webhook_deliveries_total{event="pull_request",outcome="bad_signature"} 3`,
		`cac_webhook_deliveries_total{event="pull_request",outcome="accepted"} 1`,
		`cac_webhook_deliveries_total{event="pull_request",outcome="duplicate"} 1`,
		`cac_github_requests_total{method="PATCH",status="200"}`,
		`cac_github_rate_limit_remaining{resource="core"}`,
		`cac_job_duration_seconds_count{kind="pull_request",outcome="ok"} 1`,
		`cac_deliveries_stored 1`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	s.stop()
	if runs := planRuns(gh, pr.HeadSHA); len(runs) != 1 {
		t.Errorf("%d plan check runs, want 1: the duplicate and the unsigned deliveries must not be worked", len(runs))
	}
}

// TestServeRequestsForASynchronize pins the GitHub API requests one plan
// costs on a push to an open pull request, after the pull request was
// planned once (installation token and merge base are then cached).
func TestServeRequestsForASynchronize(t *testing.T) {
	gh := githubtest.New(t)
	dir := fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 9, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	completedPlan(t, gh, pr.HeadSHA, s.log)

	git(t, dir, "checkout", "-q", "agent-image")
	writeFile(t, dir, "images/mesos-agent/tree/etc/motd", "pushed again\n")
	commitAll(t, dir, "a second push")
	git(t, dir, "checkout", "-q", "main")
	pushed := gh.PushPullRequest(owner, repoName, pr.Number)
	before := len(gh.Requests())
	s.accept(t, "pull_request", gh.PullRequestEvent("synchronize", owner, repoName, pr.Number))
	completedPlan(t, gh, pushed.HeadSHA, s.log)
	s.stop()

	var got []string
	for _, r := range gh.Requests()[before:] {
		if r.Route != "" { // API requests; tarball downloads go to the download host
			got = append(got, r.Method+" "+r.Route)
		}
	}
	want := []string{
		"GET /repos/{owner}/{repo}/compare/{basehead}",          // does it touch the fleet, and where it branched
		"POST /repos/{owner}/{repo}/check-runs",                 // "in progress" at once
		"GET /repos/{owner}/{repo}/tarball/{ref}",               // the new head; the merge base is cached
		"PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}", // completed, with the plan and up to 50 annotations
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("API requests for one synchronize:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, secret := range []string{string(s.secret), "PRIVATE KEY", "ghs_"} { // webhook secret, app key, installation tokens
		if strings.Contains(s.log.String(), secret) {
			t.Errorf("the bot's log shows a secret (%.12s…)", secret)
		}
	}
}

func TestServeRerunRecomputesThePlan(t *testing.T) {
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 10, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	first := completedPlan(t, gh, pr.HeadSHA, s.log)

	completedRuns := func() int {
		n := 0
		for _, run := range planRuns(gh, pr.HeadSHA) {
			if run.Status == "completed" && run.Conclusion == "success" {
				n++
			}
		}
		return n
	}
	s.accept(t, "check_run", gh.CheckRunRerequestedEvent(owner, repoName, first.ID))
	waitFor(t, "a second plan after Re-run", s.log, func() bool { return completedRuns() == 2 })
	s.accept(t, "check_suite", gh.CheckSuiteRerequestedEvent(owner, repoName, pr.HeadSHA))
	waitFor(t, "a third plan after Re-run all checks", s.log, func() bool { return completedRuns() == 3 })
	for _, run := range planRuns(gh, pr.HeadSHA) {
		if run.ExternalID != "10" {
			t.Errorf("check run %d has external id %q, want the pull request number", run.ID, run.ExternalID)
		}
	}
}

// TestServeRetriesAPlanGitHubFailed: a GitHub error in the middle of a plan
// fails that check run (it must not pass a required check, nor stay "in
// progress"), and the job's retry posts the plan.
func TestServeRetriesAPlanGitHubFailed(t *testing.T) {
	gh := githubtest.New(t)
	fleetRepo(t, gh, map[string]func(string){"agent-image": agentImageChange(t)})
	gh.Fail("GET", "/repos/{owner}/{repo}/tarball/{ref}", 1, http.StatusNotFound, nil)
	s := startServe(t, gh, t.TempDir())
	pr := gh.OpenPullRequest(owner, repoName, githubtest.PullRequest{Number: 11, BaseRef: "main", HeadRef: "agent-image", Author: "alice"})
	s.accept(t, "pull_request", gh.PullRequestEvent("opened", owner, repoName, pr.Number))
	waitFor(t, "a failed and a successful plan", s.log, func() bool {
		runs := planRuns(gh, pr.HeadSHA)
		return len(runs) == 2 && runs[1].Status == "completed"
	})
	runs := planRuns(gh, pr.HeadSHA)
	if runs[0].Conclusion != "failure" || runs[0].Output.Title != "Could not compute the plan" || !strings.Contains(runs[0].Output.Summary, "404") {
		t.Errorf("first check run: %s %q %q, want a failure that says what GitHub answered", runs[0].Conclusion, runs[0].Output.Title, runs[0].Output.Summary)
	}
	if runs[1].Conclusion != "success" {
		t.Errorf("the retry's check run: %s, want success", runs[1].Conclusion)
	}
}
