package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/fleetgen"
	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/rollout/rollouttest"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// cliRollout is what bot apply works against in these tests: a real Ironic behind the
// fault-injection proxy, an artifact store served over HTTP, a directory of secrets, and a
// git repository of a generated fleet of one cluster (c000) with two commits: v1, and v2
// changing the masters' and the agents' images.
type cliRollout struct {
	t        *testing.T
	ironic   *ironictest.Server
	proxy    *ironictest.Proxy
	repo     string
	v1, v2   string
	dataDir  string
	secrets  string
	imageURL string
	images   *artifacts.Store
}

func newCLIRollout(t *testing.T, servers int) *cliRollout {
	t.Helper()
	hermeticGit(t)
	e := &cliRollout{t: t, dataDir: t.TempDir(), secrets: t.TempDir()}
	e.ironic = ironictest.Start(t, ironictest.Options{DeployDelay: time.Second})
	e.proxy = ironictest.NewProxy(t, e.ironic.URL())
	st, err := artifacts.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e.images = st
	srv := httptest.NewServer(st.Handler("/images/"))
	t.Cleanup(srv.Close)
	e.imageURL = srv.URL + "/images"
	writeFile(t, e.secrets, "secret/c000/marathon/password", "marathon-s3cret\n")

	e.repo = t.TempDir()
	git(t, e.repo, "init", "-q")
	cfg := fleetgen.Config{Racks: 1, ServersPerRack: 40, ServerCount: servers, Clusters: 1}
	e.v1 = e.commit(cfg, "v1")
	cfg.AgentPackages = "xfsprogs=6.1.0-1 jq"
	cfg.MasterPackages = "chrony=4.3-2+deb12u1 jq"
	e.v2 = e.commit(cfg, "v2")
	e.publish("", e.v1)
	e.publish(e.v1, e.v2)
	return e
}

// commit writes the generated fleet over the repository and commits it.
func (e *cliRollout) commit(cfg fleetgen.Config, msg string) string {
	for path, data := range fleetgen.Generate(cfg) {
		writeFile(e.t, e.repo, path, string(data))
	}
	commitAll(e.t, e.repo, msg)
	return strings.TrimSpace(git(e.t, e.repo, "rev-parse", "HEAD"))
}

// publish puts stand-in images in the store for the plan from base ("" for nothing) to head.
func (e *cliRollout) publish(base, head string) {
	e.t.Helper()
	publishPlanImages(e.t, e.images, e.repo, base, head)
}

// publishPlanImages puts stand-in images in st for every image the plan of the git repository
// repo from base ("" for an empty fleet) to head gives a node.
func publishPlanImages(t *testing.T, st *artifacts.Store, repo, base, head string) {
	t.Helper()
	ctx := context.Background()
	r := fleet.NewReader()
	b, err := r.Empty(ctx)
	if base != "" {
		b, err = r.GitBase(ctx, repo, base)
	}
	if err != nil {
		t.Fatal(err)
	}
	h, err := r.Git(ctx, repo, head)
	if err != nil {
		t.Fatal(err)
	}
	if err := rollouttest.PublishImages(ctx, st, plan.Compute(b, h)); err != nil {
		t.Fatal(err)
	}
}

// flags are the settings every bot apply and bot rollout of the test shares.
func (e *cliRollout) flags(extra ...string) []string {
	return append([]string{"--repo", e.repo, "--data-dir", e.dataDir, "--ironic-url", e.proxy.URL(),
		"--image-url", e.imageURL, "--secrets-dir", e.secrets, "--poll", "200ms"}, extra...)
}

// bootstrap enrolls the fleet's servers and deploys v1.
func (e *cliRollout) bootstrap() {
	e.t.Helper()
	if r := bot(e.t, "ironic", "enroll", "--repo", e.repo, "--rev", e.v1, "--driver", "fake-hardware", "--ironic-url", e.proxy.URL()); r.code != 0 {
		e.t.Fatalf("bot ironic enroll: %s", r)
	}
	if r := bot(e.t, append([]string{"apply", "--cluster", "c000", "--bootstrap", "--head", e.v1}, e.flags()...)...); r.code != 0 {
		e.t.Fatalf("bot apply --bootstrap: %s", r)
	}
}

