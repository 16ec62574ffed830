package ghapi

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v66/github"
)

const testAppID = 42

func newKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

// fakeGitHub serves the few endpoints the tests call under prefix, checking
// credentials as GitHub would, and records what it saw.
type fakeGitHub struct {
	t   *testing.T
	key *rsa.PublicKey

	mu          sync.Mutex
	tokenPosts  map[string]int // installation id → token requests
	tokenStatus []int          // statuses to answer token requests with before succeeding
	userAgents  []string
}

func newFakeGitHub(t *testing.T, key *rsa.PublicKey, prefix string) (*fakeGitHub, *httptest.Server) {
	t.Helper()
	f := &fakeGitHub{t: t, key: key, tokenPosts: make(map[string]int)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+prefix+"/app/installations/{id}/access_tokens", f.accessToken)
	mux.HandleFunc("GET "+prefix+"/app", f.app)
	mux.HandleFunc("GET "+prefix+"/repos/{owner}/{repo}", f.repo)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return f, ts
}

// appJWT reports whether r carries a JWT signed by the App's key with the
// App's ID as issuer.
func (f *fakeGitHub) appJWT(r *http.Request) error {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return fmt.Errorf("Authorization %q is not a bearer token", r.Header.Get("Authorization"))
	}
	var claims jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(raw, &claims, func(*jwt.Token) (any, error) { return f.key, nil },
		jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		return fmt.Errorf("JWT: %w", err)
	}
	if claims.Issuer != fmt.Sprint(testAppID) {
		return fmt.Errorf("JWT iss = %q, want %d", claims.Issuer, testAppID)
	}
	return nil
}

func (f *fakeGitHub) accessToken(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	f.mu.Lock()
	f.tokenPosts[id]++
	f.userAgents = append(f.userAgents, r.UserAgent())
	var status int
	if len(f.tokenStatus) > 0 {
		status, f.tokenStatus = f.tokenStatus[0], f.tokenStatus[1:]
	}
	f.mu.Unlock()
	if status != 0 {
		if status == http.StatusForbidden {
			w.Header().Set("X-RateLimit-Remaining", "0")
			w.Header().Set("X-RateLimit-Reset", unix(time.Now().Add(time.Hour)))
		}
		http.Error(w, `{"message":"scripted failure"}`, status)
		return
	}
	if err := f.appJWT(r); err != nil {
		f.t.Errorf("token request: %v", err)
		http.Error(w, `{"message":"A JSON web token could not be decoded"}`, http.StatusUnauthorized)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"token":      "ghs_" + id,
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339),
	})
}

func (f *fakeGitHub) app(w http.ResponseWriter, r *http.Request) {
	if err := f.appJWT(r); err != nil {
		f.t.Errorf("GET /app: %v", err)
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, `{"id":%d,"slug":"cluster-as-code"}`, testAppID)
}

func (f *fakeGitHub) repo(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.userAgents = append(f.userAgents, r.UserAgent())
	f.mu.Unlock()
	if got := r.Header.Get("Authorization"); got != "token ghs_7" {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	fmt.Fprintf(w, `{"name":%q}`, r.PathValue("repo"))
}

func (f *fakeGitHub) tokenRequests(id string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.tokenPosts[id]
}

func TestClientsInstallation(t *testing.T) {
	key, pemKey := newKey(t)
	tests := []struct {
		name   string
		prefix string // where the fake serves the API
		base   func(url string) string
	}{
		{"Enterprise root with trailing slash", "/api/v3", func(u string) string { return u + "/api/v3/" }},
		{"Enterprise root without trailing slash", "/api/v3", func(u string) string { return u + "/api/v3" }},
		{"host root without trailing slash", "", func(u string) string { return u }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake, ts := newFakeGitHub(t, &key.PublicKey, tt.prefix)
			c, err := NewClients(Config{AppID: testAppID, PrivateKey: pemKey, BaseURL: tt.base(ts.URL), UserAgent: "cluster-as-code/test"})
			if err != nil {
				t.Fatal(err)
			}

			gh, err := c.Installation(7)
			if err != nil {
				t.Fatal(err)
			}
			repo, _, err := gh.Repositories.Get(t.Context(), "o", "r")
			if err != nil {
				t.Fatalf("Repositories.Get: %v", err)
			}
			if repo.GetName() != "r" {
				t.Errorf("repo name = %q, want r", repo.GetName())
			}

			again, err := c.Installation(7)
			if err != nil {
				t.Fatal(err)
			}
			if again != gh {
				t.Error("Installation(7) returned a new client the second time, want the cached one")
			}
			if other, _ := c.Installation(8); other == gh {
				t.Error("Installation(8) returned installation 7's client")
			}

			tok, err := c.Token(t.Context(), 7)
			if err != nil {
				t.Fatal(err)
			}
			if tok != "ghs_7" {
				t.Errorf("Token = %q, want ghs_7", tok)
			}
			if n := fake.tokenRequests("7"); n != 1 {
				t.Errorf("%d token requests for installation 7, want 1 (cached)", n)
			}
			for _, ua := range fake.userAgents {
				if ua != "cluster-as-code/test" {
					t.Errorf("User-Agent = %q, want cluster-as-code/test", ua)
				}
			}
		})
	}
}

func TestClientsApp(t *testing.T) {
	key, pemKey := newKey(t)
	_, ts := newFakeGitHub(t, &key.PublicKey, "/api/v3")
	c, err := NewClients(Config{AppID: testAppID, PrivateKey: pemKey, BaseURL: ts.URL + "/api/v3"})
	if err != nil {
		t.Fatal(err)
	}
	app, _, err := c.App().Apps.Get(t.Context(), "")
	if err != nil {
		t.Fatalf("Apps.Get: %v", err)
	}
	if app.GetID() != testAppID {
		t.Errorf("app id = %d, want %d", app.GetID(), testAppID)
	}
}

