package ghapi

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/bradleyfalzon/ghinstallation/v2"
	"github.com/google/go-github/v66/github"
)

const (
	defaultBaseURL   = "https://api.github.com/"
	defaultUploadURL = "https://uploads.github.com/"
)

// Config describes a GitHub App and how to reach its API.
type Config struct {
	// AppID is the GitHub App's numeric ID. Required.
	AppID int64
	// PrivateKey is the App's private key in PEM (PKCS#1, as GitHub issues
	// it, or PKCS#8). Required.
	PrivateKey []byte
	// BaseURL is the REST API root. Empty means https://api.github.com/; for
	// GitHub Enterprise Server give the full root, e.g.
	// https://ghe.example.com/api/v3/ (nothing is appended to it). The
	// trailing slash is optional.
	BaseURL string
	// Transport sends the HTTP requests, beneath the retrying [Transport] and
	// the authentication. Nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Retry bounds retries; the zero value is sensible.
	Retry RetryPolicy
	// Metrics records the traffic. Nil records nothing.
	Metrics *Metrics
	// Logger receives retry messages. Nil logs nothing.
	Logger *slog.Logger
	// UserAgent identifies the bot to GitHub. Empty means go-github's default
	// for API calls and Go's default for token requests.
	UserAgent string
}

// Clients hands out go-github clients for one GitHub App: one authenticated
// as the App itself and one per installation, created on first use and kept.
// Its methods are safe for concurrent use.
//
// The layers of every client, outermost first: go-github, ghinstallation's
// authentication (JWT or installation token), the retrying [Transport],
// Config.Transport.
type Clients struct {
	appID     int64
	key       *rsa.PrivateKey
	apiURL    *url.URL
	uploadURL *url.URL
	userAgent string
	rt        http.RoundTripper // the retrying Transport
	app       *github.Client

	mu            sync.Mutex
	installations map[int64]*installation
}

// installation is one installation's authenticated client and the token
// source beneath it.
type installation struct {
	client *github.Client
	tokens *ghinstallation.Transport
}

// NewClients parses the App's private key and prepares the App client.
func NewClients(cfg Config) (*Clients, error) {
	if cfg.AppID <= 0 {
		return nil, fmt.Errorf("GitHub App ID must be positive, got %d", cfg.AppID)
	}
	key, err := parsePrivateKey(cfg.PrivateKey)
	if err != nil {
		return nil, fmt.Errorf("parsing GitHub App private key: %w", err)
	}
	apiURL, uploadURL, err := apiURLs(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("GitHub API base URL: %w", err)
	}
	c := &Clients{
		appID:     cfg.AppID,
		key:       key,
		apiURL:    apiURL,
		uploadURL: uploadURL,
		userAgent: cfg.UserAgent,
		rt: &Transport{
			Base:      cfg.Transport,
			Retry:     cfg.Retry,
			Metrics:   cfg.Metrics,
			Logger:    cfg.Logger,
			UserAgent: cfg.UserAgent,
		},
		installations: make(map[int64]*installation),
	}
	c.app = c.newClient(c.appsTransport())
	return c, nil
}

// App returns the client authenticated as the App (with a short-lived JWT),
// for the /app endpoints such as listing installations.
func (c *Clients) App() *github.Client {
	return c.app
}

// Installation returns the client authenticated as installation id. It is
// created once per id and then reused; its token is fetched on first use and
// renewed a minute before it expires.
func (c *Clients) Installation(id int64) (*github.Client, error) {
	inst, err := c.installation(id)
	if err != nil {
		return nil, err
	}
	return inst.client, nil
}

// Token returns a valid access token for installation id, for git over HTTPS
// (user "x-access-token"). It shares the token cache of [Clients.Installation].
func (c *Clients) Token(ctx context.Context, id int64) (string, error) {
	inst, err := c.installation(id)
	if err != nil {
		return "", err
	}
	tok, err := inst.tokens.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("getting token for installation %d: %w", id, err)
	}
	return tok, nil
}

func (c *Clients) installation(id int64) (*installation, error) {
	if id <= 0 {
		return nil, fmt.Errorf("GitHub App installation ID must be positive, got %d", id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if inst, ok := c.installations[id]; ok {
		return inst, nil
	}
	// Each installation gets its own AppsTransport: ghinstallation's token
	// refresh writes to the AppsTransport's fields under the installation's
	// own lock, so sharing one would race.
	tokens := ghinstallation.NewFromAppsTransport(c.appsTransport(), id)
	tokens.BaseURL = strings.TrimSuffix(c.apiURL.String(), "/")
	inst := &installation{client: c.newClient(tokens), tokens: tokens}
	c.installations[id] = inst
	return inst, nil
}

func (c *Clients) appsTransport() *ghinstallation.AppsTransport {
	atr := ghinstallation.NewAppsTransportFromPrivateKey(c.rt, c.appID, c.key)
	atr.BaseURL = strings.TrimSuffix(c.apiURL.String(), "/")
	return atr
}

func (c *Clients) newClient(rt http.RoundTripper) *github.Client {
	gh := github.NewClient(&http.Client{Transport: rt})
	// Copies, so a caller changing one client's URL cannot change the others.
	api, upload := *c.apiURL, *c.uploadURL
	gh.BaseURL, gh.UploadURL = &api, &upload
	if c.userAgent != "" {
		gh.UserAgent = c.userAgent
	}
	return gh
}

// parsePrivateKey decodes an RSA key from PEM. Its errors never quote the
// input.
func parsePrivateKey(data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found (expected \"-----BEGIN RSA PRIVATE KEY-----\")")
	}
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("invalid PKCS#1 RSA key: %w", err)
		}
		return key, nil
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("invalid PKCS#8 key: %w", err)
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("GitHub App keys are RSA, got %T", key)
		}
		return rsaKey, nil
	default:
		return nil, fmt.Errorf("PEM block is %q, want \"RSA PRIVATE KEY\" or \"PRIVATE KEY\"", block.Type)
	}
}

// apiURLs returns the REST root, with a trailing slash as go-github requires,
// and the matching uploads root: uploads.github.com for github.com,
// …/api/uploads/ for a GitHub Enterprise …/api/v3/ root, and the REST root
// itself otherwise (a test server).
func apiURLs(base string) (api, upload *url.URL, err error) {
	if base == "" {
		api, _ = url.Parse(defaultBaseURL)
		upload, _ = url.Parse(defaultUploadURL)
		return api, upload, nil
	}
	api, err = url.Parse(base)
	if err != nil {
		return nil, nil, err
	}
	if (api.Scheme != "https" && api.Scheme != "http") || api.Host == "" {
		return nil, nil, fmt.Errorf("%q is not an http(s) URL", base)
	}
	if api.RawQuery != "" || api.Fragment != "" {
		return nil, nil, fmt.Errorf("%q has a query or fragment", base)
	}
	if !strings.HasSuffix(api.Path, "/") {
		api.Path += "/"
		if api.RawPath != "" {
			api.RawPath += "/"
		}
	}
	if api.Host == "api.github.com" {
		upload, _ = url.Parse(defaultUploadURL)
		return api, upload, nil
	}
	u := *api
	if prefix, ok := strings.CutSuffix(u.Path, "/api/v3/"); ok {
		u.Path, u.RawPath = prefix+"/api/uploads/", ""
	}
	return api, &u, nil
}
