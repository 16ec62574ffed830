package ironictest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// api drives a server through its REST API at the newest microversion it offers, enough to
// take a node through its states.
type api struct {
	t       testing.TB
	s       *Server
	version string // X-OpenStack-Ironic-API-Version
}

func newAPI(t testing.TB, s *Server) *api {
	a := &api{t: t, s: s}
	var root struct {
		DefaultVersion struct {
			Version    string `json:"version"`
			MinVersion string `json:"min_version"`
		} `json:"default_version"`
	}
	a.do(http.MethodGet, "/", nil, http.StatusOK, &root)
	if root.DefaultVersion.Version == "" {
		t.Fatalf("GET /: no default_version.version")
	}
	a.version = root.DefaultVersion.Version
	return a
}

// do sends body as JSON, checks the status and decodes the answer into out (when not nil).
func (a *api) do(method, path string, body any, wantStatus int, out any) {
	a.t.Helper()
	a.s.Call(a.t, a.version, method, path, body, wantStatus, out)
}

type node struct {
	UUID                 string         `json:"uuid"`
	Name                 string         `json:"name"`
	ProvisionState       string         `json:"provision_state"`
	TargetProvisionState *string        `json:"target_provision_state"`
	PowerState           *string        `json:"power_state"`
	LastError            *string        `json:"last_error"`
	InstanceInfo         map[string]any `json:"instance_info"`
	Extra                map[string]any `json:"extra"`
}

func (a *api) node(id string) node {
	a.t.Helper()
	var n node
	a.do(http.MethodGet, "/v1/nodes/"+id, nil, http.StatusOK, &n)
	return n
}

