package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	// The pure-Go SQLite driver registers itself as "sqlite".
	_ "modernc.org/sqlite"
)

// sqliteSchema creates the store's own tables; River's come from its
// migrations.
var sqliteSchema = []string{
	`CREATE TABLE IF NOT EXISTS cac_delivery (
		id TEXT PRIMARY KEY,
		event TEXT NOT NULL,
		payload BLOB NOT NULL,
		received_at INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS cac_lease (
		key TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_at INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS cac_pull_head (
		pull TEXT PRIMARY KEY,
		head_sha TEXT NOT NULL,
		seen_at INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS cac_rollout (
		id TEXT PRIMARY KEY,
		repo TEXT NOT NULL,
		cluster TEXT NOT NULL,
		source TEXT NOT NULL,
		base_commit TEXT NOT NULL,
		head_commit TEXT NOT NULL,
		spec BLOB NOT NULL,
		report BLOB NOT NULL,
		status TEXT NOT NULL,
		message TEXT NOT NULL,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS cac_rollout_cluster ON cac_rollout (repo, cluster, created_at)`,
	`CREATE TABLE IF NOT EXISTS cac_rollout_event (
		seq INTEGER PRIMARY KEY AUTOINCREMENT,
		rollout_id TEXT NOT NULL,
		at INTEGER NOT NULL,
		wave INTEGER NOT NULL,
		node TEXT NOT NULL,
		step TEXT NOT NULL,
		phase TEXT NOT NULL,
		state TEXT NOT NULL,
		detail TEXT NOT NULL,
		error TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS cac_rollout_event_rollout ON cac_rollout_event (rollout_id, seq)`,
	`CREATE TABLE IF NOT EXISTS cac_deployed (
		repo TEXT NOT NULL,
		cluster TEXT NOT NULL,
		commit_sha TEXT NOT NULL,
		rollout_id TEXT NOT NULL,
		at INTEGER NOT NULL,
		PRIMARY KEY (repo, cluster)
	)`,
	`CREATE TABLE IF NOT EXISTS cac_lock (
		repo TEXT NOT NULL,
		cluster TEXT NOT NULL,
		pull INTEGER NOT NULL,
		owner TEXT NOT NULL,
		at INTEGER NOT NULL,
		PRIMARY KEY (repo, cluster)
	)`,
}

type sqliteBackend struct {
	db     *sql.DB
	lock   *os.File
	client *river.Client[*sql.Tx]
}

// openSQLite opens DataDir/bot.db. The data directory is locked for this
// process: SQLite serves one bot, and the lock is what makes it safe to
// take back jobs a killed process left running.
func openSQLite(ctx context.Context, dir string, rc *river.Config) (_ *sqliteBackend, err error) {
	if dir == "" {
		return nil, errors.New("opening the store: no data directory and no database URL")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("opening the store: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.Close()
		}
	}()
	path := filepath.Join(dir, "bot.db")
	// WAL with synchronous=FULL: a commit is on disk when it returns, so an
	// acknowledged delivery survives a power cut, not only a killed process.
	// IMMEDIATE transactions take the write lock up front instead of failing
	// on upgrade.
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=busy_timeout(10000)&_pragma=foreign_keys(ON)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	// SQLite writes one transaction at a time; River's SQLite driver asks
	// for a single connection so its goroutines queue instead of failing
	// with SQLITE_BUSY.
	db.SetMaxOpenConns(1)
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	if err := db.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	driver := riversqlite.New(db)
	migrator, err := rivermigrate.New(driver, nil)
	if err != nil {
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return nil, fmt.Errorf("migrating %s: %w", path, err)
	}
	for _, stmt := range sqliteSchema {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return nil, fmt.Errorf("migrating %s: %w", path, err)
		}
	}
	// Nothing else can be running jobs from this file (the directory lock
	// says so), so a job still marked running was cut off by a killed
	// process. Make it available again now rather than after River's
	// stuck-job rescue, which waits past the job timeout.
	if _, err := db.ExecContext(ctx, `UPDATE river_job SET state = 'available' WHERE state = 'running'`); err != nil {
		return nil, fmt.Errorf("taking back jobs left running in %s: %w", path, err)
	}
	rc.PollOnly = true
	client, err := river.NewClient(driver, rc)
	if err != nil {
		return nil, fmt.Errorf("creating the job queue: %w", err)
	}
	return &sqliteBackend{db: db, lock: lock, client: client}, nil
}

// lockDir takes an exclusive lock on dir/bot.lock for the life of the
// process; a second bot on the same directory is refused.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "bot.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data directory %s is in use by another bot process (SQLite serves one process; give a PostgreSQL database URL to run several)", dir)
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

func (b *sqliteBackend) name() string { return "sqlite" }

func (b *sqliteBackend) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := b.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (b *sqliteBackend) queryValue(ctx context.Context, dest any, query string, args ...any) (bool, error) {
	err := b.db.QueryRowContext(ctx, query, args...).Scan(dest)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (b *sqliteBackend) queryRows(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := b.db.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (b *sqliteBackend) queryDelivery(ctx context.Context, id string) (Delivery, error) {
	d := Delivery{ID: id}
	var received int64
	err := b.db.QueryRowContext(ctx, `SELECT event, payload, received_at FROM cac_delivery WHERE id = ?`, id).
		Scan(&d.Event, &d.Payload, &received)
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	d.Received = time.UnixMilli(received)
	return d, err
}

func (b *sqliteBackend) acceptBatch(ctx context.Context, ds []Delivery) (_ []bool, err error) {
	tx, err := b.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	fresh := make([]bool, len(ds))
	var jobs []river.InsertManyParams
	for i, d := range ds {
		res, err := tx.ExecContext(ctx, `INSERT INTO cac_delivery (id, event, payload, received_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, d.Payload, d.Received.UnixMilli())
		if err != nil {
			return nil, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return nil, err
		}
		if n == 1 {
			fresh[i] = true
			jobs = append(jobs, river.InsertManyParams{Args: deliveryArgs{DeliveryID: d.ID, Event: d.Event}})
		}
	}
	if len(jobs) > 0 {
		if _, err := b.client.InsertManyFastTx(ctx, tx, jobs); err != nil {
			return nil, err
		}
	}
	return fresh, tx.Commit()
}

func (b *sqliteBackend) insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
	res, err := b.client.Insert(ctx, args, opts)
	if err != nil {
		return false, err
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

func (b *sqliteBackend) start(ctx context.Context) error { return b.client.Start(ctx) }

func (b *sqliteBackend) stop(ctx context.Context) error { return stopClient(ctx, b.client) }

func (b *sqliteBackend) close() error {
	err := b.db.Close()
	b.lock.Close()
	return err
}

// stopClient stops a River client softly, and cancels the running jobs when
// ctx ends first.
func stopClient[TTx any](ctx context.Context, c *river.Client[TTx]) error {
	err := c.Stop(ctx)
	if err == nil || ctx.Err() == nil {
		return err
	}
	hard, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return c.StopAndCancel(hard)
}
