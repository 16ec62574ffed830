package secrets_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/secrets"
	"github.com/cluster-as-code/cluster-as-code/internal/secrets/vaulttest"
)

const token = "hvs.test-token"

// newVault is a fake Vault with a KV v2 mount "secret" and a KV v1 mount "kv", each holding the
// marathon password of the green cluster.
func newVault(t *testing.T) *vaulttest.Server {
	v := vaulttest.New(t, token)
	v.Mount("secret", 2)
	v.Mount("kv", 1)
	v.Put("secret/green-cluster/marathon", map[string]any{"password": value, "user": "marathon"})
	v.Put("kv/green-cluster/marathon", map[string]any{"password": value, "user": "marathon"})
	return v
}

func paths(reqs []vaulttest.Request) []string {
	var out []string
	for _, r := range reqs {
		out = append(out, r.Method+" "+r.Path)
	}
	return out
}

func samePaths(t *testing.T, got []vaulttest.Request, want ...string) {
	t.Helper()
	g := paths(got)
	if strings.Join(g, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests to Vault:\ngot  %q\nwant %q", g, want)
	}
}

func TestVaultKV2(t *testing.T) {
	v := newVault(t)
	v.RequireNamespace("admin/team-a")
	r := secrets.New(secrets.Config{VaultAddr: v.URL + "/", VaultToken: token, VaultNamespace: "admin/team-a"})
	got, err := r.Resolve(context.Background(), "vault:secret/green-cluster/marathon#password")
	if err != nil || got != value {
		t.Fatalf("got %q, %v; want the password", got, err)
	}
	reqs := v.Requests()
	samePaths(t, reqs, "GET /v1/secret/data/green-cluster/marathon")
	if h := reqs[0]; h.Token != token || h.Namespace != "admin/team-a" || h.VaultRequest != "true" {
		t.Errorf("headers: got token %q, namespace %q, X-Vault-Request %q; want %q, %q, \"true\"", h.Token, h.Namespace, h.VaultRequest, token, "admin/team-a")
	}
}

func TestVaultNoNamespaceNoTokenHeaders(t *testing.T) {
	v := vaulttest.New(t, "") // e.g. a Vault Agent proxy adding its own token
	v.Mount("secret", 2)
	v.Put("secret/c/m", map[string]any{"password": value})
	r := secrets.New(secrets.Config{VaultAddr: v.URL})
	if got, err := r.Resolve(context.Background(), "vault:secret/c/m#password"); err != nil || got != value {
		t.Fatalf("got %q, %v; want the password", got, err)
	}
	if h := v.Requests()[0]; h.Token != "" || h.Namespace != "" {
		t.Errorf("got token %q, namespace %q; want neither header when not configured", h.Token, h.Namespace)
	}
}

func TestVaultKV1Fallback(t *testing.T) {
	for _, tc := range []struct {
		name string
		deny string // the API path the token's policy does not cover
	}{
		{"v2 path 404", ""},
		// A KV v1 policy ("kv/green-cluster/*") does not cover kv/data/…: Vault says 403.
		{"v2 path 403", "kv/data/green-cluster/marathon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVault(t)
			if tc.deny != "" {
				v.Deny(tc.deny)
			}
			r := secrets.New(secrets.Config{VaultAddr: v.URL, VaultToken: token})
			got, err := r.Resolve(context.Background(), "vault:kv/green-cluster/marathon#password")
			if err != nil || got != value {
				t.Fatalf("got %q, %v; want the password from KV v1", got, err)
			}
			samePaths(t, v.Requests(), "GET /v1/kv/data/green-cluster/marathon", "GET /v1/kv/green-cluster/marathon")
		})
	}
}

