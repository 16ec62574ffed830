package ironic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/httpbasic"
	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/noauth"
	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/v1/nodes"
	"github.com/gophercloud/gophercloud/v2/openstack/baremetal/v1/ports"
	"github.com/gophercloud/gophercloud/v2/pagination"
)

// Config says how to reach Ironic and how patiently to work with it. The zero value of every
// field but URL means its default.
type Config struct {
	// URL is Ironic's API endpoint, http://ironic.example.org:6385 (a trailing /v1 is fine).
	URL string
	// Username and Password select HTTP basic authentication when set; otherwise requests
	// carry no credentials (Ironic's noauth).
	Username, Password string
	// Microversion is sent on every request; zero means "1.59" (the config drive as a dict
	// and rebuild with a config drive need 1.56 and 1.35). Anything older is refused.
	Microversion string
	// HTTPClient makes the requests, to Ironic and the HEADs of image URLs; nil means a
	// client with a 60 s timeout per request.
	HTTPClient *http.Client
	// PollInterval is how often a node is read while waiting for it; zero means 2 s. It is
	// kept between 10 ms and 1 min.
	PollInterval time.Duration
	// Timeout bounds each wait for a node to reach a state (a deploy, a rebuild, cleaning);
	// zero means 60 min.
	Timeout time.Duration
	// Retries is how many times a request that Ironic refused with 409 (the node is locked)
	// or 503 is tried again; zero means 6, a negative number none.
	Retries int
	// RetryBase is the first retry's delay, doubled on each retry (with jitter) up to 15 s;
	// zero means 500 ms.
	RetryBase time.Duration
}

// DefaultMicroversion is the microversion sent when Config.Microversion is empty, and the
// oldest one accepted.
const DefaultMicroversion = "1.59"

const (
	defaultPollInterval = 2 * time.Second
	minPollInterval     = 10 * time.Millisecond
	maxPollInterval     = time.Minute
	defaultTimeout      = 60 * time.Minute
	defaultRetries      = 6
	defaultRetryBase    = 500 * time.Millisecond
	maxRetryDelay       = 15 * time.Second
	defaultHTTPTimeout  = 60 * time.Second
)

// withDefaults returns c with every zero field given its default, and an error when the
// microversion is too old.
func (c Config) withDefaults() (Config, error) {
	if c.Microversion == "" {
		c.Microversion = DefaultMicroversion
	}
	var err error
	if !versionAtLeast(c.Microversion, DefaultMicroversion) {
		err = fmt.Errorf("ironic microversion %q: want %s or later", c.Microversion, DefaultMicroversion)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = &http.Client{Timeout: defaultHTTPTimeout}
	}
	if c.PollInterval == 0 {
		c.PollInterval = defaultPollInterval
	}
	c.PollInterval = min(max(c.PollInterval, minPollInterval), maxPollInterval)
	if c.Timeout <= 0 {
		c.Timeout = defaultTimeout
	}
	switch {
	case c.Retries == 0:
		c.Retries = defaultRetries
	case c.Retries < 0:
		c.Retries = 0
	}
	if c.RetryBase <= 0 {
		c.RetryBase = defaultRetryBase
	}
	c.RetryBase = min(c.RetryBase, maxRetryDelay)
	return c, err
}

