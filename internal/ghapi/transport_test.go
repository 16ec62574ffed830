package ghapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v66/github"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestTransportRetries(t *testing.T) {
	start := newClock().Now()
	in := func(d time.Duration) string { return unix(start.Add(d)) }

	tests := []struct {
		name   string
		method string
		path   string
		body   string
		policy RetryPolicy // Sleep and Now are filled in
		steps  []step

		wantAttempts int
		wantStatus   int // 0 when an error is expected
		wantWaits    []time.Duration
		jittered     bool // each wait w lies in [want/2, want]
		wantLater    *RetryLaterError
		wantErr      bool
	}{
		{
			name: "POST 502 then 200 re-sends the same body", method: "POST", body: `{"body":"plan"}`,
			steps:        []step{{status: 502}, {status: 201}},
			wantAttempts: 2, wantStatus: 201, wantWaits: []time.Duration{time.Second}, jittered: true,
		},
		{
			name: "POST 500 is not retried, it may have been applied", method: "POST", body: `{"body":"plan"}`,
			steps:        []step{{status: 500}, {status: 201}},
			wantAttempts: 1, wantStatus: 500,
		},
		{
			name: "GET 500 is retried", method: "GET",
			steps:        []step{{status: 500}, {status: 200}},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{time.Second}, jittered: true,
		},
		{
			name: "PATCH 500 is retried", method: "PATCH", body: `{"status":"completed"}`,
			steps:        []step{{status: 500}, {status: 200}},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{time.Second}, jittered: true,
		},
		{
			name: "POST 503 and 504 are retried", method: "POST", body: `{}`,
			steps:        []step{{status: 503}, {status: 504}, {status: 201}},
			wantAttempts: 3, wantStatus: 201, wantWaits: []time.Duration{time.Second, 2 * time.Second}, jittered: true,
		},
		{
			name: "installation token POST 500 is retried", method: "POST", path: "/app/installations/7/access_tokens",
			steps:        []step{{status: 500}, {status: 201}},
			wantAttempts: 2, wantStatus: 201, wantWaits: []time.Duration{time.Second}, jittered: true,
		},
		{
			name: "5xx backoff doubles and the last answer is returned", method: "GET",
			steps:        []step{{status: 503}},
			wantAttempts: 4, wantStatus: 503, wantWaits: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, jittered: true,
		},
		{
			name: "5xx backoff is capped by MaxDelay", method: "GET", policy: RetryPolicy{BaseDelay: 4 * time.Second, MaxDelay: 5 * time.Second},
			steps:        []step{{status: 503}},
			wantAttempts: 4, wantStatus: 503, wantWaits: []time.Duration{4 * time.Second, 5 * time.Second, 5 * time.Second}, jittered: true,
		},
		{
			name: "503 Retry-After longer than the backoff is honoured", method: "GET",
			steps:        []step{{status: 503, header: map[string]string{"Retry-After": "20"}}, {status: 200}},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{20 * time.Second},
		},
		{
			name: "MaxAttempts 1 disables retries", method: "GET", policy: RetryPolicy{MaxAttempts: 1},
			steps:        []step{{status: 502}, {status: 200}},
			wantAttempts: 1, wantStatus: 502,
		},
		{
			name: "429 with Retry-After waits that long", method: "POST", body: `{}`,
			steps:        []step{{status: 429, header: map[string]string{"Retry-After": "3"}}, {status: 201}},
			wantAttempts: 2, wantStatus: 201, wantWaits: []time.Duration{3 * time.Second},
		},
		{
			name: "403 with Retry-After is a secondary rate limit", method: "GET",
			steps:        []step{{status: 403, header: map[string]string{"Retry-After": "2"}}, {status: 200}},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{2 * time.Second},
		},
		{
			name: "403 with remaining 0 waits until the reset", method: "GET",
			steps: []step{
				{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": in(10 * time.Second)}},
				{status: 200},
			},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{10*time.Second + resetSlack},
		},
		{
			name: "429 with remaining 0 waits until the reset", method: "POST", body: `{}`,
			steps: []step{
				{status: 429, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": in(5 * time.Second)}},
				{status: 201},
			},
			wantAttempts: 2, wantStatus: 201, wantWaits: []time.Duration{5*time.Second + resetSlack},
		},
		{
			name: "reset already past waits only the slack", method: "GET",
			steps: []step{
				{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": in(-5 * time.Second)}},
				{status: 200},
			},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{resetSlack},
		},
		{
			name: "429 without headers waits a minute", method: "GET",
			steps:        []step{{status: 429}, {status: 200}},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{time.Minute},
		},
		{
			name: "plain 403 is a permission error", method: "GET",
			steps:        []step{{status: 403, body: `{"message":"Resource not accessible by integration"}`}, {status: 200}},
			wantAttempts: 1, wantStatus: 403,
		},
		{
			name: "404 is not retried", method: "GET",
			steps:        []step{{status: 404}, {status: 200}},
			wantAttempts: 1, wantStatus: 404,
		},
		{
			name: "reset an hour ahead is not slept", method: "GET",
			steps: []step{
				{status: 403, header: map[string]string{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": in(time.Hour)}},
				{status: 200},
			},
			wantAttempts: 1,
			wantLater:    &RetryLaterError{Until: start.Add(time.Hour + resetSlack), Reason: ReasonRateLimit},
		},
		{
			name: "Retry-After beyond MaxWait is not slept", method: "GET", policy: RetryPolicy{MaxWait: 10 * time.Second},
			steps:        []step{{status: 429, header: map[string]string{"Retry-After": "11"}}, {status: 200}},
			wantAttempts: 1,
			wantLater:    &RetryLaterError{Until: start.Add(11 * time.Second), Reason: ReasonSecondaryRateLimit},
		},
		{
			name: "rate limit still in force after the last attempt", method: "GET",
			steps:        []step{{status: 429, header: map[string]string{"Retry-After": "1"}}},
			wantAttempts: 4, wantWaits: []time.Duration{time.Second, time.Second, time.Second},
			wantLater: &RetryLaterError{Until: start.Add(4 * time.Second), Reason: ReasonSecondaryRateLimit},
		},
		{
			name: "GET after a dropped connection is retried", method: "GET",
			steps:        []step{{hangUp: true}, {status: 200}},
			wantAttempts: 2, wantStatus: 200, wantWaits: []time.Duration{time.Second}, jittered: true,
		},
		{
			name: "POST after a dropped connection is not retried", method: "POST", body: `{}`,
			steps:        []step{{hangUp: true}, {status: 201}},
			wantAttempts: 1, wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, ts := newScript(t, tt.steps...)
			clk := newClock()
			p := tt.policy
			p.Sleep, p.Now = clk.Sleep, clk.Now
			base := &http.Transport{}
			t.Cleanup(base.CloseIdleConnections)
			client := &http.Client{Transport: &Transport{Base: base, Retry: p}}

			path := tt.path
			if path == "" {
				path = "/repos/o/r/issues/1/comments"
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req, err := http.NewRequestWithContext(t.Context(), tt.method, ts.URL+path, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if resp != nil {
				resp.Body.Close()
			}

			got := srv.requests()
			if len(got) != tt.wantAttempts {
				t.Errorf("server got %d requests, want %d", len(got), tt.wantAttempts)
			}
			for i, r := range got {
				if r.body != tt.body {
					t.Errorf("attempt %d sent body %q, want %q", i+1, r.body, tt.body)
				}
			}
			checkWaits(t, clk.Waits(), tt.wantWaits, tt.jittered)

			switch {
			case tt.wantLater != nil:
				var rl *RetryLaterError
				if !errors.As(err, &rl) {
					t.Fatalf("error = %v, want a *RetryLaterError", err)
				}
				if !rl.Until.Equal(tt.wantLater.Until) || rl.Reason != tt.wantLater.Reason {
					t.Errorf("RetryLaterError{Until: %v, Reason: %q}, want {Until: %v, Reason: %q}", rl.Until, rl.Reason, tt.wantLater.Until, tt.wantLater.Reason)
				}
			case tt.wantErr:
				var rl *RetryLaterError
				if err == nil || errors.As(err, &rl) {
					t.Errorf("error = %v, want a transport error", err)
				}
			case err != nil:
				t.Fatalf("unexpected error: %v", err)
			case resp.StatusCode != tt.wantStatus:
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
		})
	}
}

func TestTransportStopsBeforeAppJWTExpires(t *testing.T) {
	srv, ts := newScript(t,
		step{status: 429, header: map[string]string{"Retry-After": "40"}},
		step{status: 429, header: map[string]string{"Retry-After": "40"}},
		step{status: 201},
	)
	clk := newClock()
	client := &http.Client{Transport: &Transport{Retry: clk.policy()}}
	req, err := http.NewRequestWithContext(t.Context(), "POST", ts.URL+"/app/installations/7/access_tokens", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.sig")

	_, err = client.Do(req)

	// Waiting 40 s twice would re-send a JWT 80 s old, past the margin.
	var rl *RetryLaterError
	if !errors.As(err, &rl) || !rl.Until.Equal(clk.Now().Add(40*time.Second)) {
		t.Errorf("error = %v, want RetryLaterError until 40s after the second answer", err)
	}
	if n := len(srv.requests()); n != 2 {
		t.Errorf("server got %d requests, want 2", n)
	}
}

func checkWaits(t *testing.T, got, want []time.Duration, jittered bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("slept %v, want %d sleeps like %v", got, len(want), want)
		return
	}
	for i := range got {
		lo := want[i]
		if jittered {
			lo = want[i] / 2
		}
		if got[i] < lo || got[i] > want[i] {
			t.Errorf("sleep %d = %v, want between %v and %v", i+1, got[i], lo, want[i])
		}
	}
}

// oneShotBody is a request body that cannot be rewound (no GetBody).
type oneShotBody struct{ io.Reader }

func TestTransportDoesNotRetryBodyItCannotResend(t *testing.T) {
	srv, ts := newScript(t, step{status: 503}, step{status: 201})
	clk := newClock()
	client := &http.Client{Transport: &Transport{Retry: clk.policy()}}
	req, err := http.NewRequestWithContext(t.Context(), "PUT", ts.URL+"/x", oneShotBody{strings.NewReader("data")})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || len(srv.requests()) != 1 {
		t.Errorf("got status %d after %d requests, want the 503 after 1", resp.StatusCode, len(srv.requests()))
	}
}

// newGitHub returns a go-github client whose requests go through tr to ts.
func newGitHub(t *testing.T, url string, tr *Transport) *github.Client {
	t.Helper()
	gh := github.NewClient(&http.Client{Transport: tr})
	api, _, err := apiURLs(url)
	if err != nil {
		t.Fatal(err)
	}
	gh.BaseURL = api
	return gh
}

func TestTransportThroughGoGitHub(t *testing.T) {
	start := newClock().Now()
	t.Run("RetryLaterError is found in go-github's error", func(t *testing.T) {
		srv, ts := newScript(t, step{status: 403, header: map[string]string{
			"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": unix(start.Add(time.Hour)), "X-RateLimit-Resource": "core",
		}})
		clk := newClock()
		gh := newGitHub(t, ts.URL, &Transport{Retry: clk.policy()})

		_, _, err := gh.Repositories.Get(t.Context(), "o", "r")

		var rl *RetryLaterError
		if !errors.As(err, &rl) {
			t.Fatalf("error = %v (%T), want one wrapping *RetryLaterError", err, err)
		}
		if want := start.Add(time.Hour + resetSlack); !rl.Until.Equal(want) {
			t.Errorf("Until = %v, want %v", rl.Until, want)
		}
		if got, ok := AsRetryLater(err, clk.Now()); !ok || got != rl {
			t.Errorf("AsRetryLater = %v, %v; want the same error", got, ok)
		}
		if n := len(srv.requests()); n != 1 || len(clk.Waits()) != 0 {
			t.Errorf("sent %d requests and slept %v, want 1 request and no sleep", n, clk.Waits())
		}
	})
	t.Run("plain 403 comes back as go-github's ErrorResponse", func(t *testing.T) {
		srv, ts := newScript(t, step{status: 403, header: map[string]string{"Content-Type": "application/json"},
			body: `{"message":"Resource not accessible by integration"}`})
		clk := newClock()
		gh := newGitHub(t, ts.URL, &Transport{Retry: clk.policy()})

		_, _, err := gh.Issues.CreateComment(t.Context(), "o", "r", 1, &github.IssueComment{Body: github.String("plan")})

		var er *github.ErrorResponse
		if !errors.As(err, &er) || er.Response.StatusCode != 403 || er.Message != "Resource not accessible by integration" {
			t.Errorf("error = %v, want go-github's 403 ErrorResponse", err)
		}
		if _, ok := AsRetryLater(err, clk.Now()); ok {
			t.Errorf("AsRetryLater(%v) = true, want false for a permission error", err)
		}
		if n := len(srv.requests()); n != 1 {
			t.Errorf("sent %d requests, want 1", n)
		}
	})
	t.Run("cancelling ctx during a wait returns at once", func(t *testing.T) {
		srv, ts := newScript(t, step{status: 429, header: map[string]string{"Retry-After": "30"}}, step{status: 201})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		clk := newClock()
		clk.onWait = func(ctx context.Context) error {
			cancel() // the job is being shut down while we wait
			<-ctx.Done()
			return ctx.Err()
		}
		gh := newGitHub(t, ts.URL, &Transport{Retry: clk.policy()})

		_, _, err := gh.Issues.CreateComment(ctx, "o", "r", 1, &github.IssueComment{Body: github.String("plan")})

		if !errors.Is(err, context.Canceled) {
			t.Errorf("error = %v, want context.Canceled", err)
		}
		if n := len(srv.requests()); n != 1 {
			t.Errorf("sent %d requests, want 1 (no retry after cancellation)", n)
		}
	})
}

func TestSleepStopsWhenContextIsDone(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	// If sleep ignored ctx this would block for an hour and the test binary
	// would time out.
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep = %v, want context.Canceled", err)
	}
}

func TestAsRetryLaterAfterGoGitHubStopsSending(t *testing.T) {
	// go-github remembers a response that used up the rate limit and refuses
	// further calls itself, using the real clock, so the reset is real time.
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	srv, ts := newScript(t, step{status: 200, body: `{"name":"r"}`, header: map[string]string{
		"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": unix(reset), "X-RateLimit-Resource": "core",
	}})
	gh := newGitHub(t, ts.URL, &Transport{Retry: newClock().policy()})

	if _, _, err := gh.Repositories.Get(t.Context(), "o", "r"); err != nil {
		t.Fatalf("first call: %v", err)
	}
	_, _, err := gh.Repositories.Get(t.Context(), "o", "r")
	if err == nil {
		t.Fatal("second call succeeded, want go-github to refuse it")
	}
	rl, ok := AsRetryLater(err, time.Now())
	if !ok {
		t.Fatalf("AsRetryLater(%v) = false, want true", err)
	}
	if !rl.Until.Equal(reset) || rl.Reason != ReasonRateLimit {
		t.Errorf("got {Until: %v, Reason: %q}, want {Until: %v, Reason: %q}", rl.Until, rl.Reason, reset, ReasonRateLimit)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("server got %d requests, want 1", n)
	}
}

func TestTransportMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	m := NewMetrics(reg)
	_, ts := newScript(t,
		step{status: 502},
		step{status: 403, header: map[string]string{"Retry-After": "1"}},
		step{status: 200, header: map[string]string{"X-RateLimit-Remaining": "4998", "X-RateLimit-Resource": "core"}},
		step{hangUp: true},
		step{status: 200, header: map[string]string{"X-RateLimit-Remaining": "29", "X-RateLimit-Resource": "search"}},
	)
	clk := newClock()
	// Without keep-alives: net/http itself silently re-sends a GET whose
	// reused connection was closed, and this test wants to see the error.
	base := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: &Transport{Base: base, Retry: clk.policy(), Metrics: m}}
	for range 2 {
		resp, err := client.Get(ts.URL + "/repos/o/r")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}

	want := `
# HELP cac_github_rate_limit_remaining Requests left in the current GitHub rate-limit window, from the last response's X-RateLimit-Remaining, by X-RateLimit-Resource.
# TYPE cac_github_rate_limit_remaining gauge
cac_github_rate_limit_remaining{resource="core"} 4998
cac_github_rate_limit_remaining{resource="search"} 29
# HELP cac_github_requests_total GitHub API requests sent, by method and HTTP status ("error" for transport errors). Each retry counts as a request.
# TYPE cac_github_requests_total counter
cac_github_requests_total{method="GET",status="200"} 2
cac_github_requests_total{method="GET",status="403"} 1
cac_github_requests_total{method="GET",status="502"} 1
cac_github_requests_total{method="GET",status="error"} 1
# HELP cac_github_retries_total GitHub API requests retried, by reason (5xx, secondary_rate_limit, rate_limit, transport).
# TYPE cac_github_retries_total counter
cac_github_retries_total{reason="5xx"} 1
cac_github_retries_total{reason="secondary_rate_limit"} 1
cac_github_retries_total{reason="transport"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want)); err != nil {
		t.Error(err)
	}

	if again := NewMetrics(reg); again.requests != m.requests {
		t.Error("NewMetrics on the same registry did not reuse the registered collectors")
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.observeRequest("GET", nil, errors.New("boom"))
	m.observeRateLimit(http.Header{"X-Ratelimit-Remaining": {"1"}})
	m.observeRetry(Reason5xx)
}

func TestTransportLogsWithoutCredentials(t *testing.T) {
	srv, ts := newScript(t, step{status: 502}, step{status: 200})
	var logs bytes.Buffer
	client := &http.Client{Transport: &Transport{
		Retry:     newClock().policy(),
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		UserAgent: "cluster-as-code/test",
	}}
	req, err := http.NewRequestWithContext(t.Context(), "GET", ts.URL+"/repos/o/r?access_token=ghs_querysecret", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "token ghs_headersecret")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()

	out := logs.String()
	if !strings.Contains(out, "retrying GitHub request") || !strings.Contains(out, "/repos/o/r") {
		t.Errorf("log %q does not mention the retried request", out)
	}
	if strings.Contains(out, "secret") {
		t.Errorf("log leaks a credential: %q", out)
	}
	for i, r := range srv.requests() {
		if ua := r.header.Get("User-Agent"); ua != "cluster-as-code/test" {
			t.Errorf("attempt %d User-Agent = %q, want cluster-as-code/test", i+1, ua)
		}
		if auth := r.header.Get("Authorization"); auth != "token ghs_headersecret" {
			t.Errorf("attempt %d Authorization = %q, want the caller's header kept", i+1, auth)
		}
	}
	if req.Header.Get("User-Agent") != "" {
		t.Error("Transport modified the caller's request headers")
	}
}
