package health

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"time"
)

// maxBody bounds how much of an HTTP answer is read.
const maxBody = 1 << 20

// newClient is the HTTP client of Options' zero value: a new connection for every request (a
// restarted server is asked, not a pooled connection to its predecessor), no proxy, and
// bounded waits.
func newClient() *http.Client {
	return &http.Client{
		Timeout: attemptTimeout,
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: attemptTimeout,
			DisableKeepAlives:     true,
		},
	}
}

// Etcd checks the etcd member at addr (host:port of its client URL): GET http://addr/health
// must answer 200 with {"health":"true"} (etcd 3.4; later versions add a "reason"). A nil
// client means the one Options' zero value uses.
func Etcd(ctx context.Context, client *http.Client, addr string) error {
	url := "http://" + addr + "/health"
	status, body, err := get(ctx, client, url)
	if err != nil {
		return err
	}
	var health struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if status != http.StatusOK {
		return fmt.Errorf("GET %s: got status %d, want 200: %s", url, status, quote(string(body)))
	}
	if err := json.Unmarshal(body, &health); err != nil {
		return fmt.Errorf("GET %s: not an etcd health answer: %s", url, quote(string(body)))
	}
	if health.Health != "true" {
		return fmt.Errorf("GET %s: health is %q, want \"true\": %s", url, health.Health, quote(string(body)))
	}
	return nil
}

// HTTP checks GET url: it must answer status (zero means 200) and, when body is not nil, a body
// that matches it. The body is matched without one trailing newline, so that ^pong$ matches
// "pong\n". A nil client means the one Options' zero value uses.
func HTTP(ctx context.Context, client *http.Client, url string, status int, body *regexp.Regexp) error {
	if status == 0 {
		status = http.StatusOK
	}
	got, data, err := get(ctx, client, url)
	if err != nil {
		return err
	}
	if got != status {
		return fmt.Errorf("GET %s: got status %d, want %d: %s", url, got, status, quote(string(data)))
	}
	trimmed := bytes.TrimSuffix(bytes.TrimSuffix(data, []byte("\n")), []byte("\r"))
	if body != nil && !body.Match(trimmed) {
		return fmt.Errorf("GET %s: body %s does not match %s", url, quote(string(data)), body)
	}
	return nil
}

// get sends GET url and returns the status and up to 1 MiB of the body.
func get(ctx context.Context, client *http.Client, url string) (int, []byte, error) {
	if client == nil {
		client = newClient()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return 0, nil, fmt.Errorf("GET %s: reading the body: %w", url, err)
	}
	return resp.StatusCode, data, nil
}

// TCP checks that addr accepts a TCP connection before ctx ends.
func TCP(ctx context.Context, addr string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return conn.Close()
}