// parseVersion splits "1.59" into 1 and 59.
func parseVersion(v string) (major, minor int, ok bool) {
	a, b, found := strings.Cut(v, ".")
	if !found {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(a)
	minor, err2 := strconv.Atoi(b)
	return major, minor, err1 == nil && err2 == nil && major >= 0 && minor >= 0
}

// versionAtLeast reports whether microversion v is at least min; an unparsable v is not.
func versionAtLeast(v, min string) bool {
	a, b, ok := parseVersion(v)
	c, d, ok2 := parseVersion(min)
	if !ok || !ok2 {
		return false
	}
	return a > c || a == c && b >= d
}

// Client is the API over a real Ironic, through gophercloud. It retries what Ironic refused
// because the node was locked (409) or it was unavailable (503), and nothing else. It is safe
// for concurrent use.
type Client struct {
	sc        *gophercloud.ServiceClient
	base      string // scheme://host[:port][/prefix], without /v1
	retries   int
	retryBase time.Duration
}

// NewClient returns a client of the Ironic at cfg.URL after checking, with GET /v1, that it
// answers and supports cfg.Microversion.
func NewClient(ctx context.Context, cfg Config) (*Client, error) {
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	v, err := c.APIVersions(ctx)
	var ae *APIError
	if errors.As(err, &ae) {
		return nil, fmt.Errorf("ironic at %s: %w", c.base, err)
	}
	if err != nil {
		return nil, err
	}
	if err := checkVersions(c.sc.Microversion, v); err != nil {
		return nil, fmt.Errorf("ironic at %s: %w", c.base, err)
	}
	return c, nil
}

// checkVersions says whether a server supporting v accepts microversion want.
func checkVersions(want string, v Versions) error {
	if v.Max != "" && !versionAtLeast(v.Max, want) {
		return fmt.Errorf("microversion %s is not supported: the server's newest is %s", want, v.Max)
	}
	if v.Min != "" && !versionAtLeast(want, v.Min) {
		return fmt.Errorf("microversion %s is not supported: the server's oldest is %s", want, v.Min)
	}
	return nil
}

// newClient builds the client without contacting Ironic.
func newClient(cfg Config) (*Client, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("ironic URL %q: want http(s)://host[:port]", cfg.URL)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(cfg.URL, "/"), "/v1")
	endpoint := base + "/v1/"
	var sc *gophercloud.ServiceClient
	if cfg.Username != "" || cfg.Password != "" {
		sc, err = httpbasic.NewBareMetalHTTPBasic(httpbasic.EndpointOpts{
			IronicEndpoint: endpoint, IronicUser: cfg.Username, IronicUserPassword: cfg.Password,
		})
	} else {
		sc, err = noauth.NewBareMetalNoAuth(noauth.EndpointOpts{IronicEndpoint: endpoint})
	}
	if err != nil {
		return nil, fmt.Errorf("ironic client for %s: %w", base, err)
	}
	sc.Microversion = cfg.Microversion
	sc.ProviderClient.HTTPClient = *cfg.HTTPClient
	sc.ProviderClient.UserAgent.Prepend("cluster-as-code")
	return &Client{sc: sc, base: base, retries: cfg.Retries, retryBase: cfg.RetryBase}, nil
}

// URL is the Ironic endpoint the client talks to, without /v1.
func (c *Client) URL() string { return c.base }

// Microversion is the microversion sent on every request.
func (c *Client) Microversion() string { return c.sc.Microversion }

// APIVersions implements API.
func (c *Client) APIVersions(ctx context.Context) (Versions, error) {
	var body struct {
		Version struct {
			Min string `json:"min_version"`
			Max string `json:"version"`
		} `json:"version"`
	}
	err := c.call(ctx, http.MethodGet, "/v1", func() error {
		// A server that does not support our microversion answers 406, naming its range.
		_, err := c.sc.Get(ctx, c.base+"/v1", &body, &gophercloud.RequestOpts{OkCodes: []int{http.StatusOK}})
		return err
	})
	return Versions{Min: body.Version.Min, Max: body.Version.Max}, err
}

// GetNode implements API.
func (c *Client) GetNode(ctx context.Context, ident string) (Node, error) {
	var n Node
	err := c.call(ctx, http.MethodGet, "/v1/nodes/"+ident, func() error {
		n = Node{}
		return nodes.Get(ctx, c.sc, ident).ExtractInto(&n)
	})
	return n, err
}

// ListNodePorts implements API.
func (c *Client) ListNodePorts(ctx context.Context, nodeID string) ([]Port, error) {
	return c.listPorts(ctx, ports.ListOpts{NodeUUID: nodeID}, "node_uuid="+nodeID)
}

// ListPortsByAddress implements API.
func (c *Client) ListPortsByAddress(ctx context.Context, mac string) ([]Port, error) {
	return c.listPorts(ctx, ports.ListOpts{Address: mac}, "address="+mac)
}

func (c *Client) listPorts(ctx context.Context, opts ports.ListOpts, query string) ([]Port, error) {
	var out []Port
	err := c.call(ctx, http.MethodGet, "/v1/ports/detail?"+query, func() error {
		out = nil
		return ports.ListDetail(c.sc, opts).EachPage(ctx, func(_ context.Context, page pagination.Page) (bool, error) {
			var ps []Port
			if err := ports.ExtractPortsInto(page, &ps); err != nil {
				return false, err
			}
			out = append(out, ps...)
			return true, nil
		})
	})
	return out, err
}

// patchOps adapts a JSON patch to gophercloud's node update.
type patchOp PatchOp

func (p patchOp) ToNodeUpdateMap() (map[string]any, error) {
	m := map[string]any{"op": p.Op, "path": p.Path}
	if p.Op != "remove" {
		m["value"] = p.Value
	}
	return m, nil
}

