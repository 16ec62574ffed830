package ironictest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const nodeID = "00000000-0000-4000-8000-000000000001"

// backend is a stand-in for Ironic: GET /v1/nodes/{id} answers an active node, PUT
// .../states/provision 202, anything else 404. It counts what reaches it.
func backend(t *testing.T) (*httptest.Server, *int) {
	var mu sync.Mutex
	hits := new(int)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		*hits++
		mu.Unlock()
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/nodes/"+nodeID:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"uuid": %q, "provision_state": "active", "target_provision_state": null, "last_error": null, "extra": {"k": "v"}}`, nodeID)
		case r.Method == http.MethodPut && r.URL.Path == "/v1/nodes/"+nodeID+"/states/provision":
			w.WriteHeader(http.StatusAccepted)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv, hits
}

func do(t *testing.T, client *http.Client, method, url string) (int, string, error) {
	t.Helper()
	return doBody(t, client, method, url, `{"target": "rebuild"}`)
}

func doBody(t *testing.T, client *http.Client, method, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(answer), nil
}

func TestProxyPassesThroughAndCounts(t *testing.T) {
	srv, hits := backend(t)
	p := NewProxy(t, srv.URL)
	c := &http.Client{Timeout: 5 * time.Second}
	status, body, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
	if err != nil || status != http.StatusOK || !strings.Contains(body, `"active"`) {
		t.Fatalf("GET through the proxy: got %d %q %v, want 200 with the node", status, body, err)
	}
	for range 2 {
		if status, _, err := do(t, c, http.MethodPut, p.URL()+"/v1/nodes/"+nodeID+"/states/provision"); err != nil || status != http.StatusAccepted {
			t.Fatalf("PUT through the proxy: got %d %v, want 202", status, err)
		}
	}
	do(t, c, http.MethodGet, p.URL()+"/v1/ports/detail?node_uuid="+nodeID)

	if got := p.Count(http.MethodPut, "/v1/nodes/[^/]+/states/provision"); got != 2 {
		t.Errorf("Count of provision PUTs: got %d, want 2", got)
	}
	// The path must match whole: the node's path is not its ports' path.
	if got := p.Count(http.MethodGet, "/v1/nodes/"+nodeID); got != 1 {
		t.Errorf("Count of node GETs: got %d, want 1", got)
	}
	if got := p.Count("", ".*"); got != 4 || *hits != 4 {
		t.Errorf("Count of all: got %d (backend saw %d), want 4", got, *hits)
	}
	want := []string{
		"GET /v1/nodes/" + nodeID,
		"PUT /v1/nodes/" + nodeID + "/states/provision",
		"PUT /v1/nodes/" + nodeID + "/states/provision",
		"GET /v1/ports/detail?node_uuid=" + nodeID,
	}
	if got := p.Calls(); !slices.Equal(got, want) {
		t.Errorf("Calls:\ngot  %q\nwant %q", got, want)
	}
}

func TestProxyFailNext(t *testing.T) {
	srv, hits := backend(t)
	p := NewProxy(t, srv.URL)
	c := &http.Client{Timeout: 5 * time.Second}
	url := p.URL() + "/v1/nodes/" + nodeID + "/states/provision"
	p.FailNext(http.MethodPut, "/v1/nodes/.*/states/provision", http.StatusConflict, 2)
	p.FailNext("", ".*", http.StatusServiceUnavailable, 1)

	for i := range 2 {
		status, body, err := do(t, c, http.MethodPut, url)
		if err != nil || status != http.StatusConflict {
			t.Fatalf("PUT %d: got %d %v, want 409", i+1, status, err)
		}
		var outer struct {
			ErrorMessage string `json:"error_message"`
		}
		var inner struct {
			Faultcode, Faultstring string
		}
		if err := json.Unmarshal([]byte(body), &outer); err != nil || json.Unmarshal([]byte(outer.ErrorMessage), &inner) != nil {
			t.Fatalf("409 body %s is not Ironic's error shape", body)
		}
		want := "Node " + nodeID + " is locked by host cac-test, please retry after the current operation is completed."
		if inner.Faultstring != want || inner.Faultcode != "Client" {
			t.Errorf("409 fault: got %+v, want faultstring %q", inner, want)
		}
	}
	if status, body, _ := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID); status != http.StatusServiceUnavailable || !strings.Contains(body, "Service Unavailable") {
		t.Errorf("GET after the 409s: got %d %s, want the injected 503", status, body)
	}
	if status, _, _ := do(t, c, http.MethodPut, url); status != http.StatusAccepted {
		t.Errorf("PUT once the rules are used up: got %d, want 202 from the backend", status)
	}
	if *hits != 1 {
		t.Errorf("backend saw %d requests, want 1: failed ones must not be passed on", *hits)
	}
	if got := p.Count(http.MethodPut, ".*"); got != 3 {
		t.Errorf("Count of PUTs: got %d, want 3 (failed ones count)", got)
	}
	if got := p.Count("PATCH|PUT|POST", ".*"); got != 3 {
		t.Errorf("Count of writes, methods by regexp: got %d, want 3", got)
	}
	want := []ProvisionCall{{nodeID, "rebuild", 409}, {nodeID, "rebuild", 409}, {nodeID, "rebuild", 202}}
	if got := p.ProvisionCalls(); !slices.Equal(got, want) {
		t.Errorf("ProvisionCalls:\ngot  %v\nwant %v", got, want)
	}
}

