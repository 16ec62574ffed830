package githubtest

import (
	"context"
	"crypto/rsa"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v66/github"
)

// recorder is a testing.TB that keeps the failures the fake reports
// instead of failing the test, so tests can prove the fake catches bad
// requests.
type recorder struct {
	testing.TB
	mu       sync.Mutex
	errs     []string
	catching bool // Fatalf ends fatal's goroutine
}

func (r *recorder) Errorf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, strings.TrimSpace(fmt.Sprintf(format, args...)))
}

func (r *recorder) Helper() {}

// Fatalf, inside fatal, records like Errorf and ends the goroutine, as
// testing.T's does; elsewhere it fails the test.
func (r *recorder) Fatalf(format string, args ...any) {
	r.mu.Lock()
	catching := r.catching
	r.mu.Unlock()
	if !catching {
		r.TB.Fatalf(format, args...)
	}
	r.Errorf(format, args...)
	runtime.Goexit()
}

// fatal runs f on a goroutine of its own, which a Fatalf ends, and returns
// the failures reported meanwhile.
func (r *recorder) fatal(f func()) []string {
	r.mu.Lock()
	r.catching = true
	r.mu.Unlock()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	<-done
	r.mu.Lock()
	r.catching = false
	r.mu.Unlock()
	return r.take()
}

// take returns and forgets the failures reported so far.
func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	errs := r.errs
	r.errs = nil
	return errs
}

// gitRun runs git in dir with a fixed identity and no user configuration.
func gitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir}, args...)...)
	cmd.Env = append(os.Environ(),
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.com",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.com",
		"GIT_AUTHOR_DATE=2024-05-01T10:00:00Z", "GIT_COMMITTER_DATE=2024-05-01T10:00:00Z",
	)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func writeFile(t testing.TB, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fixture is a git repository with a main branch and a branch "change"
// that adds, modifies, removes and renames a file.
type fixture struct {
	dir              string
	baseSHA, headSHA string
}

func newFixture(t testing.TB) fixture {
	t.Helper()
	dir := t.TempDir()
	gitRun(t, dir, "init", "-q", "-b", "main")
	writeFile(t, dir, "inventory/racks.yaml", "racks:\n- name: r1\n")
	writeFile(t, dir, "clusters/prod.yaml", "name: prod\nnodes: 3\n")
	writeFile(t, dir, "images/base/Dockerfile", "FROM debian:bookworm\nRUN apt-get update\nRUN apt-get install -y curl\n")
	writeFile(t, dir, "README.md", "fleet\n")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "initial fleet")
	base := gitRun(t, dir, "rev-parse", "HEAD")

	gitRun(t, dir, "checkout", "-q", "-b", "change")
	writeFile(t, dir, "clusters/prod.yaml", "name: prod\nnodes: 5\nflavor: large\n")
	writeFile(t, dir, "clusters/stage.yaml", "name: stage\n")
	gitRun(t, dir, "rm", "-q", "README.md")
	gitRun(t, dir, "mv", "images/base/Dockerfile", "images/base/Containerfile")
	gitRun(t, dir, "add", "-A")
	gitRun(t, dir, "commit", "-q", "-m", "grow prod, add stage")
	head := gitRun(t, dir, "rev-parse", "HEAD")
	gitRun(t, dir, "checkout", "-q", "main")
	return fixture{dir: dir, baseSHA: base, headSHA: head}
}

// installationClient is a go-github client authenticated as the app's
// installation through ghinstallation, as the bot makes it.
func installationClient(t testing.TB, s *Server) (*github.Client, *ghinstallation.Transport) {
	t.Helper()
	itr, err := ghinstallation.New(http.DefaultTransport, s.AppID(), s.InstallationID(), s.PrivateKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	itr.BaseURL = strings.TrimSuffix(s.URL(), "/")
	return withBaseURL(t, github.NewClient(&http.Client{Transport: itr}), s), itr
}

// appClient is a go-github client authenticated as the app with its JWT.
func appClient(t testing.TB, s *Server) *github.Client {
	t.Helper()
	atr, err := ghinstallation.NewAppsTransport(http.DefaultTransport, s.AppID(), s.PrivateKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	atr.BaseURL = strings.TrimSuffix(s.URL(), "/")
	return withBaseURL(t, github.NewClient(&http.Client{Transport: atr}), s)
}

func withBaseURL(t testing.TB, c *github.Client, s *Server) *github.Client {
	t.Helper()
	u, err := url.Parse(s.URL())
	if err != nil {
		t.Fatal(err)
	}
	c.BaseURL = u
	return c
}

// rawCall sends method path with body (encoded as JSON) through an
// installation client, bypassing go-github's typed options, and returns
// the status.
func rawCall(t testing.TB, c *github.Client, method, path string, body any) int {
	t.Helper()
	req, err := c.NewRequest(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), req, nil)
	if resp == nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode
}

func itoa(n int) string { return strconv.Itoa(n) }

// testJWT signs an app JWT issued iat and expiring exp seconds from now.
func (s *Server) testJWT(t testing.TB, iat, exp int64) string {
	t.Helper()
	return signJWT(t, s.key, strconv.FormatInt(s.AppID(), 10), iat, exp)
}

func signJWT(t testing.TB, key *rsa.PrivateKey, iss string, iat, exp int64) string {
	t.Helper()
	now := time.Now().Unix()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": iss, "iat": now + iat, "exp": now + exp,
	}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