// PatchNode implements API.
func (c *Client) PatchNode(ctx context.Context, id string, ops []PatchOp) (Node, error) {
	opts := make(nodes.UpdateOpts, len(ops))
	for i, op := range ops {
		opts[i] = patchOp(op)
	}
	var n Node
	err := c.call(ctx, http.MethodPatch, "/v1/nodes/"+id, func() error {
		n = Node{}
		return nodes.Update(ctx, c.sc, id, opts).ExtractInto(&n)
	})
	return n, err
}

// provisionBody adapts a provision state change to gophercloud, sending the config drive as it
// is (gophercloud's own options would round-trip it through reflection).
type provisionBody struct {
	target      string
	configDrive json.RawMessage
}

func (b provisionBody) ToProvisionStateMap() (map[string]any, error) {
	m := map[string]any{"target": b.target}
	if len(b.configDrive) > 0 {
		m["configdrive"] = b.configDrive
	}
	return m, nil
}

// SetProvisionState implements API. A retry after a 409 is safe: Ironic refused the change.
func (c *Client) SetProvisionState(ctx context.Context, id, target string, configDrive json.RawMessage) error {
	return c.call(ctx, http.MethodPut, "/v1/nodes/"+id+"/states/provision", func() error {
		return nodes.ChangeProvisionState(ctx, c.sc, id, provisionBody{target, configDrive}).ExtractErr()
	})
}

// nodeBody adapts a node creation to gophercloud.
type nodeBody NewNode

func (b nodeBody) ToNodeCreateMap() (map[string]any, error) {
	data, err := json.Marshal(NewNode(b))
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}

// CreateNode implements API.
func (c *Client) CreateNode(ctx context.Context, nn NewNode) (Node, error) {
	var n Node
	err := c.call(ctx, http.MethodPost, "/v1/nodes", func() error {
		n = Node{}
		return nodes.Create(ctx, c.sc, nodeBody(nn)).ExtractInto(&n)
	})
	return n, err
}

// CreatePort implements API.
func (c *Client) CreatePort(ctx context.Context, nodeID, mac string) (Port, error) {
	var p Port
	err := c.call(ctx, http.MethodPost, "/v1/ports", func() error {
		p = Port{}
		return ports.Create(ctx, c.sc, ports.CreateOpts{NodeUUID: nodeID, Address: mac}).ExtractInto(&p)
	})
	return p, err
}

// call runs one request, retrying it when Ironic answered 409 (locked) or 503, and turns its
// error into an *APIError, an unreachable error naming the server, or ctx's error.
func (c *Client) call(ctx context.Context, method, path string, do func() error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		err := c.classify(ctx, method, path, do())
		if err == nil || !retryable(err) || attempt >= c.retries {
			if err != nil && attempt > 0 {
				err = fmt.Errorf("%w (after %d retries)", err, attempt)
			}
			return err
		}
		t := time.NewTimer(backoff(c.retryBase, attempt))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: %w, while waiting to retry after: %v", method, path, ctx.Err(), err)
		case <-t.C:
		}
	}
}

func retryable(err error) bool {
	var ae *APIError
	return errors.Is(err, ErrLocked) || errors.As(err, &ae) && ae.Status == http.StatusServiceUnavailable
}

// backoff is the delay before retry number attempt+1: base·2^attempt, at most maxRetryDelay,
// of which a random part up to half is left out so that clients do not retry in step.
func backoff(base time.Duration, attempt int) time.Duration {
	d := base
	for range attempt {
		if d >= maxRetryDelay {
			break
		}
		d *= 2
	}
	d = min(d, maxRetryDelay)
	return d - rand.N(d/2+1)
}

func (c *Client) classify(ctx context.Context, method, path string, err error) error {
	if err == nil {
		return nil
	}
	var code gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &code) {
		msg := ironicMessage(code.Body)
		if code.Actual == http.StatusBadGateway || code.Actual == http.StatusGatewayTimeout {
			return &unreachableError{server: c.base, method: method, path: path,
				err: fmt.Errorf("%d %s: %s", code.Actual, http.StatusText(code.Actual), msg)}
		}
		return &APIError{Method: method, Path: path, Status: code.Actual, Message: msg}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s %s: %w", method, path, ctx.Err())
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return &unreachableError{server: c.base, method: method, path: path, err: ue.Err}
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

// unreachableError says Ironic did not answer, naming where it was looked for.
type unreachableError struct {
	server, method, path string
	err                  error
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("ironic at %s unreachable: %s %s: %v", e.server, e.method, e.path, e.err)
}

func (e *unreachableError) Unwrap() error { return e.err }

func (e *unreachableError) Is(target error) bool { return target == ErrUnreachable }