func TestClientsRetryTokenRequests(t *testing.T) {
	key, pemKey := newKey(t)

	t.Run("a 502 is retried", func(t *testing.T) {
		fake, ts := newFakeGitHub(t, &key.PublicKey, "")
		fake.tokenStatus = []int{http.StatusBadGateway}
		clk := newClock()
		c, err := NewClients(Config{AppID: testAppID, PrivateKey: pemKey, BaseURL: ts.URL, Retry: clk.policy()})
		if err != nil {
			t.Fatal(err)
		}
		tok, err := c.Token(t.Context(), 7)
		if err != nil || tok != "ghs_7" {
			t.Errorf("Token = %q, %v; want ghs_7", tok, err)
		}
		if n := fake.tokenRequests("7"); n != 2 {
			t.Errorf("%d token requests, want 2", n)
		}
		if len(clk.Waits()) != 1 {
			t.Errorf("slept %v, want one backoff", clk.Waits())
		}
	})

	t.Run("a long rate limit surfaces as RetryLaterError", func(t *testing.T) {
		fake, ts := newFakeGitHub(t, &key.PublicKey, "")
		fake.tokenStatus = []int{http.StatusForbidden}
		c, err := NewClients(Config{AppID: testAppID, PrivateKey: pemKey, BaseURL: ts.URL, Retry: newClock().policy()})
		if err != nil {
			t.Fatal(err)
		}
		gh, err := c.Installation(7)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = gh.Repositories.Get(t.Context(), "o", "r")
		var rl *RetryLaterError
		if !errors.As(err, &rl) || rl.Reason != ReasonRateLimit {
			t.Fatalf("error = %v, want one wrapping a rate-limit *RetryLaterError", err)
		}
		if until := time.Until(rl.Until); until < 50*time.Minute {
			t.Errorf("Until is %v away, want about an hour", until)
		}
		if n := fake.tokenRequests("7"); n != 1 {
			t.Errorf("%d token requests, want 1", n)
		}
	})
}

func TestClientsConcurrentUse(t *testing.T) {
	key, pemKey := newKey(t)
	fake, ts := newFakeGitHub(t, &key.PublicKey, "")
	c, err := NewClients(Config{AppID: testAppID, PrivateKey: pemKey, BaseURL: ts.URL})
	if err != nil {
		t.Fatal(err)
	}
	const workers = 16
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for i := range workers {
		wg.Go(func() {
			id := int64(1 + i%4)
			if _, err := c.Installation(id); err != nil {
				errs <- err
				return
			}
			if _, err := c.Token(t.Context(), id); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for id := 1; id <= 4; id++ {
		if n := fake.tokenRequests(fmt.Sprint(id)); n != 1 {
			t.Errorf("installation %d: %d token requests, want 1", id, n)
		}
	}
}

func TestNewClientsRejectsBadKeys(t *testing.T) {
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, err := x509.MarshalPKCS8PrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		key  []byte
	}{
		{"empty", nil},
		{"not PEM", []byte("MIIEowIBAAKCAQEAsecretsecret")},
		{"PEM with garbage inside", []byte("-----BEGIN RSA PRIVATE KEY-----\nc2VjcmV0c2VjcmV0\n-----END RSA PRIVATE KEY-----\n")},
		{"certificate instead of key", []byte("-----BEGIN CERTIFICATE-----\nc2VjcmV0c2VjcmV0\n-----END CERTIFICATE-----\n")},
		{"EC key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: ecDER})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClients(Config{AppID: testAppID, PrivateKey: tt.key})
			if err == nil {
				t.Fatal("NewClients accepted the key")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "parsing GitHub App private key: ") {
				t.Errorf("error %q does not say the private key is the problem", msg)
			}
			for _, secret := range []string{"secret", "c2VjcmV0", "MIIE"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q echoes key material", msg)
				}
			}
		})
	}
}

func TestNewClientsURLs(t *testing.T) {
	_, pemKey := newKey(t)
	tests := []struct {
		base       string
		wantAPI    string
		wantUpload string
		wantErr    bool
	}{
		{"", "https://api.github.com/", "https://uploads.github.com/", false},
		{"https://api.github.com", "https://api.github.com/", "https://uploads.github.com/", false},
		{"https://ghe.example.com/api/v3", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/", false},
		{"https://ghe.example.com/api/v3/", "https://ghe.example.com/api/v3/", "https://ghe.example.com/api/uploads/", false},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/", "http://127.0.0.1:8080/", false},
		{"ghe.example.com", "", "", true},
		{"ftp://ghe.example.com/", "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			c, err := NewClients(Config{AppID: testAppID, PrivateKey: pemKey, BaseURL: tt.base})
			if tt.wantErr {
				if err == nil {
					t.Errorf("NewClients accepted BaseURL %q", tt.base)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			inst, err := c.Installation(1)
			if err != nil {
				t.Fatal(err)
			}
			for _, gh := range []struct {
				name   string
				client *github.Client
			}{{"App", c.App()}, {"Installation", inst}} {
				if got := gh.client.BaseURL.String(); got != tt.wantAPI {
					t.Errorf("%s BaseURL = %q, want %q", gh.name, got, tt.wantAPI)
				}
				if got := gh.client.UploadURL.String(); got != tt.wantUpload {
					t.Errorf("%s UploadURL = %q, want %q", gh.name, got, tt.wantUpload)
				}
			}
		})
	}
}
