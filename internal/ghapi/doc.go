// Package ghapi builds the GitHub API clients the bot uses and keeps their
// traffic well behaved.
//
// Three pieces work together:
//
//   - [Transport] is an [http.RoundTripper] that retries transient failures
//     (502/503/504, 500 and connection errors for idempotent requests) with
//     exponential backoff, waits out GitHub's primary and secondary rate
//     limits, and gives up with a [*RetryLaterError] when the wait would be
//     too long to spend inside one job.
//   - [Metrics] counts requests, retries and the remaining rate limit for
//     Prometheus.
//   - [Clients] hands out go-github clients authenticated as the GitHub App
//     or as one of its installations, with the retrying [Transport] beneath
//     the authentication so that token requests are retried too.
//
// Callers that run work in a job queue should check errors with
// [AsRetryLater] and snooze the job until the returned time instead of
// failing it.
package ghapi
