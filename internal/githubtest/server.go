package githubtest

import (
	"bytes"
	"context"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Fixed identities of the fake's one app and its one installation.
const (
	appID          = 424242
	installationID = 51515151
	appSlug        = "cluster-as-code"
	// appOwner is the account that registered the app.
	appOwner = "fleet-admins"
	// enterprisePrefix is where GitHub Enterprise Server serves its API;
	// go-github's WithEnterpriseURLs adds it, so the fake serves it too.
	enterprisePrefix = "/api/v3"
	// maxRequestBody is far above anything GitHub accepts on these endpoints.
	maxRequestBody = 32 << 20
	docsURL        = "https://docs.github.com/rest"
)

// Server is a fake GitHub serving the REST API over HTTP for one test. It
// has one app (AppID, AppSlug, PrivateKeyPEM), installed once
// (InstallationID) on every repository added with AddRepo; repositories are
// public and owned by users.
//
// These fail the test (t.Errorf): a request GitHub's description does not
// allow (answered 422) or does not have (404); a request the description
// allows but GitHub's documented rules refuse (422), such as a completed
// check run without a conclusion, an annotation with columns across lines,
// a comment over 65536 characters, a deployment status description over
// 140 or a deployment of a ref that does not exist; and an answer of the
// fake that does not match the description. These do not, as real GitHub
// answers them too and a test may want to see the bot cope: missing or
// wrong credentials (401), unknown repositories, pull requests, check runs,
// comments or deployments (404), deployments GitHub refuses for their
// checks or for auto_merge (409), and the failures planned with Fail.
//
// All its methods are safe for concurrent use.
type Server struct {
	t        testing.TB
	ts       *httptest.Server
	spec     *spec
	key      *rsa.PrivateKey
	handlers map[string]handler // by operationId

	mu        sync.Mutex
	repos     map[string]*repoState // by lower-case "owner/name"
	tokens    map[string]time.Time  // installation token → expiry
	downloads map[string]download   // codeload token → what it fetches
	nextID    int64
	requests  []Request
	failures  []*failure
}

// Request is one request the fake answered.
type Request struct {
	Method string
	// Path is the request's path without query, and without the /api/v3
	// prefix of GitHub Enterprise Server when the client used one. Tarball
	// downloads show as /_codeload/….
	Path string
	// Route is the path template of the operation in GitHub's description,
	// such as "/repos/{owner}/{repo}/check-runs"; empty for downloads and
	// for requests that matched no operation.
	Route  string
	Status int
}

// New starts a fake GitHub for the test t; it is closed when the test ends.
// Problems with the requests it receives or the responses it sends are
// reported with t.Errorf.
func New(t testing.TB) *Server {
	t.Helper()
	sp, err := loadedSpec()
	if err != nil {
		t.Fatalf("githubtest: %v", err)
	}
	key, err := appKey()
	if err != nil {
		t.Fatalf("githubtest: generating the app key: %v", err)
	}
	s := &Server{
		t:         t,
		spec:      sp,
		key:       key,
		repos:     map[string]*repoState{},
		tokens:    map[string]time.Time{},
		downloads: map[string]download{},
		nextID:    1000,
	}
	s.handlers = s.routes()
	for path, item := range sp.doc.Paths.Map() {
		for method, op := range item.Operations() {
			if s.handlers[op.OperationID] == nil {
				t.Fatalf("githubtest: %s %s (%s) is in testdata/api.github.com.json but the fake has no handler for it", method, path, op.OperationID)
			}
		}
	}
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	t.Cleanup(s.ts.Close)
	return s
}

// URL is the API's base URL, with a trailing slash, for go-github's
// Client.BaseURL and ghinstallation's BaseURL.
func (s *Server) URL() string { return s.ts.URL + "/" }

// AppID is the app's id, the iss of its JWTs.
func (s *Server) AppID() int64 { return appID }

// AppSlug is the app's URL-friendly name; the app acts as the bot user
// AppSlug()+"[bot]".
func (s *Server) AppSlug() string { return appSlug }

// BotLogin is the login of the app's bot user, AppSlug()+"[bot]".
func (s *Server) BotLogin() string { return appSlug + "[bot]" }

// InstallationID is the id of the app's one installation, which covers
// every repository of the fake.
func (s *Server) InstallationID() int64 { return installationID }

// PrivateKeyPEM is the app's private key, PEM-encoded as GitHub hands it
// out. It is generated once per test process.
func (s *Server) PrivateKeyPEM() []byte { return pemKey(s.key) }

// Requests returns every request the fake answered so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// failure is an answer the test asked for with Fail.
type failure struct {
	method, pattern string
	times           int
	status          int
	header          http.Header
}

// Fail makes the next times requests to method and pathPattern answer
// status, with header added, and a body like GitHub's errors, without
// touching the fake's state; it is for tests of retries and rate limits.
// pathPattern is a path template of GitHub's description, such as
// "/repos/{owner}/{repo}/check-runs", or a concrete path; a {name} segment
// matches any one segment. A 403 or 429 with "X-RateLimit-Remaining: 0"
// says the primary rate limit is exhausted, one with "Retry-After" a
// secondary rate limit, in the words go-github looks for. The request is
// still checked against the description first.
func (s *Server) Fail(method, pathPattern string, times int, status int, header http.Header) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures = append(s.failures, &failure{
		method: strings.ToUpper(method), pattern: pathPattern, times: times,
		status: status, header: header.Clone(),
	})
}

