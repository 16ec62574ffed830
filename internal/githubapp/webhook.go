package githubapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/store"
)

// DefaultMaxBody is the largest delivery accepted: GitHub caps payloads at
// 25 MB.
const DefaultMaxBody = 25 << 20

// Acceptor stores a delivery durably and says whether it was new.
type Acceptor interface {
	Accept(ctx context.Context, d store.Delivery) (bool, error)
}

// Webhook is the HTTP handler for GitHub's deliveries. It verifies the
// signature, stores the deliveries the app works, and only then answers
// 2xx; it never calls GitHub itself.
type Webhook struct {
	// secret is the app's webhook secret; never empty (NewWebhook refuses
	// that, as anyone could then inject events).
	secret  []byte
	store   Acceptor
	maxBody int64
	metrics *Metrics
	log     *slog.Logger
	handled []string
}

// NewWebhook returns the webhook handler. maxBody zero means
// DefaultMaxBody; metrics and log may be nil.
func NewWebhook(secret []byte, st Acceptor, maxBody int64, metrics *Metrics, log *slog.Logger) (*Webhook, error) {
	if len(secret) == 0 {
		return nil, errors.New("no webhook secret: the bot will not accept unsigned deliveries")
	}
	if maxBody == 0 {
		maxBody = DefaultMaxBody
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Webhook{secret: secret, store: st, maxBody: maxBody, metrics: metrics, log: log, handled: Handled()}, nil
}

// ServeHTTP answers one delivery:
//   - 202 stored, to be worked; 200 a duplicate, or an event the app does
//     not work (ping among them);
//   - 401 bad or missing signature; 400 missing headers or a body that is
//     not JSON; 413 too large; 405 not a POST;
//   - 503 the store failed: nothing was acknowledged, and GitHub's
//     delivery log offers a redelivery.
func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	event := r.Header.Get("X-GitHub-Event")
	id := r.Header.Get("X-GitHub-Delivery")
	label := eventLabel(event, h.handled)
	answer := func(status int, outcome, msg string) {
		h.metrics.observeDelivery(label, outcome)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]string{"status": outcome, "message": msg})
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		answer(http.StatusMethodNotAllowed, "bad_request", "deliveries are POSTed")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			answer(http.StatusRequestEntityTooLarge, "too_large", "the delivery is larger than the bot accepts")
			return
		}
		answer(http.StatusBadRequest, "bad_request", "reading the body: "+err.Error())
		return
	}
	if !validSignature(h.secret, body, r.Header.Get("X-Hub-Signature-256")) {
		h.log.Warn("delivery with a bad or missing signature", "delivery", id, "event", event, "remote", r.RemoteAddr)
		answer(http.StatusUnauthorized, "bad_signature", "X-Hub-Signature-256 is missing or does not match the body")
		return
	}
	if event == "" || id == "" {
		answer(http.StatusBadRequest, "bad_request", "X-GitHub-Event and X-GitHub-Delivery are required")
		return
	}
	if !json.Valid(body) {
		answer(http.StatusBadRequest, "bad_request", "the body is not JSON")
		return
	}
	if !slices.Contains(h.handled, event) {
		answer(http.StatusOK, "ignored", "the bot does not work "+event+" events")
		return
	}
	fresh, err := h.store.Accept(r.Context(), store.Delivery{ID: id, Event: event, Payload: body, Received: time.Now()})
	if err != nil {
		h.log.Error("could not store a delivery", "delivery", id, "event", event, "err", err)
		answer(http.StatusServiceUnavailable, "error", "the delivery could not be stored; redeliver it")
		return
	}
	if !fresh {
		answer(http.StatusOK, "duplicate", "delivery "+id+" was received before")
		return
	}
	answer(http.StatusAccepted, "accepted", "stored")
}

// validSignature checks GitHub's HMAC-SHA256 of the raw body in constant
// time.
func validSignature(secret, body []byte, header string) bool {
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

// eventLabel bounds the metric's label values to the events the app works,
// so a stranger cannot grow the metric without end.
func eventLabel(event string, handled []string) string {
	switch {
	case slices.Contains(handled, event), event == "ping":
		return event
	case event == "":
		return "none"
	}
	return "other"
}
