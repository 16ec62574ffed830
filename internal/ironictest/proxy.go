package ironictest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Proxy stands between a client and an Ironic and injects faults: error answers, a node
// reported in another state, requests that never get an answer, an Ironic that cannot be
// reached. It counts the requests it sees. Rules can be added and removed while requests flow;
// all its methods are safe for concurrent use.
//
// Rules name requests by two regular expressions that must match whole: one of the method
// ("PUT", "PATCH|PUT|POST|DELETE"; "" for any) and one of the path, without the query
// ("/v1/nodes/[^/]+/states/provision").
type Proxy struct {
	t      testing.TB
	target *url.URL
	rp     *httputil.ReverseProxy
	srv    *http.Server
	addr   string
	closed chan struct{} // closed when the test ends: hung requests are let go

	mu    sync.Mutex
	ln    net.Listener // nil while down
	conns map[net.Conn]bool
	fails []*failRule
	hangs []matcher
	// release is closed, and replaced, when Reset drops the hang rules.
	release chan struct{}
	states  map[string]reported // node UUID → what GET /v1/nodes/{uuid} says
	calls   []call
}

type matcher struct {
	method *regexp.Regexp // nil: any
	path   *regexp.Regexp
}

func (m matcher) match(method, path string) bool {
	return (m.method == nil || m.method.MatchString(method)) && m.path.MatchString(path)
}

type failRule struct {
	matcher
	status int
	left   int
}

type reported struct {
	missing          bool // answer 404
	state, lastError string
}

type call struct {
	method, path, query string
	target              string // of a provision state change
	status              int    // what the client was answered; 0 while pending or when none
}

// ProvisionCall is one provision state change the proxy saw: PUT
// /v1/nodes/{Node}/states/provision with {"target": Target}, answered Status (409 or 503 when
// injected, 0 when the client got no answer).
type ProvisionCall struct {
	Node, Target string
	Status       int
}

// NewProxy starts a proxy to the Ironic at target (http://127.0.0.1:PORT) for t; it stops
// when t ends.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil || u.Host == "" {
		t.Fatalf("ironictest: proxy target %q: want http://host:port", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("ironictest: proxy: %v", err)
	}
	p := &Proxy{
		t: t, target: u, addr: ln.Addr().String(), closed: make(chan struct{}),
		ln: ln, conns: map[net.Conn]bool{}, states: map[string]reported{}, release: make(chan struct{}),
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out.Host = u.Host
			// A plain body is one ModifyResponse can rewrite.
			r.Out.Header.Del("Accept-Encoding")
		},
		ModifyResponse: p.rewrite,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			writeError(w, http.StatusBadGateway, fmt.Sprintf("ironictest proxy: %s unreachable: %v", target, err))
		},
	}
	p.srv = &http.Server{
		Handler:           p,
		ReadHeaderTimeout: 10 * time.Second,
		ConnState:         p.track,
	}
	go p.srv.Serve(ln)
	t.Cleanup(p.close)
	return p
}

// URL is the proxy's base URL, to give the client instead of Ironic's.
func (p *Proxy) URL() string { return "http://" + p.addr }

func (p *Proxy) close() {
	close(p.closed)
	p.mu.Lock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.mu.Unlock()
	p.srv.Close()
}

func (p *Proxy) track(c net.Conn, s http.ConnState) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch s {
	case http.StateNew:
		p.conns[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(p.conns, c)
	}
}

func (p *Proxy) matcher(method, pathRegexp string) matcher {
	p.t.Helper()
	var m matcher
	var err error
	if m.path, err = regexp.Compile("^(?:" + pathRegexp + ")$"); err != nil {
		p.t.Fatalf("ironictest: proxy: path %q: %v", pathRegexp, err)
	}
	if method != "" {
		if m.method, err = regexp.Compile("^(?:" + strings.ToUpper(method) + ")$"); err != nil {
			p.t.Fatalf("ironictest: proxy: method %q: %v", method, err)
		}
	}
	return m
}

