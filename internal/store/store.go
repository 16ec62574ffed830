// Package store is the bot's durable state: the webhook deliveries it has
// acknowledged, the job queue that works them (River), leases that keep two
// workers off the same pull request or cluster, the newest head of each pull
// request, and the rollout journal: every rollout, every step of it, and the
// commit last deployed to each cluster.
//
// It runs on SQLite by default, one file under a data directory owned by one
// process, and on PostgreSQL when a database URL is given, so that several
// replicas of the bot can share the work.
//
// A delivery is written in a transaction together with the job that will
// work it, before the webhook is answered: an acknowledged delivery survives
// the process being killed. Concurrent deliveries share one commit (group
// commit), so every acknowledgement is durable without one fsync each.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/riverqueue/river"
)

// Delivery is one webhook delivery as GitHub sent it.
type Delivery struct {
	// ID is GitHub's X-GitHub-Delivery header: unique per delivery, and the
	// same when a delivery is redelivered by hand.
	ID string
	// Event is the X-GitHub-Event header, such as "pull_request".
	Event string
	// Payload is the raw body.
	Payload []byte
	// Received is when the bot acknowledged it.
	Received time.Time

	// JobID and Attempt are set when the delivery is handed to a Handler:
	// the queue's id of the job working it, and which attempt this is (1 for
	// the first).
	JobID   int64
	Attempt int
}

// Handler works one delivery. An error makes the job retry with backoff,
// unless it is a Snooze (try again later without counting a failure) or a
// Permanent error (never retry).
type Handler func(ctx context.Context, d Delivery) error

// Config configures a Store. The zero value of every field but DataDir is
// usable.
type Config struct {
	// DataDir holds the SQLite file (bot.db) and its lock. Required when
	// DatabaseURL is empty.
	DataDir string
	// DatabaseURL selects PostgreSQL (postgres://…) instead of SQLite.
	DatabaseURL string
	// Handler works deliveries once Start is called. Nil means the store
	// only accepts deliveries.
	Handler Handler
	// Workers is how many deliveries are worked at once by this process;
	// zero means 4.
	Workers int
	// JobTimeout cancels a handler that runs longer; zero means 10 minutes.
	JobTimeout time.Duration
	// MaxAttempts is how often a failing delivery is tried before it is
	// given up; zero means 12 (the backoff between attempts grows as the
	// fourth power of the attempt, so 12 attempts span about 15 hours).
	MaxAttempts int
	// FetchPollInterval is how often idle workers look for new jobs. Zero
	// means 100 ms on SQLite, which has no way to announce an insert, and 1 s
	// on PostgreSQL, where LISTEN/NOTIFY announces new jobs at once and the
	// poll is only a fallback.
	FetchPollInterval time.Duration
	// DeliveryRetention is how long a delivery is kept, to recognise a
	// redelivery as a duplicate and to look into what GitHub sent; zero
	// means 14 days (GitHub offers redelivery for 3 days, 7 on GitHub
	// Enterprise Server).
	DeliveryRetention time.Duration
	// Tasks are the kinds of work the bot enqueues for itself (Enqueue).
	Tasks map[string]TaskKind
	// Logger receives the queue's warnings; nil discards them.
	Logger *slog.Logger
}