// takeFailure returns the failure planned for a request, if any, counting
// it down.
func (s *Server) takeFailure(method, path, routePath string) *failure {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.failures {
		if f.method != method || (f.pattern != routePath && !matchTemplate(f.pattern, path)) {
			continue
		}
		f.times--
		if f.times <= 0 {
			s.failures = append(s.failures[:i], s.failures[i+1:]...)
		}
		return f
	}
	return nil
}

// matchTemplate reports whether path fits pattern, where a {name} segment
// of pattern matches any one non-empty segment.
func matchTemplate(pattern, path string) bool {
	p, q := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		if strings.HasPrefix(p[i], "{") && strings.HasSuffix(p[i], "}") && q[i] != "" {
			continue
		}
		if p[i] != q[i] {
			return false
		}
	}
	return true
}

// call is one API request on its way through a handler.
type call struct {
	r *http.Request
	// base is the API root the client used, for links back to the fake.
	base   string
	route  *route
	body   []byte
	now    time.Time
	params map[string]string
}

// reply is a handler's answer; body is encoded as JSON unless nil.
type reply struct {
	status int
	header http.Header
	body   any
	// planned marks answers asked for with Fail, which are not checked
	// against the description.
	planned bool
}

type handler func(ctx context.Context, c *call) reply

// errorReply is an error answer shaped like GitHub's.
func errorReply(status int, message string) reply {
	return reply{status: status, body: map[string]any{"message": message, "documentation_url": docsURL}}
}

// serveHTTP answers one request; it is what the httptest.Server runs.
func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	base := s.URL()
	if p, ok := strings.CutPrefix(r.URL.Path, enterprisePrefix+"/"); ok {
		base += strings.TrimPrefix(enterprisePrefix, "/") + "/"
		r = r.Clone(r.Context())
		r.URL.Path = "/" + p
		r.URL.RawPath = strings.TrimPrefix(r.URL.RawPath, enterprisePrefix)
	}
	if strings.HasPrefix(r.URL.Path, codeloadPrefix) {
		status := s.serveCodeload(w, r)
		s.record(Request{Method: r.Method, Path: r.URL.Path, Status: status})
		return
	}

	rep, rt := s.answer(r, base, body)
	if rep.header == nil {
		rep.header = http.Header{}
	}
	var encoded []byte
	if rep.body != nil {
		encoded, err = json.Marshal(rep.body)
		if err != nil {
			s.t.Errorf("githubtest: encoding the answer to %s %s: %v", r.Method, r.URL.Path, err)
			rep.status, encoded = http.StatusInternalServerError, nil
		}
		rep.header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if rt != nil && !rep.planned {
		if err := s.spec.validateResponse(r.Context(), r, rt, rep.status, rep.header, encoded); err != nil {
			s.t.Errorf("githubtest: the fake's answer to %s %s does not match GitHub's OpenAPI description (a bug in the fake): %v", r.Method, r.URL.Path, err)
		}
	}
	routePath := ""
	if rt != nil {
		routePath = rt.Path
	}
	s.record(Request{Method: r.Method, Path: r.URL.Path, Route: routePath, Status: rep.status})

	h := w.Header()
	for k, v := range rep.header {
		h[k] = v
	}
	setRateLimitHeaders(h)
	w.WriteHeader(rep.status)
	_, _ = w.Write(encoded)
}