// FailNext answers the next times requests that match with status and an Ironic-shaped error
// body, without passing them on: 409 says the node is locked (Ironic's NodeLocked), 503 that
// the service is unavailable, anything else names the status. The rule is gone once used up.
func (p *Proxy) FailNext(method, pathRegexp string, status, times int) {
	m := p.matcher(method, pathRegexp)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails = append(p.fails, &failRule{matcher: m, status: status, left: times})
}

// ReportState makes GET /v1/nodes/{nodeID} (by UUID) say the node is in provision state
// state, with lastError as last_error ("" for null) and the target_provision_state Ironic
// would show with it, until ClearState or Reset. The node itself is not touched.
func (p *Proxy) ReportState(nodeID, state, lastError string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states[nodeID] = reported{state: state, lastError: lastError}
}

// ReportMissing makes GET /v1/nodes/{nodeID} answer 404 as Ironic does for a node it does
// not know, until ClearState or Reset.
func (p *Proxy) ReportMissing(nodeID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.states[nodeID] = reported{missing: true}
}

// ClearState ends ReportState or ReportMissing for the node.
func (p *Proxy) ClearState(nodeID string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.states, nodeID)
}

// Hang holds every request that matches, without an answer, until the client gives up (its
// timeout or context), Down or the end of the test; Reset lets the held requests through.
func (p *Proxy) Hang(method, pathRegexp string) {
	m := p.matcher(method, pathRegexp)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hangs = append(p.hangs, m)
}

// Reset drops every rule (FailNext, ReportState, Hang); the counts stay.
func (p *Proxy) Reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fails, p.hangs, p.states = nil, nil, map[string]reported{}
	close(p.release)
	p.release = make(chan struct{})
}

// Down makes Ironic unreachable: the proxy stops listening (connections are refused) and
// closes the connections it has, hung requests included. Up undoes it, on the same address.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return
	}
	p.ln.Close()
	p.ln = nil
	for c := range p.conns {
		c.Close()
	}
}

// Up listens again after Down.
func (p *Proxy) Up() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		return
	}
	var ln net.Listener
	var err error
	// The port was ours a moment ago; a closing socket may hold it for a few milliseconds.
	for attempt := 0; attempt < 50; attempt++ {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatalf("ironictest: proxy up again on %s: %v", p.addr, err)
	}
	p.ln = ln
	go p.srv.Serve(ln)
}

// Count returns how many requests that match the proxy has seen (failed and hung ones too).
func (p *Proxy) Count(method, pathRegexp string) int {
	m := p.matcher(method, pathRegexp)
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.calls {
		if m.match(c.method, c.path) {
			n++
		}
	}
	return n
}

// Calls returns every request the proxy has seen, in order: "PUT /v1/nodes/<id>/states/provision",
// "GET /v1/ports/detail?node_uuid=<id>".
func (p *Proxy) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, len(p.calls))
	for i, c := range p.calls {
		out[i] = c.method + " " + c.path
		if c.query != "" {
			out[i] += "?" + c.query
		}
	}
	return out
}

// ProvisionCalls returns the provision state changes the proxy saw, in order, refused ones too.
func (p *Proxy) ProvisionCalls() []ProvisionCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []ProvisionCall
	for _, c := range p.calls {
		if m := provisionPath.FindStringSubmatch(c.path); m != nil && c.method == http.MethodPut {
			out = append(out, ProvisionCall{Node: m[1], Target: c.target, Status: c.status})
		}
	}
	return out
}

var provisionPath = regexp.MustCompile(`^/v1/nodes/([^/]+)/states/provision$`)

