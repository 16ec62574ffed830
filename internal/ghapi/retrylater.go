package ghapi

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/go-github/v66/github"
)

// Reasons for a retry, used as the reason label of cac_github_retries_total
// and in [RetryLaterError.Reason].
const (
	// Reason5xx is a 500 (idempotent requests only), 502, 503 or 504 answer.
	Reason5xx = "5xx"
	// ReasonSecondaryRateLimit is a 403 or 429 answer with Retry-After, or a
	// 429 without rate-limit headers.
	ReasonSecondaryRateLimit = "secondary_rate_limit"
	// ReasonRateLimit is a 403 or 429 answer with X-RateLimit-Remaining: 0.
	ReasonRateLimit = "rate_limit"
	// ReasonTransport is a connection error on an idempotent request.
	ReasonTransport = "transport"
)

// RetryLaterError reports that GitHub asked us to wait longer than
// [RetryPolicy.MaxWait] (or to wait again after the last allowed attempt).
// Nothing was applied on GitHub's side. Callers such as job workers should
// not count it as a failure: snooze the job until Until and run it again.
//
// The error comes out of go-github calls wrapped in *url.Error (and, for
// installation token requests, in ghinstallation's errors); find it with
// [errors.As] or with [AsRetryLater].
type RetryLaterError struct {
	// Until is the earliest time the request is worth sending again.
	Until time.Time
	// Reason is one of the Reason constants.
	Reason string
}

// Error implements error.
func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("github %s: retry after %s", reasonText(e.Reason), e.Until.UTC().Format(time.RFC3339))
}

func reasonText(reason string) string {
	switch reason {
	case ReasonRateLimit:
		return "rate limit exceeded"
	case ReasonSecondaryRateLimit:
		return "secondary rate limit exceeded"
	case Reason5xx:
		return "server error"
	default:
		return reason
	}
}

// AsRetryLater reports whether err means "try again later", and when.
//
// Besides [*RetryLaterError] it recognises go-github's own rate-limit errors:
// a go-github client remembers a response that left X-RateLimit-Remaining at
// 0 and, until the reset, fails further calls in the same category with
// *github.RateLimitError without sending anything, so [Transport] never sees
// them. A *github.AbuseRateLimitError without RetryAfter is given one minute,
// as GitHub's documentation advises. now is used for errors that carry a
// relative delay.
func AsRetryLater(err error, now time.Time) (*RetryLaterError, bool) {
	var rl *RetryLaterError
	if errors.As(err, &rl) {
		return rl, true
	}
	var primary *github.RateLimitError
	if errors.As(err, &primary) {
		until := primary.Rate.Reset.Time
		if until.Before(now) {
			until = now
		}
		return &RetryLaterError{Until: until, Reason: ReasonRateLimit}, true
	}
	var secondary *github.AbuseRateLimitError
	if errors.As(err, &secondary) {
		wait := time.Minute
		if secondary.RetryAfter != nil && *secondary.RetryAfter > 0 {
			wait = *secondary.RetryAfter
		}
		return &RetryLaterError{Until: now.Add(wait), Reason: ReasonSecondaryRateLimit}, true
	}
	return nil, false
}
