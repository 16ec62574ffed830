package githubapp

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cluster-as-code/cluster-as-code/internal/githubtest"
	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// acceptor records what the webhook stored.
type acceptor struct {
	stored []store.Delivery
	seen   map[string]bool
	err    error
}

func (a *acceptor) Accept(_ context.Context, d store.Delivery) (bool, error) {
	if a.err != nil {
		return false, a.err
	}
	if a.seen == nil {
		a.seen = map[string]bool{}
	}
	if a.seen[d.ID] {
		return false, nil
	}
	a.seen[d.ID] = true
	a.stored = append(a.stored, d)
	return true, nil
}

func TestWebhook(t *testing.T) {
	secret := []byte("it's a secret to everybody")
	body := `{"action":"opened","number":1}`
	cases := []struct {
		name      string
		method    string
		event, id string
		body      string
		signature string // "" = signed correctly, "-" = none
		storeErr  error
		status    int
		outcome   string
		stored    bool
	}{
		{name: "stored", event: "pull_request", id: "a", body: body, status: 202, outcome: "accepted", stored: true},
		{name: "no signature", event: "pull_request", id: "a", body: body, signature: "-", status: 401, outcome: "bad_signature"},
		{name: "wrong signature", event: "pull_request", id: "a", body: body, signature: githubtest.Sign([]byte("other"), []byte(body)), status: 401, outcome: "bad_signature"},
		{name: "sha1 signature only", event: "pull_request", id: "a", body: body, signature: "sha1=0123", status: 401, outcome: "bad_signature"},
		{name: "not hex", event: "pull_request", id: "a", body: body, signature: "sha256=zz", status: 401, outcome: "bad_signature"},
		{name: "no delivery id", event: "pull_request", body: body, status: 400, outcome: "bad_request"},
		{name: "not JSON", event: "pull_request", id: "a", body: "action=opened", status: 400, outcome: "bad_request"},
		{name: "too large", event: "pull_request", id: "a", body: `{"pad":"` + strings.Repeat("x", 2000) + `"}`, status: 413, outcome: "too_large"},
		{name: "ping is answered, not stored", event: "ping", id: "p", body: `{"zen":"Design for failure."}`, status: 200, outcome: "ignored"},
		{name: "events the app does not work", event: "star", id: "s", body: `{}`, status: 200, outcome: "ignored"},
		{name: "GET", method: http.MethodGet, event: "pull_request", id: "a", body: "", status: 405, outcome: "bad_request"},
		{name: "store down", event: "pull_request", id: "a", body: body, storeErr: errors.New("disk full"), status: 503, outcome: "error"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acc := &acceptor{err: c.storeErr}
			reg := prometheus.NewRegistry()
			m := NewMetrics(reg)
			h, err := NewWebhook(secret, acc, 1024, m, nil)
			if err != nil {
				t.Fatal(err)
			}
			method := c.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "/api/github/webhooks", strings.NewReader(c.body))
			req.Header.Set("X-GitHub-Event", c.event)
			req.Header.Set("X-GitHub-Delivery", c.id)
			switch c.signature {
			case "":
				req.Header.Set("X-Hub-Signature-256", githubtest.Sign(secret, []byte(c.body)))
			case "-":
			default:
				req.Header.Set("X-Hub-Signature-256", c.signature)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.status {
				t.Errorf("status %d, want %d (%s)", rec.Code, c.status, rec.Body)
			}
			if !strings.Contains(rec.Body.String(), `"status":"`+c.outcome+`"`) {
				t.Errorf("body %s, want status %q", rec.Body, c.outcome)
			}
			if got := len(acc.stored) == 1; got != c.stored {
				t.Errorf("stored %v, want %v", acc.stored, c.stored)
			}
			if c.stored && (acc.stored[0].ID != c.id || acc.stored[0].Event != c.event || string(acc.stored[0].Payload) != c.body) {
				t.Errorf("stored %+v, want the delivery as sent", acc.stored[0])
			}
			label := eventLabel(c.event, Handled())
			if n := testutil.ToFloat64(m.deliveries.WithLabelValues(label, c.outcome)); n != 1 {
				t.Errorf("cac_webhook_deliveries_total{event=%q,outcome=%q} = %v, want 1", label, c.outcome, n)
			}
		})
	}
}

func TestWebhookRefusesToRunWithoutASecret(t *testing.T) {
	if _, err := NewWebhook(nil, &acceptor{}, 0, nil, nil); err == nil {
		t.Fatal("NewWebhook accepted an empty secret: unsigned deliveries would be taken")
	}
}

func TestWebhookDuplicateIsAnsweredWithoutStoringAgain(t *testing.T) {
	secret := []byte("s")
	acc := &acceptor{}
	h, _ := NewWebhook(secret, acc, 0, nil, nil)
	var codes []int
	for range 2 {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{}`))
		req.Header.Set("X-GitHub-Event", "issue_comment")
		req.Header.Set("X-GitHub-Delivery", "same")
		req.Header.Set("X-Hub-Signature-256", githubtest.Sign(secret, []byte(`{}`)))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		codes = append(codes, rec.Code)
	}
	if codes[0] != 202 || codes[1] != 200 || len(acc.stored) != 1 {
		t.Errorf("statuses %v and %d stored, want [202 200] and 1", codes, len(acc.stored))
	}
}
