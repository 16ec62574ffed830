package ghapi

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const (
	headerRetryAfter    = "Retry-After"
	headerRateRemaining = "X-RateLimit-Remaining"
	headerRateReset     = "X-RateLimit-Reset"
	headerRateResource  = "X-RateLimit-Resource"

	// resetSlack is added to X-RateLimit-Reset: the header has one-second
	// resolution and our clock is not GitHub's.
	resetSlack = time.Second
	// defaultSecondaryWait is GitHub's advice for a secondary rate limit that
	// names no time: "wait for at least one minute".
	defaultSecondaryWait = time.Minute
	// jwtBudget is how long after the first attempt a request signed with
	// an App JWT may still be re-sent: ghinstallation signs JWTs valid for
	// 90 s (issued 30 s in the past, expiring two minutes later), and the
	// retries below it re-send the same header.
	jwtBudget = 60 * time.Second
	// maxDrain bounds how much of a discarded response body is read so the
	// connection can be reused.
	maxDrain = 64 << 10
)

// RetryPolicy bounds how [Transport] retries. The zero value is ready to use.
type RetryPolicy struct {
	// MaxAttempts is the number of attempts per request, the first one
	// included. Zero means 4; 1 disables retries.
	MaxAttempts int
	// BaseDelay is the backoff before the first retry after a 5xx or a
	// connection error; it doubles for every further retry. Zero means 1s.
	BaseDelay time.Duration
	// MaxDelay caps the backoff. Zero means 30s.
	MaxDelay time.Duration
	// MaxWait is the longest single wait Transport sleeps through. A longer
	// wait (a rate limit resetting in ten minutes) is not slept: the request
	// fails with a [*RetryLaterError] instead. Zero means 60s.
	MaxWait time.Duration
	// Sleep waits for d or until ctx is done, returning ctx.Err() in that
	// case. Nil means a real timer. Tests inject a recorder.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now tells the time, for X-RateLimit-Reset and RetryLaterError.Until.
	// Nil means time.Now.
	Now func() time.Time
}

func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 4
	}
	if p.BaseDelay <= 0 {
		p.BaseDelay = time.Second
	}
	if p.MaxDelay <= 0 {
		p.MaxDelay = 30 * time.Second
	}
	if p.MaxWait <= 0 {
		p.MaxWait = 60 * time.Second
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	if p.Now == nil {
		p.Now = time.Now
	}
	return p
}

// sleep waits for d unless ctx is done first.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Transport is an [http.RoundTripper] for the GitHub API that retries what is
// safe to retry and waits out rate limits.
//
// It retries, re-sending the body through Request.GetBody:
//
//   - 502, 503 and 504 for every method: GitHub's front end answered and the
//     request did not reach the application;
//   - 500 and connection errors only for idempotent requests (GET, HEAD, PUT,
//     PATCH, DELETE, OPTIONS, and the POST that creates an installation
//     token, since minting a second token is harmless). A POST that got a 500
//     may have been applied, and a second comment is worse than a failed job,
//     which the job queue retries anyway;
//   - 403 or 429 with Retry-After (a secondary rate limit): after that many
//     seconds;
//   - 403 or 429 with X-RateLimit-Remaining: 0 (the primary rate limit): after
//     X-RateLimit-Reset, plus one second of slack;
//   - 429 without either header: after one minute, as GitHub advises.
//
// A 403 without those headers is a permission error and is returned as is.
// A request signed with an App JWT ("Authorization: Bearer …") is not
// re-sent more than a minute after its first attempt, because the JWT would
// have expired; it ends with a [*RetryLaterError] instead.
//
// Backoff after 5xx and connection errors is exponential with jitter, or the
// server's Retry-After if that is longer. A wait longer than
// [RetryPolicy.MaxWait], or a rate limit still in force after the last
// attempt, ends the request with a [*RetryLaterError]. When the last attempt
// fails otherwise, its response or error is returned unchanged.
//
// Transport never logs headers, so tokens stay out of the logs. Its
// RoundTrip is safe for concurrent use; do not change the fields afterwards.
type Transport struct {
	// Base sends the requests. Nil means http.DefaultTransport.
	Base http.RoundTripper
	// Retry bounds the retries; the zero value is sensible.
	Retry RetryPolicy
	// Metrics records every attempt and retry. Nil records nothing.
	Metrics *Metrics
	// Logger receives one line per retry and per give-up. Nil logs nothing.
	Logger *slog.Logger
	// UserAgent is set on requests that have no User-Agent, such as
	// ghinstallation's token requests. Empty leaves them alone.
	UserAgent string
}

var _ http.RoundTripper = (*Transport)(nil)

// RoundTrip implements [http.RoundTripper].
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	p := t.Retry.withDefaults()
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	idempotent := isIdempotent(req)
	start := p.Now()
	signed := strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ")
	resendable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil

	out := req
	if t.UserAgent != "" && req.Header.Get("User-Agent") == "" {
		out = req.Clone(ctx) // RoundTrippers must not modify the caller's request
		out.Header.Set("User-Agent", t.UserAgent)
	}

	for attempt := 1; ; attempt++ {
		if attempt > 1 {
			var err error
			out, err = rewind(out)
			if err != nil {
				return nil, err
			}
		}
		resp, err := base.RoundTrip(out)
		t.Metrics.observeRequest(req.Method, resp, err)
		if err == nil {
			t.Metrics.observeRateLimit(resp.Header)
		}

		now := p.Now()
		d, retry := decide(ctx, resp, err, idempotent, p, attempt, now)
		if !retry {
			return resp, err
		}
		last := attempt >= p.MaxAttempts || !resendable
		if last && !d.rateLimited {
			return resp, err // a 5xx or connection error, as it came
		}
		expired := signed && now.Add(d.wait).Sub(start) > jwtBudget
		if last || d.wait > p.MaxWait || expired {
			discard(resp)
			rl := &RetryLaterError{Until: now.Add(d.wait), Reason: d.reason}
			t.log(ctx, slog.LevelWarn, "giving up on GitHub request until later", req, resp, err,
				slog.String("reason", d.reason), slog.Time("until", rl.Until), slog.Int("attempt", attempt))
			return nil, rl
		}
		discard(resp)
		t.log(ctx, slog.LevelInfo, "retrying GitHub request", req, resp, err,
			slog.String("reason", d.reason), slog.Duration("wait", d.wait), slog.Int("attempt", attempt))
		if err := p.Sleep(ctx, d.wait); err != nil {
			return nil, fmt.Errorf("waiting %s to retry %s %s: %w", d.wait, req.Method, req.URL.Path, err)
		}
		t.Metrics.observeRetry(d.reason)
	}
}

