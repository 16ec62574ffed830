package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/fleetgen"
	"github.com/cluster-as-code/cluster-as-code/internal/ghapi"
	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// Applying end to end: `bot serve` with a real Ironic (fake-hardware), its
// real store, an artifact server, and the fake GitHub. The fleet is two
// small generated clusters, c000 and c001, of six nodes each (3 masters, 2
// DNS servers, 1 agent), enrolled in Ironic and never deployed: a change of
// the agent image re-provisions one agent per cluster, from Ironic's enroll
// state to active.

// saFleet is the generated fleet the apply tests use.
func saFleet() fleetgen.Config {
	return fleetgen.Config{Racks: 1, ServersPerRack: 12, Clusters: 2}
}

// The agents of the two clusters, as fleetgen names them and their Ironic
// UUIDs.
const (
	saAgentC000     = "srv00005"
	saAgentC000UUID = "00000000-0000-4000-8000-000000000005"
	saAgentC001     = "srv00011"
	saAgentC001UUID = "00000000-0000-4000-8000-00000000000b"
)

// saWriteFleet writes the generated fleet's files into dir.
func saWriteFleet(t *testing.T, dir string, cfg fleetgen.Config) {
	t.Helper()
	for path, data := range fleetgen.Generate(cfg) {
		writeFile(t, dir, path, string(data))
	}
}

// saAgentsChange changes the agent image: both clusters' agents are
// re-provisioned.
func saAgentsChange(t *testing.T) func(string) {
	return func(dir string) {
		cfg := saFleet()
		cfg.AgentPackages = "jq"
		saWriteFleet(t, dir, cfg)
	}
}

// saGatewayChange changes c000's agent's gateway: that node alone is
// re-provisioned.
func saGatewayChange(t *testing.T) func(string) {
	return func(dir string) {
		path := filepath.Join(dir, "clusters", "c000.yaml")
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		s := string(data)
		i := strings.LastIndex(s, "gateway: 10.100.0.1\n")
		if i < 0 {
			t.Fatal("c000.yaml has no gateway 10.100.0.1")
		}
		writeFile(t, dir, "clusters/c000.yaml", s[:i]+"gateway: 10.100.0.2\n"+s[i+len("gateway: 10.100.0.1\n"):])
	}
}

// saEnv is what an apply test runs against.
type saEnv struct {
	gh         *githubtest.Server
	dir        string
	ironic     *ironictest.Server
	proxy      *ironictest.Proxy // the bot's way to Ironic
	api        *ironic.Client    // the test's, straight to Ironic
	imageURL   string
	secretsDir string
	clients    *ghapi.Clients
}

