// Package vaulttest is a fake HashiCorp Vault for tests: an httptest server that serves reads of
// the KV secrets engine, versions 1 and 2, in the JSON shapes Vault's API documentation gives,
// checks the token and namespace headers, and records every request.
package vaulttest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Request is one request the fake received.
type Request struct {
	Method string
	// Path is the URL path, e.g. "/v1/secret/data/green/marathon".
	Path string
	// Token, Namespace and VaultRequest are the X-Vault-Token, X-Vault-Namespace and
	// X-Vault-Request headers ("" when absent).
	Token, Namespace, VaultRequest string
}

// Server is a fake Vault. Its zero value is not usable; call New.
type Server struct {
	// URL is the server's address, what VAULT_ADDR would be.
	URL string

	srv       *httptest.Server
	token     string
	mu        sync.Mutex
	namespace string
	mounts    map[string]*mount
	denied    map[string]bool
	failCode  int
	failMsgs  []string
	hold      chan struct{}
	requests  []Request
}

type mount struct {
	version int
	secrets map[string]*secret
}

// secret is a KV secret; v1 mounts use only the last version.
type secret struct {
	versions []version
}

type version struct {
	data    map[string]any
	created time.Time
	deleted time.Time
	gone    bool // destroyed
}

// New starts a fake Vault that accepts only token (any token when token is ""); the test's
// cleanup stops it. It has no mounts.
func New(t testing.TB, token string) *Server {
	s := &Server{token: token, mounts: map[string]*mount{}, denied: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// Close stops the server: later requests find nothing listening.
func (s *Server) Close() { s.srv.Close() }

// RequireNamespace makes every request without X-Vault-Namespace: ns fail with 403, as a token
// from another namespace would.
func (s *Server) RequireNamespace(ns string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.namespace = ns
}

// Mount enables a KV engine of version 1 or 2 at name (one path segment, e.g. "secret").
func (s *Server) Mount(name string, kvVersion int) {
	if kvVersion != 1 && kvVersion != 2 {
		panic(fmt.Sprintf("vaulttest: KV version %d", kvVersion))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mounts[name] = &mount{version: kvVersion, secrets: map[string]*secret{}}
}

// Put writes data at path ("MOUNT/NAME…"): a new version on a v2 mount, a replacement on v1.
func (s *Server) Put(path string, data map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, name := s.mountOf(path)
	sec := m.secrets[name]
	if sec == nil {
		sec = &secret{}
		m.secrets[name] = sec
	}
	sec.versions = append(sec.versions, version{data: data, created: time.Date(2024, 11, 13, 21, 58, 32, 0, time.UTC)})
}

// DeleteLatest soft-deletes (or, when destroy, destroys) the latest version of the v2 secret
// at path.
func (s *Server) DeleteLatest(path string, destroy bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, name := s.mountOf(path)
	sec := m.secrets[name]
	if m.version != 2 || sec == nil {
		panic("vaulttest: DeleteLatest of no KV v2 secret " + path)
	}
	v := &sec.versions[len(sec.versions)-1]
	if destroy {
		v.gone = true
	} else {
		v.deleted = time.Date(2024, 11, 14, 9, 0, 0, 0, time.UTC)
	}
}

// Deny makes the token's policy refuse apiPath (the path after /v1/, e.g.
// "secret/data/green/marathon"): Vault answers 403.
func (s *Server) Deny(apiPath string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.denied[apiPath] = true
}

// Fail makes every later request answer code with Vault's error body; code 0 stops failing.
func (s *Server) Fail(code int, errs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failCode, s.failMsgs = code, errs
}

// Hold makes requests wait, until release is called or the client gives up.
func (s *Server) Hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(ch) }) }
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

func (s *Server) mountOf(path string) (*mount, string) {
	name, rest, _ := strings.Cut(path, "/")
	m := s.mounts[name]
	if m == nil || rest == "" {
		panic("vaulttest: no mount for " + path)
	}
	return m, rest
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{
		Method: r.Method, Path: r.URL.Path,
		Token: r.Header.Get("X-Vault-Token"), Namespace: r.Header.Get("X-Vault-Namespace"), VaultRequest: r.Header.Get("X-Vault-Request"),
	})
	hold := s.hold
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failCode != 0 {
		writeErrors(w, s.failCode, s.failMsgs...)
		return
	}
	if r.Method != http.MethodGet {
		writeErrors(w, http.StatusMethodNotAllowed, "unsupported operation")
		return
	}
	// Vault answers a missing, wrong or foreign token with 403 and "permission denied".
	if (s.token != "" && r.Header.Get("X-Vault-Token") != s.token) || r.Header.Get("X-Vault-Namespace") != s.namespace {
		writeErrors(w, http.StatusForbidden, "permission denied")
		return
	}
	api, ok := strings.CutPrefix(r.URL.Path, "/v1/")
	if !ok {
		writeErrors(w, http.StatusNotFound)
		return
	}
	if s.denied[api] {
		writeErrors(w, http.StatusForbidden, "1 error occurred:\n\t* permission denied\n\n")
		return
	}
	name, rest, _ := strings.Cut(api, "/")
	m := s.mounts[name]
	if m == nil {
		writeErrors(w, http.StatusNotFound, fmt.Sprintf("no handler for route %q. route entry not found.", api))
		return
	}
	if m.version == 1 {
		sec := m.secrets[rest]
		if sec == nil {
			writeErrors(w, http.StatusNotFound)
			return
		}
		writeJSON(w, http.StatusOK, envelope{LeaseDuration: 2764800, Data: sec.versions[len(sec.versions)-1].data})
		return
	}
	name, ok = strings.CutPrefix(rest, "data/")
	if !ok {
		writeJSON(w, http.StatusNotFound, envelope{Warnings: []string{
			"Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
		}})
		return
	}
	sec := m.secrets[name]
	if sec == nil {
		writeErrors(w, http.StatusNotFound)
		return
	}
	n := len(sec.versions)
	v := sec.versions[n-1]
	meta := map[string]any{
		"created_time":    v.created.Format(time.RFC3339Nano),
		"custom_metadata": nil,
		"deletion_time":   "",
		"destroyed":       v.gone,
		"version":         n,
	}
	if !v.deleted.IsZero() {
		meta["deletion_time"] = v.deleted.Format(time.RFC3339Nano)
	}
	if v.gone || !v.deleted.IsZero() {
		// Vault's answer for a deleted or destroyed version: 404, no data, the metadata.
		writeJSON(w, http.StatusNotFound, envelope{Data: map[string]any{"data": nil, "metadata": meta}})
		return
	}
	writeJSON(w, http.StatusOK, envelope{Data: map[string]any{"data": v.data, "metadata": meta}})
}

// envelope is the body of every Vault response that is not an error.
type envelope struct {
	RequestID     string         `json:"request_id"`
	LeaseID       string         `json:"lease_id"`
	Renewable     bool           `json:"renewable"`
	LeaseDuration int            `json:"lease_duration"`
	Data          map[string]any `json:"data"`
	WrapInfo      any            `json:"wrap_info"`
	Warnings      []string       `json:"warnings"`
	Auth          any            `json:"auth"`
	MountType     string         `json:"mount_type"`
}

func writeJSON(w http.ResponseWriter, code int, e envelope) {
	e.RequestID = "5e4f8b1c-0000-4000-8000-000000000000"
	e.MountType = "kv"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(e)
}

// writeErrors writes Vault's error body, {"errors": [...]}.
func writeErrors(w http.ResponseWriter, code int, errs ...string) {
	if errs == nil {
		errs = []string{}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string][]string{"errors": errs})
}