// provision asks for a provision state change and waits until the node is stable in want.
// It returns how long that took.
func (a *api) provision(id string, body map[string]any, want string) time.Duration {
	a.t.Helper()
	start := time.Now()
	a.do(http.MethodPut, "/v1/nodes/"+id+"/states/provision", body, http.StatusAccepted, nil)
	deadline := start.Add(60 * time.Second)
	for {
		n := a.node(id)
		if n.ProvisionState == want && n.TargetProvisionState == nil {
			return time.Since(start)
		}
		if strings.HasSuffix(n.ProvisionState, "failed") || n.ProvisionState == "error" {
			a.t.Fatalf("%v: node in %q, want %q; last_error %s", body["target"], n.ProvisionState, want, str(n.LastError))
		}
		if time.Now().After(deadline) {
			a.t.Fatalf("%v: node still in %q after 60 s, want %q", body["target"], n.ProvisionState, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// createNode enrolls a fake-hardware node with one port.
func (a *api) createNode(name, mac string) node {
	a.t.Helper()
	var n node
	a.do(http.MethodPost, "/v1/nodes", map[string]any{
		"name":                 name,
		"driver":               "fake-hardware",
		"boot_interface":       "fake",
		"deploy_interface":     "fake",
		"management_interface": "fake",
		"power_interface":      "fake",
		"network_interface":    "noop",
	}, http.StatusCreated, &n)
	if n.ProvisionState != "enroll" {
		a.t.Fatalf("new node: got provision_state %q, want enroll", n.ProvisionState)
	}
	var port struct {
		Address  string `json:"address"`
		NodeUUID string `json:"node_uuid"`
	}
	a.do(http.MethodPost, "/v1/ports", map[string]any{"node_uuid": n.UUID, "address": mac},
		http.StatusCreated, &port)
	if port.Address != mac || port.NodeUUID != n.UUID {
		a.t.Fatalf("new port: got %+v, want address %s on node %s", port, mac, n.UUID)
	}
	return n
}

func TestLifecycle(t *testing.T) {
	const deployDelay = 2 * time.Second
	begin := time.Now()
	s := Start(t, Options{DeployDelay: deployDelay})
	t.Logf("start-up (create_schema + ready): %v", time.Since(begin).Round(time.Millisecond))
	a := newAPI(t, s)
	t.Logf("API version %s", a.version)

	n := a.createNode("able", "52:54:00:12:34:56")
	var ports struct {
		Ports []struct {
			Address string `json:"address"`
		} `json:"ports"`
	}
	a.do(http.MethodGet, "/v1/nodes/"+n.UUID+"/ports", nil, http.StatusOK, &ports)
	if len(ports.Ports) != 1 || ports.Ports[0].Address != "52:54:00:12:34:56" {
		t.Fatalf("ports of the node: got %+v, want one with 52:54:00:12:34:56", ports.Ports)
	}

	t.Logf("manage: %v", a.provision(n.UUID, map[string]any{"target": "manage"}, "manageable").Round(time.Millisecond))
	t.Logf("provide: %v", a.provision(n.UUID, map[string]any{"target": "provide"}, "available").Round(time.Millisecond))

	a.do(http.MethodPatch, "/v1/nodes/"+n.UUID, []map[string]any{
		{"op": "add", "path": "/instance_info/image_source", "value": "http://127.0.0.1:1/images/able.qcow2"},
		{"op": "add", "path": "/instance_info/image_os_hash_algo", "value": "sha256"},
		{"op": "add", "path": "/instance_info/image_os_hash_value", "value": strings.Repeat("ab", 32)},
	}, http.StatusOK, nil)

	d := a.provision(n.UUID, map[string]any{"target": "active"}, "active")
	t.Logf("deploy: %v (deploy_delay %v)", d.Round(time.Millisecond), deployDelay)
	if d < deployDelay {
		t.Errorf("deploy took %v, want at least the deploy delay %v", d, deployDelay)
	}
	got := a.node(n.UUID)
	if src := got.InstanceInfo["image_source"]; src != "http://127.0.0.1:1/images/able.qcow2" {
		t.Errorf("instance_info.image_source after deploy: got %v", src)
	}
	// The fake deploy never touches power: the fake power interface only stores what it is told.
	a.do(http.MethodPut, "/v1/nodes/"+n.UUID+"/states/power", map[string]any{"target": "power on"},
		http.StatusAccepted, nil)
	for deadline := time.Now().Add(10 * time.Second); str(a.node(n.UUID).PowerState) != "power on"; {
		if time.Now().After(deadline) {
			t.Fatalf("power_state 10 s after power on: got %s", str(a.node(n.UUID).PowerState))
		}
		time.Sleep(50 * time.Millisecond)
	}

	d = a.provision(n.UUID, map[string]any{
		"target": "rebuild",
		"configdrive": map[string]any{
			"meta_data": map[string]any{"uuid": n.UUID, "hostname": "able", "name": "able"},
			"user_data": "#cloud-config\nhostname: able\n",
		},
	}, "active")
	t.Logf("rebuild: %v (deploy_delay %v)", d.Round(time.Millisecond), deployDelay)
	if d < deployDelay {
		t.Errorf("rebuild took %v, want at least the deploy delay %v", d, deployDelay)
	}

	a.do(http.MethodPatch, "/v1/nodes/"+n.UUID, []map[string]any{
		{"op": "add", "path": "/extra/cac_image", "value": "able-1234"},
		{"op": "add", "path": "/extra/cac_rollout", "value": map[string]any{"id": 7, "step": "done"}},
	}, http.StatusOK, nil)
	got = a.node(n.UUID)
	wantExtra := `{"cac_image":"able-1234","cac_rollout":{"id":7,"step":"done"}}`
	if data, _ := json.Marshal(got.Extra); string(data) != wantExtra {
		t.Errorf("extra: got %s, want %s", data, wantExtra)
	}
}

// TestRestart: nodes survive a restart, which keeps the URL.
func TestRestart(t *testing.T) {
	s := Start(t, Options{})
	a := newAPI(t, s)
	n := a.createNode("baker", "52:54:00:00:00:02")
	url := s.URL()

	begin := time.Now()
	s.Restart(t)
	t.Logf("restart: %v", time.Since(begin).Round(time.Millisecond))
	if s.URL() != url {
		t.Errorf("URL after restart: got %s, want %s", s.URL(), url)
	}
	if got := a.node(n.UUID); got.Name != "baker" {
		t.Errorf("node after restart: got name %q, want baker", got.Name)
	}

	s.Kill()
	s.Restart(t)
	if got := a.node(n.UUID); got.Name != "baker" {
		t.Errorf("node after kill and restart: got name %q, want baker", got.Name)
	}
}

// TestCleanup: when the test ends, no process of the server is left and its port is closed.
func TestCleanup(t *testing.T) {
	var pid int
	var url string
	t.Run("server", func(t *testing.T) {
		s := Start(t, Options{})
		pid, url = s.cmd.Process.Pid, s.URL()
	})
	if pid == 0 {
		t.Skip("the server did not start")
	}
	if err := syscall.Kill(-pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("process group %d after the test: got %v, want ESRCH (no such process)", pid, err)
	}
	if _, err := http.Get(url + "/v1"); err == nil {
		t.Errorf("GET %s/v1 after the test answered, want connection refused", url)
	}
}

func TestStartRejectsFractionalDelay(t *testing.T) {
	if err := Installed(); err != nil {
		t.Skip(err)
	}
	ft := &fatalRecorder{TB: t}
	func() {
		defer func() { _ = recover() }()
		Start(ft, Options{DeployDelay: 1500 * time.Millisecond})
	}()
	if !strings.Contains(ft.msg, "whole seconds") {
		t.Errorf("Start with DeployDelay 1.5s: got failure %q, want one about whole seconds", ft.msg)
	}
}

// fatalRecorder records the message of Fatalf and stops the caller by panicking.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(f.msg)
}

func (f *fatalRecorder) Helper() {}