// reimages counts, per Ironic node, the deploys Ironic itself started, from its log: every
// move to "deploying". This counts what happened to the machines, whatever the bot's
// requests and the proxy saw of them.
func (e *cliRollout) reimages() map[string]int {
	e.t.Helper()
	transitions, err := e.ironic.Transitions()
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int{}
	for _, tr := range transitions {
		if tr.To == "deploying" {
			out[tr.Node]++
		}
	}
	return out
}

// nodes reads every node of the cluster from Ironic.
func (e *cliRollout) nodes() []ironic.Node {
	e.t.Helper()
	ctx := context.Background()
	api, err := ironic.NewClient(ctx, ironic.Config{URL: e.ironic.URL()})
	if err != nil {
		e.t.Fatal(err)
	}
	snap, err := fleet.NewReader().Git(ctx, e.repo, e.v2)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []ironic.Node
	for _, n := range snap.Repo.Clusters[0].Nodes {
		node, err := api.GetNode(ctx, n.IronicID.V)
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, node)
	}
	return out
}

// wantImages is each node's image id at v2, by Ironic id.
func (e *cliRollout) wantImages() map[string]string {
	ctx := context.Background()
	r := fleet.NewReader()
	b, _ := r.GitBase(ctx, e.repo, e.v1)
	h, err := r.Git(ctx, e.repo, e.v2)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]string{}
	for _, n := range plan.Compute(b, h).Clusters[0].Nodes {
		out[n.IronicID] = n.ImageID
	}
	return out
}

