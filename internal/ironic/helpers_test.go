package ironic_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/ironic"
	"github.com/cluster-as-code/cluster-as-code/internal/ironictest"
)

// deployDelay keeps the fake deploys short: a deploy or rebuild takes about twice as long.
const deployDelay = time.Second

// startIronic starts a real Ironic for the test and its subtests.
func startIronic(t *testing.T) *ironictest.Server {
	t.Helper()
	return ironictest.Start(t, ironictest.Options{DeployDelay: deployDelay})
}

// config is a provisioner configuration for tests: fast polling and retries.
func config(url string) ironic.Config {
	return ironic.Config{
		URL:          url,
		PollInterval: 100 * time.Millisecond,
		Timeout:      60 * time.Second,
		RetryBase:    10 * time.Millisecond,
		HTTPClient:   &http.Client{Timeout: 10 * time.Second},
	}
}

// provisioner returns a provisioner of the Ironic at url.
func provisioner(t *testing.T, cfg ironic.Config) *ironic.Provisioner {
	t.Helper()
	c, err := ironic.NewClient(context.Background(), cfg)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return ironic.NewProvisioner(c, cfg)
}

// raw reaches Ironic's REST API directly (ironictest's Server.Call), independent of the code
// under test, to set nodes up and look at them.
type raw struct {
	t testing.TB
	s *ironictest.Server
}

func newRaw(t testing.TB, s *ironictest.Server) *raw { return &raw{t: t, s: s} }

func (a *raw) do(method, path string, body any, want int, out any) {
	a.t.Helper()
	a.s.Call(a.t, "1.59", method, path, body, want, out)
}

// rawNode is what the tests look at of a node.
type rawNode struct {
	UUID           string         `json:"uuid"`
	Name           string         `json:"name"`
	Driver         string         `json:"driver"`
	ProvisionState string         `json:"provision_state"`
	Target         *string        `json:"target_provision_state"`
	UpdatedAt      *string        `json:"provision_updated_at"`
	InstanceInfo   map[string]any `json:"instance_info"`
	Extra          map[string]any `json:"extra"`
	DriverInfo     map[string]any `json:"driver_info"`
}

func (a *raw) node(id string) rawNode {
	a.t.Helper()
	var n rawNode
	a.do(http.MethodGet, "/v1/nodes/"+id, nil, http.StatusOK, &n)
	return n
}

func (a *raw) ports(id string) []string {
	a.t.Helper()
	var out struct {
		Ports []struct {
			Address string `json:"address"`
		} `json:"ports"`
	}
	a.do(http.MethodGet, "/v1/ports?node_uuid="+id, nil, http.StatusOK, &out)
	var macs []string
	for _, p := range out.Ports {
		macs = append(macs, p.Address)
	}
	return macs
}

// enroll creates a fake-hardware node in state enroll with a port per MAC; it returns its UUID.
func (a *raw) enroll(name string, macs ...string) string {
	a.t.Helper()
	var n rawNode
	a.do(http.MethodPost, "/v1/nodes", map[string]any{"name": name, "driver": "fake-hardware", "uuid": newUUID()},
		http.StatusCreated, &n)
	for _, m := range macs {
		a.do(http.MethodPost, "/v1/ports", map[string]any{"node_uuid": n.UUID, "address": m}, http.StatusCreated, nil)
	}
	return n.UUID
}

// available creates a node and makes it available.
func (a *raw) available(name string, macs ...string) string {
	a.t.Helper()
	id := a.enroll(name, macs...)
	a.provision(id, "manage", "manageable")
	a.provision(id, "provide", "available")
	return id
}

// provision asks for a provision state change and waits until the node is stable in want.
func (a *raw) provision(id, target, want string) {
	a.t.Helper()
	a.do(http.MethodPut, "/v1/nodes/"+id+"/states/provision", map[string]any{"target": target}, http.StatusAccepted, nil)
	a.waitStable(id, want)
}