// decision says why and how long to wait before the next attempt.
type decision struct {
	reason      string
	wait        time.Duration
	rateLimited bool // waiting is mandatory: GitHub refused the request
}

// decide reports whether the outcome of one attempt is worth retrying.
func decide(ctx context.Context, resp *http.Response, err error, idempotent bool, p RetryPolicy, attempt int, now time.Time) (decision, bool) {
	if err != nil {
		if !idempotent || ctx.Err() != nil || !transient(err) {
			return decision{}, false
		}
		return decision{reason: ReasonTransport, wait: backoff(p, attempt)}, true
	}
	h := resp.Header
	switch code := resp.StatusCode; {
	case code == http.StatusForbidden || code == http.StatusTooManyRequests:
		if wait, ok := retryAfter(h, now); ok {
			return decision{reason: ReasonSecondaryRateLimit, wait: wait, rateLimited: true}, true
		}
		if h.Get(headerRateRemaining) == "0" {
			wait := defaultSecondaryWait
			if reset, ok := unixTime(h.Get(headerRateReset)); ok {
				wait = max(reset.Sub(now), 0) + resetSlack
			}
			return decision{reason: ReasonRateLimit, wait: wait, rateLimited: true}, true
		}
		if code == http.StatusTooManyRequests {
			return decision{reason: ReasonSecondaryRateLimit, wait: defaultSecondaryWait, rateLimited: true}, true
		}
		return decision{}, false
	case code == http.StatusBadGateway || code == http.StatusServiceUnavailable || code == http.StatusGatewayTimeout,
		code == http.StatusInternalServerError && idempotent:
		wait := backoff(p, attempt)
		if ra, ok := retryAfter(h, now); ok && ra > wait {
			wait = ra
		}
		return decision{reason: Reason5xx, wait: wait}, true
	}
	return decision{}, false
}

// backoff is the exponential delay before retry number attempt, with
// "equal jitter": half fixed, half random, so retries from several workers
// spread out but never come back immediately.
func backoff(p RetryPolicy, attempt int) time.Duration {
	d := p.BaseDelay
	for i := 1; i < attempt && d < p.MaxDelay; i++ {
		d *= 2
	}
	d = min(d, p.MaxDelay)
	half := d / 2
	if half <= 0 {
		return d
	}
	return half + rand.N(half+1)
}

// retryAfter parses Retry-After, which GitHub sends in seconds; an HTTP date
// is accepted too.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get(headerRetryAfter)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 || secs > int64(24*time.Hour/time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0), true
	}
	return 0, false
}

func unixTime(v string) (time.Time, bool) {
	secs, err := strconv.ParseInt(v, 10, 64)
	if err != nil || secs <= 0 {
		return time.Time{}, false
	}
	return time.Unix(secs, 0), true
}

func isIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	case http.MethodPost:
		return isTokenPath(req.URL.Path)
	}
	return false
}

// isTokenPath reports whether path is …/app/installations/{id}/access_tokens,
// the endpoint that mints installation tokens.
func isTokenPath(path string) bool {
	rest, ok := strings.CutSuffix(path, "/access_tokens")
	if !ok {
		return false
	}
	i := strings.LastIndexByte(rest, '/')
	if i < 0 || !strings.HasSuffix(rest[:i], "/app/installations") {
		return false
	}
	_, err := strconv.ParseUint(rest[i+1:], 10, 64)
	return err == nil
}

// transient reports whether a transport error may go away on its own.
func transient(err error) bool {
	var rl *RetryLaterError
	var unknownCA x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &rl), errors.As(err, &unknownCA), errors.As(err, &hostname),
		errors.As(err, &invalid), errors.As(err, &verify),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

// rewind returns a copy of req with a fresh body for another attempt.
func rewind(req *http.Request) (*http.Request, error) {
	next := req.Clone(req.Context())
	if req.Body == nil || req.Body == http.NoBody {
		return next, nil
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, fmt.Errorf("rewinding body of %s %s: %w", req.Method, req.URL.Path, err)
	}
	next.Body = body
	return next, nil
}

// discard drains and closes a response that will not be returned, so its
// connection can be reused.
func discard(resp *http.Response) {
	if resp == nil || resp.Body == nil {
		return
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDrain))
	_ = resp.Body.Close()
}

// log writes one line about req without headers, query or body, which is
// where credentials live.
func (t *Transport) log(ctx context.Context, level slog.Level, msg string, req *http.Request, resp *http.Response, err error, attrs ...slog.Attr) {
	if t.Logger == nil {
		return
	}
	attrs = append(attrs, slog.String("method", req.Method), slog.String("path", req.URL.Path))
	if resp != nil {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	t.Logger.LogAttrs(ctx, level, msg, attrs...)
}