func (c Config) withDefaults() Config {
	if c.Workers == 0 {
		c.Workers = 4
	}
	if c.JobTimeout == 0 {
		c.JobTimeout = 10 * time.Minute
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = 12
	}
	if c.FetchPollInterval == 0 {
		c.FetchPollInterval = time.Second
		if c.DatabaseURL == "" {
			c.FetchPollInterval = 100 * time.Millisecond
		}
	}
	if c.DeliveryRetention == 0 {
		c.DeliveryRetention = 14 * 24 * time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Store is the bot's durable state. Its methods are safe for concurrent use.
type Store struct {
	cfg     Config
	backend backend
	accepts chan acceptRequest
	// mu guards the accept loop's lifecycle.
	mu         sync.Mutex
	closed     bool
	loopDone   chan struct{}
	loopCtx    context.Context
	loopCancel context.CancelFunc
}

// backend is what differs between SQLite and PostgreSQL.
type backend interface {
	// name is "sqlite" or "postgres".
	name() string
	// exec runs one statement written with ? placeholders and returns the
	// number of rows it changed.
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// queryValue runs a query returning at most one row of one column into
	// dest; ok is false when it returned no row.
	queryValue(ctx context.Context, dest any, query string, args ...any) (ok bool, err error)
	// queryRows runs a query written with ? placeholders and calls row for
	// each row it returns, with the function that scans it.
	queryRows(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error
	// queryDelivery loads one stored delivery.
	queryDelivery(ctx context.Context, id string) (Delivery, error)
	// acceptBatch stores deliveries and a job for each new one in one
	// transaction; fresh[i] tells whether ds[i] was new.
	acceptBatch(ctx context.Context, ds []Delivery) (fresh []bool, err error)
	// insert adds one job and reports whether it was new (not skipped as a
	// duplicate of a unique job).
	insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error)
	start(ctx context.Context) error
	stop(ctx context.Context) error
	close() error
}

// Open opens (and creates or migrates) the store. Call Close when done.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	s := &Store{cfg: cfg, accepts: make(chan acceptRequest, 1024)}
	workers := river.NewWorkers()
	river.AddWorker(workers, &deliveryWorker{store: s})
	river.AddWorker(workers, &taskWorker{store: s})
	rc := &river.Config{
		Logger:               cfg.Logger,
		JobTimeout:           cfg.JobTimeout,
		RescueStuckJobsAfter: cfg.JobTimeout + 5*time.Minute,
		MaxAttempts:          cfg.MaxAttempts,
		FetchPollInterval:    cfg.FetchPollInterval,
		FetchCooldown:        10 * time.Millisecond,
		Workers:              workers,
		Queues:               map[string]river.QueueConfig{river.QueueDefault: {MaxWorkers: cfg.Workers}},
	}
	var (
		b   backend
		err error
	)
	if cfg.DatabaseURL != "" {
		b, err = openPostgres(ctx, cfg.DatabaseURL, rc)
	} else {
		b, err = openSQLite(ctx, cfg.DataDir, rc)
	}
	if err != nil {
		return nil, err
	}
	s.backend = b
	s.loopCtx, s.loopCancel = context.WithCancel(context.WithoutCancel(ctx))
	s.loopDone = make(chan struct{})
	go s.acceptLoop(s.loopCtx)
	return s, nil
}

// Backend names the database in use: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.backend.name() }

// Start begins working deliveries with the configured Handler: those
// accepted before, including any a killed process left unfinished, and
// every one accepted from now on. Work goes on after ctx ends, until Stop.
func (s *Store) Start(ctx context.Context) error {
	if s.cfg.Handler == nil && len(s.cfg.Tasks) == 0 {
		return errors.New("starting the job queue: no handler configured")
	}
	// River reads the end of Start's context as a hard stop that cancels
	// running jobs; shutting down is Stop's job, so that jobs can finish.
	if err := s.backend.start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("starting the job queue: %w", err)
	}
	go s.pruneLoop(s.loopCtx)
	return nil
}

