package secrets_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/cloudconfig"
	"github.com/cluster-as-code/cluster-as-code/internal/secrets"
)

// The production resolver is what the config drive takes.
var _ cloudconfig.SecretResolver = (*secrets.Resolver)(nil)

// value is the secret every test hides; no error may contain it.
const value = "s3cr3t-VALUE-do-not-leak"

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// checkErr asserts err is of kind (when kind is not nil), mentions every want and does not
// contain the secret's value in any formatting.
func checkErr(t *testing.T, err, kind error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one mentioning %q", want)
	}
	if kind != nil && !errors.Is(err, kind) {
		t.Errorf("got error %q, want errors.Is %v", err, kind)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("got error %q, want it to mention %q", err, w)
		}
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%q"} {
		if s := fmt.Sprintf(f, err); strings.Contains(s, value) {
			t.Errorf("error formatted with %s contains the secret's value: %s", f, s)
		}
	}
}

func TestEnv(t *testing.T) {
	r := secrets.New(secrets.Config{Getenv: env(map[string]string{"MARATHON_PASSWORD": value, "EMPTY": ""})})
	got, err := r.Resolve(context.Background(), "env:MARATHON_PASSWORD")
	if err != nil || got != value {
		t.Fatalf("env:MARATHON_PASSWORD: got %q, %v; want the value", got, err)
	}
	for _, tc := range []struct {
		name, ref string
		kind      error
		want      []string
	}{
		{"unset", "env:NOPE", secrets.ErrNotFound, []string{"NOPE", "not set"}},
		{"empty", "env:EMPTY", secrets.ErrNotFound, []string{"EMPTY"}},
		{"no name", "env:", secrets.ErrInvalidRef, []string{"env:"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Resolve(context.Background(), tc.ref)
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
}

func TestEnvDefaultsToOSGetenv(t *testing.T) {
	t.Setenv("CAC_SECRETS_TEST_VAR", value)
	got, err := secrets.New(secrets.Config{}).Resolve(context.Background(), "env:CAC_SECRETS_TEST_VAR")
	if err != nil || got != value {
		t.Fatalf("got %q, %v; want the variable's value", got, err)
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want string
	}{
		{"newline trimmed", value + "\n", value},
		{"only one newline trimmed", value + "\n\n", value + "\n"},
		{"crlf trimmed", value + "\r\n", value},
		{"no newline", value, value},
		{"inner newlines kept", "-----BEGIN-----\n" + value + "\n-----END-----\n", "-----BEGIN-----\n" + value + "\n-----END-----"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
			write(t, p, tc.content)
			got, err := secrets.New(secrets.Config{}).Resolve(context.Background(), "file:"+p)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}

	write(t, filepath.Join(dir, "pw"), value)
	for _, tc := range []struct {
		name, ref string
		kind      error
		want      []string
	}{
		{"relative", "file:pw", secrets.ErrInvalidRef, []string{"file:pw", "absolute"}},
		{"dot relative", "file:./pw", secrets.ErrInvalidRef, []string{"absolute"}},
		{"missing", "file:" + filepath.Join(dir, "nope"), secrets.ErrNotFound, []string{filepath.Join(dir, "nope")}},
		{"directory", "file:" + dir, nil, []string{dir}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secrets.New(secrets.Config{}).Resolve(context.Background(), tc.ref)
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
}

func TestDir(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret/green-cluster/marathon/password"), value+"\n")
	// What a Kubernetes secret volume looks like: files are relative symbolic links into a
	// timestamped directory through ..data.
	k8s := filepath.Join(dir, "secret/k8s/marathon")
	write(t, filepath.Join(k8s, "..2024_11_13_21_58_32.123/password"), value)
	for _, l := range [][2]string{{"..2024_11_13_21_58_32.123", "..data"}, {"..data/password", "password"}} {
		if err := os.Symlink(l[0], filepath.Join(k8s, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	// Vault must not be asked when Dir is set.
	r := secrets.New(secrets.Config{Dir: dir, VaultAddr: "http://127.0.0.1:1", VaultToken: "t"})
	for _, ref := range []string{"vault:secret/green-cluster/marathon#password", "vault:secret/k8s/marathon#password"} {
		got, err := r.Resolve(context.Background(), ref)
		if err != nil || got != value {
			t.Errorf("%s: got %q, %v; want the file's content without its newline", ref, got, err)
		}
	}
}

func TestDirRefusesToLeave(t *testing.T) {
	base := t.TempDir()
	write(t, filepath.Join(base, "outside/x/y"), value)
	dir := filepath.Join(base, "secrets")
	write(t, filepath.Join(dir, "secret/c/pw"), value)
	if err := os.Symlink(filepath.Join(base, "outside"), filepath.Join(dir, "secret/escape")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../outside", filepath.Join(dir, "secret/rel")); err != nil {
		t.Fatal(err)
	}
	r := secrets.New(secrets.Config{Dir: dir})
	for _, tc := range []struct {
		name, ref string
		kind      error
	}{
		{"dotdot in path", "vault:secret/../../outside/x#y", secrets.ErrInvalidRef},
		{"dotdot as key", "vault:secret/c#..", secrets.ErrInvalidRef},
		{"dotdot leading", "vault:../outside/x#y", secrets.ErrInvalidRef},
		{"absolute path", "vault:/etc/passwd#x", secrets.ErrInvalidRef},
		{"slash in key", "vault:secret/c#../../outside", secrets.ErrInvalidRef},
		{"dot segment", "vault:secret/./c#pw", secrets.ErrInvalidRef},
		{"empty segment", "vault:secret//c#pw", secrets.ErrInvalidRef},
		{"backslash", `vault:secret\..\c#pw`, secrets.ErrInvalidRef},
		{"absolute symlink out", "vault:secret/escape/x#y", nil},
		{"relative symlink out", "vault:secret/rel/x#y", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := r.Resolve(context.Background(), tc.ref)
			if got != "" {
				t.Errorf("got a value for %s, want none", tc.ref)
			}
			checkErr(t, err, tc.kind)
		})
	}
}

func TestDirErrors(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "secret/c/other"), value)
	for _, tc := range []struct {
		name string
		cfg  secrets.Config
		ref  string
		kind error
		want []string
	}{
		{"missing key", secrets.Config{Dir: dir}, "vault:secret/c#password", secrets.ErrNotFound, []string{"vault:secret/c#password", "secret/c/password"}},
		{"missing dir", secrets.Config{Dir: filepath.Join(dir, "nope")}, "vault:secret/c#other", secrets.ErrNotFound, []string{"vault:secret/c#other"}},
		{"no key", secrets.Config{Dir: dir}, "vault:secret/c", secrets.ErrInvalidRef, []string{"vault:PATH#KEY"}},
		{"empty key", secrets.Config{Dir: dir}, "vault:secret/c#", secrets.ErrInvalidRef, []string{"vault:PATH#KEY"}},
		{"mount only", secrets.Config{Dir: dir}, "vault:secret#other", secrets.ErrInvalidRef, []string{"mount"}},
		{"nothing configured", secrets.Config{}, "vault:secret/c#other", nil, []string{"vault:secret/c#other", "VAULT_ADDR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := secrets.New(tc.cfg).Resolve(context.Background(), tc.ref)
			checkErr(t, err, tc.kind, tc.want...)
		})
	}
}

func TestUnknownScheme(t *testing.T) {
	r := secrets.New(secrets.Config{})
	_, err := r.Resolve(context.Background(), "aws:prod/marathon")
	checkErr(t, err, secrets.ErrInvalidRef, `"aws"`, "env:NAME", "file:/", "vault:PATH#KEY")

	// A value pasted where a reference belongs is not echoed.
	_, err = r.Resolve(context.Background(), value)
	checkErr(t, err, secrets.ErrInvalidRef, "env:NAME", "file:/", "vault:PATH#KEY")
}

// TestCache: a reference is resolved once for the Resolver's lifetime, even by concurrent
// callers; failures are not kept.
func TestCache(t *testing.T) {
	var calls atomic.Int32
	vars := map[string]string{"A": value}
	var mu sync.Mutex
	r := secrets.New(secrets.Config{Getenv: func(k string) string {
		calls.Add(1)
		mu.Lock()
		defer mu.Unlock()
		return vars[k]
	}})
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			if got, err := r.Resolve(context.Background(), "env:A"); err != nil || got != value {
				t.Errorf("got %q, %v; want the value", got, err)
			}
		})
	}
	wg.Wait()
	if n := calls.Load(); n != 1 {
		t.Errorf("the variable was read %d times, want once", n)
	}

	if _, err := r.Resolve(context.Background(), "env:B"); err == nil {
		t.Fatal("env:B resolved before it was set")
	}
	mu.Lock()
	vars["B"] = "later"
	mu.Unlock()
	if got, err := r.Resolve(context.Background(), "env:B"); err != nil || got != "later" {
		t.Errorf("after setting B: got %q, %v; want the failure forgotten and the new value", got, err)
	}
}

func TestStringHidesValuesAndToken(t *testing.T) {
	cfg := secrets.Config{VaultAddr: "https://vault.example:8200", VaultToken: "hvs.TOKEN-do-not-leak", Getenv: env(map[string]string{"A": value})}
	r := secrets.New(cfg)
	if _, err := r.Resolve(context.Background(), "env:A"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		for _, x := range []any{r, cfg, &cfg} {
			s := fmt.Sprintf(f, x)
			if strings.Contains(s, value) || strings.Contains(s, "TOKEN-do-not-leak") {
				t.Errorf("%s of %T = %s: contains the secret or the token", f, x, s)
			}
		}
	}
	if s := r.String(); !strings.Contains(s, "1 cached") || !strings.Contains(s, "vault.example") {
		t.Errorf("String() = %q, want where secrets come from and how many are cached", s)
	}
}
