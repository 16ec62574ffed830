package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"
)

// postgresSchema creates the store's own tables; River's come from its
// migrations.
var postgresSchema = []string{
	`CREATE TABLE IF NOT EXISTS cac_delivery (
		id TEXT PRIMARY KEY,
		event TEXT NOT NULL,
		payload BYTEA NOT NULL,
		received_at BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS cac_lease (
		key TEXT PRIMARY KEY,
		holder TEXT NOT NULL,
		expires_at BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS cac_pull_head (
		pull TEXT PRIMARY KEY,
		head_sha TEXT NOT NULL,
		seen_at BIGINT NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS cac_rollout (
		id TEXT PRIMARY KEY,
		repo TEXT NOT NULL,
		cluster TEXT NOT NULL,
		source TEXT NOT NULL,
		base_commit TEXT NOT NULL,
		head_commit TEXT NOT NULL,
		spec BYTEA NOT NULL,
		report BYTEA NOT NULL,
		status TEXT NOT NULL,
		message TEXT NOT NULL,
		created_at BIGINT NOT NULL,
		updated_at BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS cac_rollout_cluster ON cac_rollout (repo, cluster, created_at)`,
	`CREATE TABLE IF NOT EXISTS cac_rollout_event (
		seq BIGSERIAL PRIMARY KEY,
		rollout_id TEXT NOT NULL,
		at BIGINT NOT NULL,
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
		at BIGINT NOT NULL,
		PRIMARY KEY (repo, cluster)
	)`,
	`CREATE TABLE IF NOT EXISTS cac_lock (
		repo TEXT NOT NULL,
		cluster TEXT NOT NULL,
		pull BIGINT NOT NULL,
		owner TEXT NOT NULL,
		at BIGINT NOT NULL,
		PRIMARY KEY (repo, cluster)
	)`,
}

// migrationLock serialises schema changes between replicas starting at once.
const migrationLock = 0x63616301 // "cac" 1

type postgresBackend struct {
	pool   *pgxpool.Pool
	client *river.Client[pgx.Tx]
}

func openPostgres(ctx context.Context, url string, rc *river.Config) (_ *postgresBackend, err error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx's message can quote the URL; say only what is wrong.
		return nil, errors.New("opening the store: the database URL does not parse (want postgres://user@host:port/database)")
	}
	where := fmt.Sprintf("PostgreSQL at %s:%d/%s", cfg.ConnConfig.Host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", where, err)
	}
	defer func() {
		if err != nil {
			pool.Close()
		}
	}()
	if err := pool.Ping(ctx); err != nil {
		return nil, fmt.Errorf("opening %s: %w", where, err)
	}
	if err := migratePostgres(ctx, pool); err != nil {
		return nil, fmt.Errorf("migrating %s: %w", where, err)
	}
	client, err := river.NewClient(riverpgxv5.New(pool), rc)
	if err != nil {
		return nil, fmt.Errorf("creating the job queue: %w", err)
	}
	return &postgresBackend{pool: pool, client: client}, nil
}

func migratePostgres(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLock); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLock)
	migrator, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return err
	}
	if _, err := migrator.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return err
	}
	for _, stmt := range postgresSchema {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return err
		}
	}
	return nil
}

func (b *postgresBackend) name() string { return "postgres" }

func (b *postgresBackend) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := b.pool.Exec(ctx, rebind(query), args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (b *postgresBackend) queryValue(ctx context.Context, dest any, query string, args ...any) (bool, error) {
	err := b.pool.QueryRow(ctx, rebind(query), args...).Scan(dest)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

func (b *postgresBackend) queryRows(ctx context.Context, query string, args []any, row func(scan func(dest ...any) error) error) error {
	rows, err := b.pool.Query(ctx, rebind(query), args...)
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

func (b *postgresBackend) queryDelivery(ctx context.Context, id string) (Delivery, error) {
	d := Delivery{ID: id}
	var received int64
	err := b.pool.QueryRow(ctx, `SELECT event, payload, received_at FROM cac_delivery WHERE id = $1`, id).
		Scan(&d.Event, &d.Payload, &received)
	if errors.Is(err, pgx.ErrNoRows) {
		return Delivery{}, ErrNotFound
	}
	d.Received = time.UnixMilli(received)
	return d, err
}

func (b *postgresBackend) acceptBatch(ctx context.Context, ds []Delivery) (_ []bool, err error) {
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback(context.WithoutCancel(ctx))
		}
	}()
	fresh := make([]bool, len(ds))
	var jobs []river.InsertManyParams
	for i, d := range ds {
		tag, err := tx.Exec(ctx, `INSERT INTO cac_delivery (id, event, payload, received_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO NOTHING`, d.ID, d.Event, d.Payload, d.Received.UnixMilli())
		if err != nil {
			return nil, err
		}
		if tag.RowsAffected() == 1 {
			fresh[i] = true
			jobs = append(jobs, river.InsertManyParams{Args: deliveryArgs{DeliveryID: d.ID, Event: d.Event}})
		}
	}
	if len(jobs) > 0 {
		if _, err := b.client.InsertManyFastTx(ctx, tx, jobs); err != nil {
			return nil, err
		}
	}
	return fresh, tx.Commit(ctx)
}

func (b *postgresBackend) insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (bool, error) {
	res, err := b.client.Insert(ctx, args, opts)
	if err != nil {
		return false, err
	}
	return !res.UniqueSkippedAsDuplicate, nil
}

func (b *postgresBackend) start(ctx context.Context) error { return b.client.Start(ctx) }

func (b *postgresBackend) stop(ctx context.Context) error { return stopClient(ctx, b.client) }

func (b *postgresBackend) close() error {
	b.pool.Close()
	return nil
}
