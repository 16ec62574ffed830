// Package storetest gives tests a fresh PostgreSQL database of their own on
// the server scripts/test.sh starts.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvURL names the environment variable holding the test server's URL.
const EnvURL = "CAC_TEST_DATABASE_URL"

// PostgresURL creates an empty database for this test and returns its URL;
// the database is dropped when the test ends. Without a test server the test
// is skipped, except under CI (CI set), where it fails: CI must exercise the
// PostgreSQL path.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(EnvURL)
	if admin == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set; scripts/test.sh starts a PostgreSQL server and sets it", EnvURL)
		}
		t.Skipf("%s is not set; run the tests through scripts/test.sh to include PostgreSQL", EnvURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("connecting to the test PostgreSQL server: %v", err)
	}
	defer conn.Close(context.Background())
	buf := make([]byte, 6)
	rand.Read(buf)
	name := "cac_test_" + hex.EncodeToString(buf)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("creating test database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parsing %s: %v", EnvURL, err)
	}
	u.Path = "/" + name
	return u.String()
}