// statusWriter remembers the status written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// ServeHTTP records the request, then fails, holds or passes it on as the rules say.
func (p *Proxy) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	// The body is read now: for a provision change's target, and because the server notices
	// a client that gave up only once the body is read.
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	c := call{method: r.Method, path: path, query: r.URL.RawQuery}
	if r.Method == http.MethodPut && provisionPath.MatchString(path) {
		var b struct {
			Target string `json:"target"`
		}
		_ = json.Unmarshal(body, &b)
		c.target = b.Target
	}

	w := &statusWriter{ResponseWriter: rw}
	p.mu.Lock()
	i := len(p.calls)
	p.calls = append(p.calls, c)
	var fail *failRule
	for _, f := range p.fails {
		if f.left > 0 && f.match(r.Method, path) {
			f.left--
			fail = f
			break
		}
	}
	hang := false
	for _, h := range p.hangs {
		hang = hang || h.match(r.Method, path)
	}
	missing := ""
	if m := nodePath.FindStringSubmatch(path); m != nil && r.Method == http.MethodGet && p.states[m[1]].missing {
		missing = m[1]
	}
	release := p.release
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.calls[i].status = w.status
		p.mu.Unlock()
	}()

	switch {
	case fail != nil:
		writeError(w, fail.status, injectedMessage(fail.status, path))
	case hang:
		select {
		case <-r.Context().Done():
		case <-p.closed:
		case <-release:
			p.rp.ServeHTTP(w, r)
		}
	case missing != "":
		writeError(w, http.StatusNotFound, fmt.Sprintf("Node %s could not be found.", missing))
	default:
		p.rp.ServeHTTP(w, r)
	}
}

var nodePath = regexp.MustCompile(`^/v1/nodes/([^/]+)$`)

// rewrite applies ReportState to GET /v1/nodes/{id}.
func (p *Proxy) rewrite(resp *http.Response) error {
	req := resp.Request
	m := nodePath.FindStringSubmatch(req.URL.Path)
	if req.Method != http.MethodGet || m == nil || resp.StatusCode != http.StatusOK {
		return nil
	}
	p.mu.Lock()
	rep, ok := p.states[m[1]]
	p.mu.Unlock()
	if !ok || rep.missing {
		return nil
	}
	data, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	var node map[string]any
	if err := json.Unmarshal(data, &node); err != nil {
		return fmt.Errorf("ironictest proxy: node answer is not JSON: %w", err)
	}
	node["provision_state"] = rep.state
	node["target_provision_state"] = nil
	if t, ok := targetOf[rep.state]; ok {
		node["target_provision_state"] = t
	}
	node["last_error"] = nil
	if rep.lastError != "" {
		node["last_error"] = rep.lastError
	}
	if data, err = json.Marshal(node); err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(data))
	resp.ContentLength = int64(len(data))
	resp.Header.Set("Content-Length", strconv.Itoa(len(data)))
	return nil
}

// targetOf is the target_provision_state Ironic shows with a state on the way somewhere.
var targetOf = map[string]string{
	"deploying": "active", "wait call-back": "active", "deploy complete": "active",
	"deploy failed": "active", "cleaning": "available", "clean wait": "available",
	"verifying": "manageable", "deleting": "available",
}

// injectedMessage is the faultstring of an injected error.
func injectedMessage(status int, path string) string {
	switch status {
	case http.StatusConflict:
		node := "?"
		if m := regexp.MustCompile(`^/v1/nodes/([^/]+)`).FindStringSubmatch(path); m != nil {
			node = m[1]
		}
		// Ironic's NodeLocked, word for word.
		return fmt.Sprintf("Node %s is locked by host cac-test, please retry after the current operation is completed.", node)
	case http.StatusServiceUnavailable:
		return "Service Unavailable (injected by ironictest.Proxy)"
	}
	return http.StatusText(status) + " (injected by ironictest.Proxy)"
}

// writeError answers as Ironic does: a JSON object whose error_message is a JSON string of
// faultcode, faultstring and debuginfo.
func writeError(w http.ResponseWriter, status int, msg string) {
	code := "Client"
	if status >= 500 {
		code = "Server"
	}
	inner, _ := json.Marshal(map[string]any{"faultcode": code, "faultstring": msg, "debuginfo": nil})
	body, _ := json.Marshal(map[string]string{"error_message": string(inner)})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
