package ghapi

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// step is one scripted answer of a fake server.
type step struct {
	status int
	header map[string]string
	body   string
	hangUp bool // close the connection without answering
}

// received is what a fake server was sent.
type received struct {
	method, path, body string
	header             http.Header
}

// script is a fake GitHub that answers requests with steps in order, then
// with the last step forever, recording every request.
type script struct {
	mu    sync.Mutex
	steps []step
	got   []received
}

func newScript(t *testing.T, steps ...step) (*script, *httptest.Server) {
	t.Helper()
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	n := len(s.got)
	s.got = append(s.got, received{method: r.Method, path: r.URL.Path, body: string(body), header: r.Header.Clone()})
	st := s.steps[min(n, len(s.steps)-1)]
	s.mu.Unlock()
	if st.hangUp {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			_ = conn.Close()
		}
		return
	}
	for k, v := range st.header {
		w.Header().Set(k, v)
	}
	if st.status == 0 {
		st.status = http.StatusOK
	}
	w.WriteHeader(st.status)
	_, _ = io.WriteString(w, st.body)
}

func (s *script) requests() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.got...)
}

// clock is a fake clock that only moves when the code under test sleeps.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	waits  []time.Duration
	onWait func(ctx context.Context) error // nil = return ctx.Err()
}

func newClock() *clock {
	return &clock{now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	if c.onWait != nil {
		return c.onWait(ctx)
	}
	return ctx.Err()
}

func (c *clock) Waits() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

func (c *clock) policy() RetryPolicy {
	return RetryPolicy{Sleep: c.Sleep, Now: c.Now}
}

func unix(t time.Time) string { return strconv.FormatInt(t.Unix(), 10) }