// answer checks r and runs its operation's handler.
func (s *Server) answer(r *http.Request, base string, body []byte) (reply, *route) {
	rt, err := s.spec.findRoute(r)
	if err != nil {
		s.t.Errorf("githubtest: %v (or the operation is missing from testdata/endpoints.txt)", err)
		return errorReply(http.StatusNotFound, "Not Found"), nil
	}
	if err := s.spec.validateRequest(r.Context(), r, body, rt); err != nil {
		s.t.Errorf("githubtest: %s %s does not match GitHub's OpenAPI description: %v", r.Method, r.URL.Path, err)
		return errorReply(http.StatusUnprocessableEntity, "Invalid request.\n\n"+err.Error()), rt
	}
	if f := s.takeFailure(r.Method, r.URL.Path, rt.Path); f != nil {
		return failureReply(f), rt
	}
	c := &call{r: r, base: base, route: rt, body: body, now: time.Now().UTC().Truncate(time.Second), params: rt.params}
	if rep, ok := s.authenticate(c); !ok {
		return rep, rt
	}
	rep := s.handlers[rt.Operation.OperationID](r.Context(), c)
	if rep.status == http.StatusUnprocessableEntity {
		// GitHub answers 422 only to requests a client should not have
		// sent: a bug in the code under test.
		msg, _ := json.Marshal(rep.body)
		s.t.Errorf("githubtest: GitHub would reject %s %s: %s", r.Method, r.URL.Path, msg)
	}
	if rep.status >= 500 {
		msg, _ := json.Marshal(rep.body)
		s.t.Errorf("githubtest: the fake failed on %s %s: %s", r.Method, r.URL.Path, msg)
	}
	return rep, rt
}

// authenticate checks the credentials an operation needs: the app's JWT
// for the /app endpoints, an installation token for the others.
func (s *Server) authenticate(c *call) (reply, bool) {
	auth := c.r.Header.Get("Authorization")
	if strings.HasPrefix(c.route.Path, "/app") && !strings.HasPrefix(c.route.Path, "/apps/") {
		tok, ok := bearer(auth)
		if !ok {
			return errorReply(http.StatusUnauthorized, "A JSON web token could not be decoded"), false
		}
		if err := s.checkAppJWT(tok, c.now); err != nil {
			return errorReply(http.StatusUnauthorized, err.Error()), false
		}
		return reply{}, true
	}
	if !s.checkToken(auth, c.now) {
		return errorReply(http.StatusUnauthorized, "Bad credentials"), false
	}
	return reply{}, true
}

func failureReply(f *failure) reply {
	rep := errorReply(f.status, http.StatusText(f.status))
	rep.planned = true
	rep.header = f.header.Clone()
	if rep.header == nil {
		rep.header = http.Header{}
	}
	if f.status == http.StatusForbidden || f.status == http.StatusTooManyRequests {
		switch {
		case rep.header.Get("X-RateLimit-Remaining") == "0":
			rep.body = map[string]any{
				"message":           "API rate limit exceeded for installation ID " + strconv.Itoa(installationID) + ".",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-rate-limits",
			}
		case rep.header.Get("Retry-After") != "":
			rep.body = map[string]any{
				"message":           "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
				"documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
			}
		}
	}
	return rep
}

// setRateLimitHeaders adds the rate limit headers GitHub sends with every
// answer, unless a planned failure set its own.
func setRateLimitHeaders(h http.Header) {
	if h.Get("X-RateLimit-Limit") != "" || h.Get("X-RateLimit-Remaining") != "" {
		return
	}
	h.Set("X-RateLimit-Limit", "5000")
	h.Set("X-RateLimit-Remaining", "4999")
	h.Set("X-RateLimit-Used", "1")
	h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
	h.Set("X-RateLimit-Resource", "core")
	h.Set("X-GitHub-Api-Version-Selected", "2022-11-28")
}

func (s *Server) record(r Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r)
	s.mu.Unlock()
}

// newID returns a fresh id for a check run, comment, reaction or suite; ids
// only grow, as GitHub's do.
func (s *Server) newID() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.newIDLocked()
}

func (s *Server) newIDLocked() int64 {
	s.nextID++
	return s.nextID
}

// decodeBody decodes a request body the description has already checked.
func decodeBody(c *call, v any) error {
	if len(bytes.TrimSpace(c.body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return fmt.Errorf("decoding the body of %s %s: %w", c.r.Method, c.r.URL.Path, err)
	}
	return nil
}