func TestProxyReportMissing(t *testing.T) {
	srv, hits := backend(t)
	p := NewProxy(t, srv.URL)
	c := &http.Client{Timeout: 5 * time.Second}
	p.ReportMissing(nodeID)
	status, body, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
	if err != nil || status != http.StatusNotFound || !strings.Contains(body, `Node `+nodeID+` could not be found.`) {
		t.Errorf("GET of a node reported missing: got %d %s %v, want Ironic's 404", status, body, err)
	}
	if status, _, _ := do(t, c, http.MethodPut, p.URL()+"/v1/nodes/"+nodeID+"/states/provision"); status != http.StatusAccepted {
		t.Errorf("PUT of a node reported missing: got %d, want it passed on (only GET of the node is rewritten)", status)
	}
	p.ClearState(nodeID)
	if status, _, _ := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID); status != http.StatusOK {
		t.Errorf("GET after ClearState: got %d, want 200", status)
	}
	if *hits != 2 {
		t.Errorf("backend saw %d requests, want 2", *hits)
	}
}

func TestProxyReportState(t *testing.T) {
	srv, _ := backend(t)
	p := NewProxy(t, srv.URL)
	c := &http.Client{Timeout: 5 * time.Second}
	p.ReportState(nodeID, "deploy failed", "Deploy step deploy.deploy failed: boom")
	_, body, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
	if err != nil {
		t.Fatal(err)
	}
	var n map[string]any
	if err := json.Unmarshal([]byte(body), &n); err != nil {
		t.Fatalf("rewritten node is not JSON: %v: %s", err, body)
	}
	if n["provision_state"] != "deploy failed" || n["last_error"] != "Deploy step deploy.deploy failed: boom" {
		t.Errorf("rewritten node: got provision_state %v last_error %v", n["provision_state"], n["last_error"])
	}
	if extra, _ := n["extra"].(map[string]any); extra["k"] != "v" {
		t.Errorf("rewritten node lost its other fields: extra %v", n["extra"])
	}
	p.ClearState(nodeID)
	_, body, _ = do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
	if !strings.Contains(body, `"provision_state": "active"`) {
		t.Errorf("after ClearState: got %s, want the backend's active node", body)
	}
}

func TestProxyHang(t *testing.T) {
	srv, hits := backend(t)
	p := NewProxy(t, srv.URL)
	p.Hang(http.MethodGet, "/v1/nodes/.*")
	c := &http.Client{Timeout: 300 * time.Millisecond}
	start := time.Now()
	_, _, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), "Timeout") {
		t.Fatalf("GET of a hung path: got %v, want the client's timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("GET of a hung path gave up after %v, before the client's timeout", d)
	}
	if status, _, err := do(t, c, http.MethodPut, p.URL()+"/v1/nodes/"+nodeID+"/states/provision"); err != nil || status != http.StatusAccepted {
		t.Errorf("PUT, not hung: got %d %v, want 202", status, err)
	}

	// Reset lets a held request through.
	done := make(chan int)
	go func() {
		status, _, _ := do(t, &http.Client{Timeout: 5 * time.Second}, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
		done <- status
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case s := <-done:
		t.Fatalf("a hung request was answered %d before Reset", s)
	default:
	}
	p.Reset()
	select {
	case s := <-done:
		if s != http.StatusOK {
			t.Errorf("hung request after Reset: got %d, want 200", s)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("a hung request still held 3 s after Reset")
	}
	if *hits != 2 {
		t.Errorf("backend saw %d requests, want 2 (the PUT and the released GET)", *hits)
	}
}

func TestProxyDownUp(t *testing.T) {
	srv, _ := backend(t)
	p := NewProxy(t, srv.URL)
	c := &http.Client{Timeout: 2 * time.Second}
	if status, _, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID); err != nil || status != 200 {
		t.Fatalf("before Down: got %d %v", status, err)
	}
	p.Down()
	_, _, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("while down: got %v, want connection refused", err)
	}
	p.Up()
	if status, _, err := do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID); err != nil || status != 200 {
		t.Errorf("after Up: got %d %v, want 200", status, err)
	}
}

// TestProxyBackendDown: a proxy whose Ironic is gone answers 502 in Ironic's error shape.
func TestProxyBackendDown(t *testing.T) {
	srv, _ := backend(t)
	url := srv.URL
	srv.Close()
	p := NewProxy(t, url)
	status, body, err := do(t, &http.Client{Timeout: 2 * time.Second}, http.MethodGet, p.URL()+"/v1")
	if err != nil || status != http.StatusBadGateway || !strings.Contains(body, "error_message") {
		t.Errorf("proxy to a closed server: got %d %s %v, want 502 with an Ironic-shaped body", status, body, err)
	}
}

// TestProxyConcurrent adds rules while requests flow; run with -race.
func TestProxyConcurrent(t *testing.T) {
	srv, _ := backend(t)
	p := NewProxy(t, srv.URL)
	c := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				do(t, c, http.MethodGet, p.URL()+"/v1/nodes/"+nodeID)
				if i%2 == 0 {
					p.FailNext(http.MethodGet, ".*", http.StatusServiceUnavailable, 1)
					p.ReportState(nodeID, "deploying", "")
				} else {
					p.ClearState(nodeID)
					_ = p.Count("", ".*")
					_ = p.Calls()
				}
			}
		}()
	}
	wg.Wait()
	if got := p.Count(http.MethodGet, ".*"); got != 80 {
		t.Errorf("Count: got %d, want 80", got)
	}
}