// pruneLoop deletes deliveries past their retention, at start and hourly.
func (s *Store) pruneLoop(ctx context.Context) {
	tick := time.NewTicker(time.Hour)
	defer tick.Stop()
	for {
		if n, err := s.Prune(ctx, time.Now().Add(-s.cfg.DeliveryRetention)); err != nil {
			s.cfg.Logger.Warn("pruning old deliveries", "err", err)
		} else if n > 0 {
			s.cfg.Logger.Info("pruned old deliveries", "count", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Prune deletes the deliveries received before cutoff whose work is over,
// and says how many.
func (s *Store) Prune(ctx context.Context, cutoff time.Time) (int64, error) {
	n, err := s.backend.exec(ctx, `DELETE FROM cac_delivery WHERE received_at < ? AND NOT EXISTS (
		SELECT 1 FROM river_job WHERE river_job.kind = 'github_delivery'
		AND river_job.state IN ('available', 'running', 'retryable', 'scheduled', 'pending')
		AND river_job.args ->> 'delivery_id' = cac_delivery.id)`, cutoff.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("pruning deliveries: %w", err)
	}
	return n, nil
}

// Deliveries counts the deliveries stored.
func (s *Store) Deliveries(ctx context.Context) (int64, error) {
	var n int64
	if _, err := s.backend.queryValue(ctx, &n, `SELECT count(*) FROM cac_delivery`); err != nil {
		return 0, fmt.Errorf("counting deliveries: %w", err)
	}
	return n, nil
}

// Stop stops taking new jobs and waits for the running ones to finish. When
// ctx ends first, the running jobs are cancelled; they are tried again on
// the next start.
func (s *Store) Stop(ctx context.Context) error {
	if err := s.backend.stop(ctx); err != nil {
		return fmt.Errorf("stopping the job queue: %w", err)
	}
	return nil
}

// Close finishes pending accepts and closes the database. Call Stop first if
// Start was called.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.accepts)
	<-s.loopDone
	s.loopCancel()
	return s.backend.close()
}

// ErrClosed is returned by Accept after Close.
var ErrClosed = errors.New("store is closed")

type acceptRequest struct {
	delivery Delivery
	result   chan acceptResult
}

type acceptResult struct {
	fresh bool
	err   error
}

// maxBatch bounds how many deliveries share one commit.
const maxBatch = 256

// Accept stores a delivery and the job that will work it, durably, and
// reports whether it was new: false means a delivery with the same ID was
// accepted before, and nothing was stored. When Accept returns nil the
// delivery survives the process being killed.
func (s *Store) Accept(ctx context.Context, d Delivery) (bool, error) {
	if d.ID == "" {
		return false, errors.New("accepting a delivery: no delivery id")
	}
	if d.Received.IsZero() {
		d.Received = time.Now()
	}
	req := acceptRequest{delivery: d, result: make(chan acceptResult, 1)}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false, ErrClosed
	}
	// Sending under the lock keeps Close from closing the channel under us;
	// the buffer makes the send immediate unless the writer is far behind.
	select {
	case s.accepts <- req:
	case <-ctx.Done():
		s.mu.Unlock()
		return false, ctx.Err()
	}
	s.mu.Unlock()
	select {
	case res := <-req.result:
		return res.fresh, res.err
	case <-ctx.Done():
		// The write may still commit; a redelivery is then recognised as
		// a duplicate, which is the safe outcome.
		return false, ctx.Err()
	}
}

// acceptLoop commits accepted deliveries in batches: whatever queued up while
// the previous commit ran goes into the next one.
func (s *Store) acceptLoop(ctx context.Context) {
	defer close(s.loopDone)
	batch := make([]acceptRequest, 0, maxBatch)
	for first := range s.accepts {
		batch = append(batch[:0], first)
	drain:
		for len(batch) < maxBatch {
			select {
			case req, ok := <-s.accepts:
				if !ok {
					break drain
				}
				batch = append(batch, req)
			default:
				break drain
			}
		}
		s.commit(ctx, batch)
	}
}

func (s *Store) commit(ctx context.Context, batch []acceptRequest) {
	ds := make([]Delivery, len(batch))
	for i, req := range batch {
		ds[i] = req.delivery
	}
	fresh, err := s.backend.acceptBatch(ctx, ds)
	for i, req := range batch {
		if err != nil {
			req.result <- acceptResult{err: fmt.Errorf("storing delivery %s: %w", req.delivery.ID, err)}
			continue
		}
		req.result <- acceptResult{fresh: fresh[i]}
	}
}

// Delivery loads a stored delivery by its id.
func (s *Store) Delivery(ctx context.Context, id string) (Delivery, error) {
	d, err := s.backend.queryDelivery(ctx, id)
	if err != nil {
		return Delivery{}, fmt.Errorf("loading delivery %s: %w", id, err)
	}
	return d, nil
}

// ErrNotFound is returned for a delivery the store does not hold.
var ErrNotFound = errors.New("not found")

// AcquireLease takes the lease on key for holder until ttl from now, and
// reports whether it got it. A holder may take its own lease again (to extend
// it, or after a restart); an expired lease goes to whoever asks.
func (s *Store) AcquireLease(ctx context.Context, key, holder string, ttl time.Duration) (bool, error) {
	now := time.Now()
	n, err := s.backend.exec(ctx, `INSERT INTO cac_lease (key, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE cac_lease.expires_at < ? OR cac_lease.holder = excluded.holder`,
		key, holder, now.Add(ttl).UnixMilli(), now.UnixMilli())
	if err != nil {
		return false, fmt.Errorf("acquiring lease %q: %w", key, err)
	}
	return n == 1, nil
}

// ReleaseLease gives up holder's lease on key; releasing a lease held by
// someone else does nothing.
func (s *Store) ReleaseLease(ctx context.Context, key, holder string) error {
	if _, err := s.backend.exec(ctx, `DELETE FROM cac_lease WHERE key = ? AND holder = ?`, key, holder); err != nil {
		return fmt.Errorf("releasing lease %q: %w", key, err)
	}
	return nil
}

// RecordHead records sha as the head of pull request pr (any stable key,
// such as "owner/repo#12") as of at, unless a head seen later is recorded
// already: deliveries may be worked out of order.
func (s *Store) RecordHead(ctx context.Context, pr, sha string, at time.Time) error {
	_, err := s.backend.exec(ctx, `INSERT INTO cac_pull_head (pull, head_sha, seen_at) VALUES (?, ?, ?)
		ON CONFLICT (pull) DO UPDATE SET head_sha = excluded.head_sha, seen_at = excluded.seen_at
		WHERE cac_pull_head.seen_at <= excluded.seen_at`,
		pr, sha, at.UnixNano())
	if err != nil {
		return fmt.Errorf("recording head of %s: %w", pr, err)
	}
	return nil
}

// Head returns the newest recorded head of pull request pr, or "" when none
// is recorded.
func (s *Store) Head(ctx context.Context, pr string) (string, error) {
	var sha string
	if _, err := s.backend.queryValue(ctx, &sha, `SELECT head_sha FROM cac_pull_head WHERE pull = ?`, pr); err != nil {
		return "", fmt.Errorf("reading head of %s: %w", pr, err)
	}
	return sha, nil
}

// rebind turns ? placeholders into PostgreSQL's $1, $2, …; the queries here
// hold no ? in literals.
func rebind(query string) string {
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Pending counts the deliveries accepted and not yet worked to an end:
// waiting, running, or waiting to be retried.
func (s *Store) Pending(ctx context.Context) (int64, error) {
	var n int64
	_, err := s.backend.queryValue(ctx, &n, `SELECT count(*) FROM river_job
		WHERE state IN ('available', 'running', 'retryable', 'scheduled', 'pending')`)
	if err != nil {
		return 0, fmt.Errorf("counting pending deliveries: %w", err)
	}
	return n, nil
}