func TestApplyRollsOutAChangeFromTheCommitLastDeployed(t *testing.T) {
	e := newCLIRollout(t, 12)
	e.bootstrap()

	// A dry run against the real Ironic shows the calls and changes nothing.
	writes := e.proxy.Count("PATCH|PUT|POST|DELETE", ".*")
	r := bot(t, append([]string{"apply", "--cluster", "c000", "--head", e.v2, "--dry-run"}, e.flags()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, `"target":"rebuild"`) || !strings.Contains(r.stdout, "Dry run of c000: nothing was changed.") {
		t.Fatalf("dry run: %s", r)
	}
	if strings.Contains(r.stdout, "marathon-s3cret") {
		t.Error("the dry run shows a secret")
	}
	if w := e.proxy.Count("PATCH|PUT|POST|DELETE", ".*") - writes; w != 0 {
		t.Errorf("the dry run made %d writes to Ironic", w)
	}

	// No --base: the plan starts from v1, the commit the journal says is deployed.
	r = bot(t, append([]string{"apply", "--cluster", "c000", "--head", e.v2}, e.flags()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "succeeded") || !strings.Contains(r.stderr, e.v1[:12]) {
		t.Fatalf("bot apply: %s", r)
	}
	t.Logf("bot apply shows:\n%s%s", r.stderr, r.stdout)
	want := e.wantImages()
	for _, n := range e.nodes() {
		if n.ProvisionState != "active" || n.Extra[ironic.ExtraImageID] != want[n.UUID] {
			t.Errorf("node %s: %s with image %v; want active with %.12s", n.Name, n.ProvisionState, n.Extra[ironic.ExtraImageID], want[n.UUID])
		}
	}

	r = bot(t, "rollout", "status", "--data-dir", e.dataDir)
	if r.code != 0 || strings.Count(r.stdout, "succeeded") != 2 {
		t.Errorf("bot rollout status lists: %s", r)
	}
	id := regexp.MustCompile(`c000-\d{8}T\d{6}-[0-9a-f]{6}`).FindString(r.stdout)
	r = bot(t, "rollout", "status", id, "--data-dir", e.dataDir)
	if r.code != 0 || !strings.Contains(r.stdout, "nodes done") {
		t.Errorf("bot rollout status %s: %s", id, r)
	}

	// v2 is deployed now: applying it again has nothing to do.
	r = bot(t, append([]string{"apply", "--cluster", "c000", "--head", e.v2}, e.flags()...)...)
	if r.code != 0 || !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("applying the deployed commit again: %s", r)
	}
}

func TestApplySaysWhatIsWrongAndChangesNothing(t *testing.T) {
	e := newCLIRollout(t, 8)
	e.bootstrap()
	writes := e.proxy.Count("PATCH|PUT|POST|DELETE", ".*")

	r := bot(t, append([]string{"apply", "--cluster", "nope", "--head", e.v2}, e.flags()...)...)
	if r.code != exitUsage || !strings.Contains(r.stderr, `cluster "nope" is not in the plan`) || !strings.Contains(r.stderr, "c000") {
		t.Errorf("unknown cluster: %s", r)
	}
	e.proxy.Down()
	r = bot(t, append([]string{"apply", "--cluster", "c000", "--head", e.v2}, e.flags()...)...)
	if r.code != exitUsage || !strings.Contains(r.stderr, e.proxy.URL()) {
		t.Errorf("Ironic unreachable: %s; want an error naming %s", r, e.proxy.URL())
	}
	e.proxy.Up()
	if w := e.proxy.Count("PATCH|PUT|POST|DELETE", ".*") - writes; w != 0 {
		t.Errorf("%d writes to Ironic", w)
	}
}

// TestApplySurvivesBeingKilledAtTwentyRandomPoints runs bot apply as a process of its own,
// kills it with SIGKILL at 20 random moments of a 30-node rollout, starts it again each
// time (bot rollout resume), and checks that every node ends active with the right image and
// that no node was re-imaged twice.
func TestApplySurvivesBeingKilledAtTwentyRandomPoints(t *testing.T) {
	e := newCLIRollout(t, 32) // 3 masters, 2 DNS servers, 27 agents: 30 nodes change
	e.bootstrap()
	before := e.reimages()
	seed := time.Now().UnixNano()
	t.Logf("random seed %d", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 0))

	midRollout := 0
	for kill := range 20 {
		args := append([]string{"apply", "--cluster", "c000", "--head", e.v2}, e.flags()...)
		if id := e.runningRollout(); id != "" {
			args = append([]string{"rollout", "resume", id}, e.flags()...)
		}
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), runMainEnv+"=1")
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(300+rng.IntN(900)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if e.runningRollout() != "" {
			midRollout++
		}
		t.Logf("kill %d: %s", kill+1, lastLine(out.String()))
	}
	if midRollout < 10 {
		t.Errorf("only %d of the 20 kills cut a rollout off; the test did not test much", midRollout)
	}
	if id := e.runningRollout(); id != "" {
		if r := bot(t, append([]string{"rollout", "resume", id}, e.flags()...)...); r.code != 0 {
			t.Fatalf("the last resume: %s", r)
		}
	}

	want := e.wantImages()
	after := e.reimages()
	changed := 0
	for _, n := range e.nodes() {
		if n.ProvisionState != "active" || n.Extra[ironic.ExtraImageID] != want[n.UUID] {
			t.Errorf("node %s: %s with image %v; want active with %.12s", n.Name, n.ProvisionState, n.Extra[ironic.ExtraImageID], want[n.UUID])
		}
		switch d := after[n.UUID] - before[n.UUID]; {
		case d > 1:
			t.Errorf("node %s was re-imaged %d times", n.Name, d)
		case d == 1:
			changed++
		}
	}
	if changed != 30 {
		t.Errorf("%d nodes were re-imaged; want the 30 the plan changes", changed)
	}
}

// runningRollout is the id of the cluster's rollout left running in the journal, if any.
func (e *cliRollout) runningRollout() string {
	e.t.Helper()
	st, err := store.Open(context.Background(), store.Config{DataDir: e.dataDir})
	if err != nil {
		e.t.Fatal(err)
	}
	defer st.Close()
	list, err := st.Rollouts(context.Background(), store.RolloutFilter{Cluster: "c000", Status: store.RolloutRunning})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(list) == 0 {
		return ""
	}
	return list[0].ID
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return fmt.Sprintf("%q", lines[len(lines)-1])
}