func TestVaultErrors(t *testing.T) {
	const ref = "vault:secret/green-cluster/marathon#password"
	for _, tc := range []struct {
		name  string
		setup func(v *vaulttest.Server)
		token string
		ref   string
		kind  error
		want  []string
	}{
		{
			name:  "wrong token",
			token: "hvs.wrong",
			kind:  secrets.ErrPermissionDenied,
			want:  []string{"permission denied reading vault:secret/green-cluster/marathon (token lacks policy)"},
		},
		{
			name: "policy denies both paths",
			setup: func(v *vaulttest.Server) {
				v.Deny("secret/data/green-cluster/marathon")
				v.Deny("secret/green-cluster/marathon")
			},
			kind: secrets.ErrPermissionDenied,
			want: []string{"permission denied reading vault:secret/green-cluster/marathon (token lacks policy)"},
		},
		{
			name: "missing key",
			ref:  "vault:secret/green-cluster/marathon#pasword",
			kind: secrets.ErrNotFound,
			want: []string{"secret/green-cluster/marathon", `"pasword"`},
		},
		{
			name: "missing key in KV v1",
			ref:  "vault:kv/green-cluster/marathon#pasword",
			kind: secrets.ErrNotFound,
			want: []string{"kv/green-cluster/marathon", `"pasword"`},
		},
		{
			name: "missing secret",
			ref:  "vault:secret/blue-cluster/marathon#password",
			kind: secrets.ErrNotFound,
			want: []string{"vault:secret/blue-cluster/marathon", "404"},
		},
		{
			name: "no such mount",
			ref:  "vault:nope/green-cluster/marathon#password",
			kind: secrets.ErrNotFound,
			want: []string{"vault:nope/green-cluster/marathon"},
		},
		{
			name:  "latest version deleted",
			setup: func(v *vaulttest.Server) { v.DeleteLatest("secret/green-cluster/marathon", false) },
			kind:  secrets.ErrNotFound,
			want:  []string{"vault:secret/green-cluster/marathon", "version (1)", "deleted"},
		},
		{
			name:  "latest version destroyed",
			setup: func(v *vaulttest.Server) { v.DeleteLatest("secret/green-cluster/marathon", true) },
			kind:  secrets.ErrNotFound,
			want:  []string{"destroyed"},
		},
		{
			name: "object value",
			setup: func(v *vaulttest.Server) {
				v.Put("secret/green-cluster/marathon", map[string]any{"password": map[string]any{"inner": value}})
			},
			want: []string{"secret/green-cluster/marathon#password", "object, not a string"},
		},
		{
			name:  "number value",
			setup: func(v *vaulttest.Server) { v.Put("secret/green-cluster/marathon", map[string]any{"password": 12345}) },
			want:  []string{"number, not a string"},
		},
		{
			name:  "sealed",
			setup: func(v *vaulttest.Server) { v.Fail(http.StatusServiceUnavailable, "Vault is sealed") },
			kind:  secrets.ErrUnavailable,
			want:  []string{"503", "Vault is sealed"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVault(t)
			if tc.setup != nil {
				tc.setup(v)
			}
			tok := token
			if tc.token != "" {
				tok = tc.token
			}
			rf := ref
			if tc.ref != "" {
				rf = tc.ref
			}
			got, err := secrets.New(secrets.Config{VaultAddr: v.URL, VaultToken: tok}).Resolve(context.Background(), rf)
			if got != "" {
				t.Errorf("got a value, want none")
			}
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
}

func TestVaultUnreachable(t *testing.T) {
	v := newVault(t)
	v.Close()
	_, err := secrets.New(secrets.Config{VaultAddr: v.URL, VaultToken: token}).Resolve(context.Background(), "vault:secret/c/m#password")
	checkErr(t, err, secrets.ErrUnavailable, "cannot reach Vault at "+v.URL)

	_, err = secrets.New(secrets.Config{VaultAddr: "vault.example:8200", VaultToken: token}).Resolve(context.Background(), "vault:secret/c/m#password")
	checkErr(t, err, secrets.ErrInvalidRef, "not an http(s) URL")
}

// TestVaultCache: every master of a rollout resolves the same reference; Vault is asked once.
func TestVaultCache(t *testing.T) {
	v := newVault(t)
	r := secrets.New(secrets.Config{VaultAddr: v.URL, VaultToken: token})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			for _, ref := range []string{"vault:secret/green-cluster/marathon#password", "vault:kv/green-cluster/marathon#password"} {
				if got, err := r.Resolve(context.Background(), ref); err != nil || got != value {
					t.Errorf("%s: got %q, %v; want the password", ref, got, err)
				}
			}
		})
	}
	wg.Wait()
	samePaths(t, v.Requests(),
		"GET /v1/secret/data/green-cluster/marathon",
		"GET /v1/kv/data/green-cluster/marathon", "GET /v1/kv/green-cluster/marathon")
}

func TestVaultFailureNotCached(t *testing.T) {
	v := newVault(t)
	r := secrets.New(secrets.Config{VaultAddr: v.URL, VaultToken: token})
	const ref = "vault:secret/green-cluster/marathon#password"
	v.Fail(http.StatusInternalServerError, "local node not active but active cluster node not found")
	if _, err := r.Resolve(context.Background(), ref); !errors.Is(err, secrets.ErrUnavailable) {
		t.Fatalf("got %v, want ErrUnavailable", err)
	}
	v.Fail(0)
	if got, err := r.Resolve(context.Background(), ref); err != nil || got != value {
		t.Errorf("after Vault recovered: got %q, %v; want the password", got, err)
	}
}

// TestVaultCanceledCallerDoesNotFailOthers: when the caller whose request is in flight gives
// up, a caller waiting for the same reference asks again instead of inheriting the cancellation.
func TestVaultCanceledCallerDoesNotFailOthers(t *testing.T) {
	v := newVault(t)
	release := v.Hold()
	defer release()
	r := secrets.New(secrets.Config{VaultAddr: v.URL, VaultToken: token})
	const ref = "vault:secret/green-cluster/marathon#password"

	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, ref)
		first <- err
	}()
	waitFor(t, func() bool { return len(v.Requests()) == 1 })

	second := make(chan error, 1)
	go func() {
		got, err := r.Resolve(context.Background(), ref)
		if err == nil && got != value {
			err = errors.New("wrong value")
		}
		second <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the second caller start waiting for the first
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Errorf("first caller: got %v, want context.Canceled", err)
	}
	release()
	if err := <-second; err != nil {
		t.Errorf("second caller: got %v, want the password", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(time.Millisecond)
	}
}