// newSAEnv makes the fleet repository with its branches, starts Ironic
// with the fleet's servers enrolled, and publishes every image the
// branches deploy on an artifact server.
func newSAEnv(t *testing.T, deployDelay time.Duration, branches map[string]func(dir string)) *saEnv {
	t.Helper()
	ctx := context.Background()
	hermeticGit(t)
	env := &saEnv{gh: githubtest.New(t), dir: t.TempDir()}
	saWriteFleet(t, env.dir, saFleet())
	git(t, env.dir, "init", "-q")
	commitAll(t, env.dir, "two small clusters")
	revs := []string{"main"}
	for name, edit := range branches {
		git(t, env.dir, "checkout", "-q", "-b", name, "main")
		edit(env.dir)
		commitAll(t, env.dir, name)
		revs = append(revs, name)
	}
	git(t, env.dir, "checkout", "-q", "main")
	env.gh.AddRepo(owner, repoName, env.dir)

	env.ironic = ironictest.Start(t, ironictest.Options{DeployDelay: deployDelay})
	env.proxy = ironictest.NewProxy(t, env.ironic.URL())
	api, err := ironic.NewClient(ctx, ironic.Config{URL: env.ironic.URL(), PollInterval: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	env.api = api
	main, err := fleet.NewReader().Git(ctx, env.dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	specs, err := ironic.EnrollSpecs(main.Repo, "fake-hardware")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ironic.Enroll(ctx, api, specs, nil); err != nil {
		t.Fatal(err)
	}

	images, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(images.Handler("/images/"))
	t.Cleanup(srv.Close)
	env.imageURL = srv.URL + "/images/"
	for _, rev := range revs {
		saPublishImages(t, images, env.dir, rev)
	}
	env.secretsDir = t.TempDir()
	for _, c := range []string{"c000", "c001"} {
		writeFile(t, env.secretsDir, "secret/"+c+"/marathon/password", "s3cret-"+c+"\n")
	}
	env.clients, err = ghapi.NewClients(ghapi.Config{AppID: env.gh.AppID(), PrivateKey: env.gh.PrivateKeyPEM(), BaseURL: env.gh.URL()})
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// saPublishImages publishes a stand-in whole-disk artifact for every image
// the nodes of rev run.
func saPublishImages(t *testing.T, images *artifacts.Store, dir, rev string) {
	t.Helper()
	publishPlanImages(t, images, dir, "", rev)
}

// imageOf is the image id the plan base → head gives node.
func (env *saEnv) imageOf(t *testing.T, base, head, node string) string {
	t.Helper()
	ctx := context.Background()
	r := fleet.NewReader()
	b, err := r.GitBase(ctx, env.dir, base)
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Git(ctx, env.dir, head)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range plan.Compute(b, h).Clusters {
		for _, n := range c.Nodes {
			if n.Name == node {
				return n.ImageID
			}
		}
	}
	t.Fatalf("no node %s in the plan %s → %s", node, base, head)
	return ""
}

// args are the flags that let the bot apply.
func (env *saEnv) args(extra ...string) []string {
	return append([]string{"--ironic-url", env.proxy.URL(), "--image-url", env.imageURL, "--secrets-dir", env.secretsDir,
		"--ironic-poll-interval", "200ms"}, extra...)
}

// ironicWrites are the requests the bot sent Ironic that change something.
func (env *saEnv) ironicWrites() []string {
	var out []string
	for _, c := range env.proxy.Calls() {
		if !strings.HasPrefix(c, "GET ") && !strings.HasPrefix(c, "HEAD ") {
			out = append(out, c)
		}
	}
	return out
}

// postCheckRun completes a check run on sha as the app, as its image
// pipeline would (the tests do not build images: that takes minutes).
func (env *saEnv) postCheckRun(t *testing.T, sha, name, conclusion string) {
	t.Helper()
	gh, err := env.clients.Installation(env.gh.InstallationID())
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Checks.CreateCheckRun(context.Background(), owner, repoName, github.CreateCheckRunOptions{
		Name: name, HeadSHA: sha, Status: github.String("completed"), Conclusion: github.String(conclusion),
		Output: &github.CheckRunOutput{Title: github.String(name), Summary: github.String("built by the test")},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// node reads a node from Ironic.
func (env *saEnv) node(t *testing.T, id string) ironic.Node {
	t.Helper()
	n, err := env.api.GetNode(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// ready makes pull request number meet the apply requirements: bob
// approves it, GitHub computed that it merges, and its image check runs
// passed.
func (env *saEnv) ready(t *testing.T, number int, images ...string) {
	t.Helper()
	pr := env.gh.PullRequest(owner, repoName, number)
	for _, img := range images {
		env.postCheckRun(t, pr.HeadSHA, "image: "+img, "success")
	}
	env.gh.Review(owner, repoName, number, "bob", "APPROVED")
	yes := true
	env.gh.SetMergeable(owner, repoName, number, &yes, "clean")
}

// saStartServe runs `bot serve` in-process with its public URL set to
// where it listens, so that the rollout links (deployments' log_url) reach
// it.
func saStartServe(t *testing.T, gh *githubtest.Server, dataDir string, extra ...string) *served {
	t.Helper()
	addr := freeAddr(t)
	return startServeAt(t, gh, addr, dataDir, append([]string{"--workers", "4", "--public-url", "http://" + addr}, extra...)...)
}

// comment posts a comment as login and delivers it.
func (s *served) saComment(t *testing.T, gh *githubtest.Server, number int, login, body string) {
	t.Helper()
	payload, _ := gh.IssueCommentEvent(owner, repoName, number, login, body)
	s.accept(t, "issue_comment", payload)
}

// saBotComments are the bot's comments on a pull request, oldest first.
func saBotComments(gh *githubtest.Server, number int) []string {
	var out []string
	for _, c := range gh.Comments(owner, repoName, number) {
		if c.User == gh.BotLogin() {
			out = append(out, c.Body)
		}
	}
	return out
}

// saNextBotComment waits for the bot's comment number n+1 (after the n
// already seen) on a pull request that contains want, and returns it.
func saNextBotComment(t *testing.T, gh *githubtest.Server, log fmt.Stringer, number int, seen *int, want string) string {
	t.Helper()
	var found string
	waitFor(t, fmt.Sprintf("a comment on #%d saying %q", number, want), log, func() bool {
		comments := saBotComments(gh, number)
		for i := *seen; i < len(comments); i++ {
			if strings.Contains(comments[i], want) {
				found = comments[i]
				*seen = i + 1
				return true
			}
		}
		return false
	})
	return found
}

// checkRun returns the latest check run of that name on sha.
func saCheckRun(gh *githubtest.Server, sha, name string) (githubtest.CheckRun, int) {
	var last githubtest.CheckRun
	n := 0
	for _, run := range gh.CheckRuns(owner, repoName) {
		if run.Name == name && run.HeadSHA == sha {
			last = run
			n++
		}
	}
	return last, n
}

// saFinishedDeployment waits until the deployment of sha to cluster has a
// final status, and returns it.
func saFinishedDeployment(t *testing.T, gh *githubtest.Server, log fmt.Stringer, sha, cluster string) githubtest.Deployment {
	t.Helper()
	var found githubtest.Deployment
	waitFor(t, fmt.Sprintf("the deployment of %.7s to %s to end", sha, cluster), log, func() bool {
		for _, d := range gh.Deployments(owner, repoName) {
			if d.SHA != sha || d.OriginalEnvironment != cluster || len(d.Statuses) == 0 {
				continue
			}
			switch d.Statuses[len(d.Statuses)-1].State {
			case "success", "failure", "error":
				found = d
				return true
			}
		}
		return false
	})
	return found
}

func saDeploymentsTo(gh *githubtest.Server, sha, cluster string) []githubtest.Deployment {
	var out []githubtest.Deployment
	for _, d := range gh.Deployments(owner, repoName) {
		if d.SHA == sha && d.OriginalEnvironment == cluster {
			out = append(out, d)
		}
	}
	return out
}

// saCheckDeployment asserts what a finished, successful deployment shows.
func saCheckDeployment(t *testing.T, s *served, d githubtest.Deployment) (rolloutID string) {
	t.Helper()
	if d.AutoMerge || d.RequiredContexts == nil || len(d.RequiredContexts) != 0 || d.Ref != d.SHA {
		t.Errorf("deployment %d: auto_merge %v, required_contexts %v, ref %q; want false, [], the head's SHA", d.ID, d.AutoMerge, d.RequiredContexts, d.Ref)
	}
	var payload struct {
		Rollout string `json:"rollout"`
	}
	if err := json.Unmarshal(d.Payload, &payload); err != nil || payload.Rollout == "" {
		t.Errorf("deployment payload %s names no rollout (%v)", d.Payload, err)
	}
	var states []string
	for _, st := range d.Statuses {
		states = append(states, st.State)
		if want := s.base + "/rollouts/" + payload.Rollout; st.LogURL != want {
			t.Errorf("deployment status %s has log_url %q, want %q", st.State, st.LogURL, want)
		}
	}
	if strings.Join(states, " ") != "in_progress success" {
		t.Errorf("deployment statuses %v, want [in_progress success]; log:\n%s", states, s.log)
	}
	return payload.Rollout
}

// saCheckApplyRun asserts the apply check run on sha completed successfully
// with the rollout's progress.
func saCheckApplyRun(t *testing.T, gh *githubtest.Server, sha, cluster string) githubtest.CheckRun {
	t.Helper()
	run, n := saCheckRun(gh, sha, "apply: "+cluster)
	if n != 1 {
		t.Fatalf("%d check runs %q on %.7s, want 1", n, "apply: "+cluster, sha)
	}
	if run.Status != "completed" || run.Conclusion != "success" {
		t.Errorf("apply check run: %s %s, want completed success; %q\n%s", run.Status, run.Conclusion, run.Output.Title, run.Output.Summary)
	}
	for _, want := range []string{"**Succeeded** — wave 1 of 1, 1 of 1 nodes done", "| 1 | agents | reprovision |"} {
		if !strings.Contains(run.Output.Summary, want) {
			t.Errorf("apply check run summary lacks %q:\n%s", want, run.Output.Summary)
		}
	}
	if run.Updates < 2 {
		t.Errorf("the apply check run was updated %d times; want its progress shown before it completed", run.Updates)
	}
	return run
}

// checkNodeDeployed asserts a node is active on Ironic with imageID.
func (env *saEnv) checkNodeDeployed(t *testing.T, uuid, imageID string) {
	t.Helper()
	n := env.node(t, uuid)
	if n.ProvisionState != "active" || n.Extra[ironic.ExtraImageID] != imageID {
		t.Errorf("node %s: %s with image %v; want active with %.12s", uuid, n.ProvisionState, n.Extra[ironic.ExtraImageID], imageID)
	}
}

// saOpenStore opens the bot's SQLite store after the bot stopped.
func saOpenStore(t *testing.T, dataDir string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: dataDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func saGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// saStartProcess runs `bot serve` as a process of its own, to be
// killed.
func saStartProcess(t *testing.T, gh *githubtest.Server, addr, dataDir string, extra ...string) (*exec.Cmd, *syncBuffer) {
	t.Helper()
	return startProcess(t, gh.AppID(), gh.URL(), addr, dataDir, append([]string{"--public-url", "http://" + addr}, extra...)...)
}