func (a *raw) waitStable(id, want string) rawNode {
	a.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		n := a.node(id)
		if n.ProvisionState == want && n.Target == nil {
			return n
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("node %s: still %q, want %q", id, n.ProvisionState, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (a *raw) maintenance(id, reason string) {
	a.t.Helper()
	a.do(http.MethodPut, "/v1/nodes/"+id+"/maintenance", map[string]any{"reason": reason}, http.StatusAccepted, nil)
}

func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// imageServer serves the files of an image store: HEAD or GET of a path in files answers 200,
// anything else 404.
func imageServer(t *testing.T, files ...string) *httptest.Server {
	t.Helper()
	known := map[string]bool{}
	for _, f := range files {
		known[f] = true
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !known[r.URL.Path] {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Length", "4")
		if r.Method == http.MethodGet {
			io.WriteString(w, "QFI\xfb")
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// secret is in every test config drive; it must never show in a message or a dry run.
const secret = "hunter2-do-not-print"

// target is a target for node id: a whole-disk image imageID at a made-up URL.
func target(name, id, imageID, configHash string) ironic.Target {
	return ironic.Target{
		Node: name, IronicID: id,
		Image: ironic.Image{
			URL: "http://images.invalid/" + imageID + ".qcow2", SHA256: strings.Repeat("ab", 32),
			Kind: "whole-disk", Format: "qcow2",
		},
		ImageID: imageID, ConfigHash: configHash, Rollout: "r-1",
		ConfigDrive: configDrive(name),
	}
}

func configDrive(name string) func(context.Context) (json.RawMessage, error) {
	return func(context.Context) (json.RawMessage, error) {
		return json.RawMessage(fmt.Sprintf(`{"meta_data": {"hostname": %q}, "user_data": "#cloud-config\npassword: %s\n"}`, name, secret)), nil
	}
}

// events records what an Observer is told; hooks run on chosen events.
type events struct {
	mu    sync.Mutex
	list  []ironic.Event
	hooks map[string]func(ironic.Event) error // "step/phase" → hook
}

func (e *events) observe(_ context.Context, ev ironic.Event) error {
	e.mu.Lock()
	e.list = append(e.list, ev)
	hook := e.hooks[string(ev.Step)+"/"+string(ev.Phase)]
	e.mu.Unlock()
	if hook != nil {
		return hook(ev)
	}
	return nil
}

// on sets the hook for step/phase.
func (e *events) on(step ironic.Step, phase ironic.Phase, hook func(ironic.Event) error) *events {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.hooks == nil {
		e.hooks = map[string]func(ironic.Event) error{}
	}
	e.hooks[string(step)+"/"+string(phase)] = hook
	return e
}

// steps lists the events as step/phase.
func (e *events) steps() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.list {
		out = append(out, string(ev.Step)+"/"+string(ev.Phase))
	}
	return out
}

// writes counts the requests of a proxy that change something.
func writes(p *ironictest.Proxy) int {
	return p.Count(http.MethodPatch, ".*") + p.Count(http.MethodPut, ".*") +
		p.Count(http.MethodPost, ".*") + p.Count(http.MethodDelete, ".*")
}

// TestMain lets more tests run at once than there are CPUs (go test's default), unless
// -parallel says otherwise: they mostly wait for Ironic's fake deploys.
func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "16")
	}
	os.Exit(m.Run())
}

// versionCheck is an HTTP transport that notes every request sent without the Ironic
// microversion header, or with another version.
type versionCheck struct {
	want string
	mu   sync.Mutex
	bad  []string
}

func (v *versionCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if got := r.Header.Get("X-OpenStack-Ironic-API-Version"); got != v.want {
		v.mu.Lock()
		v.bad = append(v.bad, fmt.Sprintf("%s %s: microversion %q", r.Method, r.URL.Path, got))
		v.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}
