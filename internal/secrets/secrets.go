// Package secrets resolves the secret references of the fleet repository into their values. It
// is the production cloudconfig.SecretResolver: the config drive of a node is the only place a
// secret's value exists, and this package is how it gets there.
//
// A reference is SCHEME:BODY. The schemes are:
//
//   - env:NAME — the value of the environment variable NAME. Unset and empty are both errors.
//   - file:/ABSOLUTE/PATH — the content of the file, with one trailing newline ("\n" or "\r\n")
//     removed. Relative paths are refused: they would depend on the bot's working directory.
//   - vault:PATH#KEY — the field KEY of the secret at PATH in HashiCorp Vault's KV engine, e.g.
//     vault:secret/green-cluster/marathon#password. PATH's first segment is the mount.
//
// A vault: reference is read from a directory when Config.Dir is set (the file Dir/PATH/KEY, as
// rendered by Vault Agent or mounted from a Kubernetes secret, one trailing newline removed), and
// otherwise from Vault's HTTP API: first as KV version 2 (GET /v1/MOUNT/data/REST, the field in
// .data.data), then, when Vault answers 404 or 403 to that, as KV version 1 (GET /v1/PATH, the
// field in .data). A reference means the same thing either way, so both check it the same way:
// PATH has at least two segments, and neither PATH nor KEY may contain empty, "." or ".."
// segments or be absolute.
//
// A Resolver caches every value it resolves for its own lifetime (a rollout resolves the same
// secret for every master); failures are not cached. It never logs, and no error or String it
// returns contains a secret's value.
package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Errors callers can test with errors.Is. The messages of the errors Resolve returns do not
// repeat these texts; they say what happened to which reference.
var (
	// ErrInvalidRef: the reference is malformed, has an unknown scheme or tries to leave its
	// directory.
	ErrInvalidRef = errors.New("invalid secret reference")
	// ErrNotFound: the variable, file, secret or key does not exist (or is empty, for env:).
	ErrNotFound = errors.New("secret not found")
	// ErrPermissionDenied: the store refused to give the secret (Vault answered 403, or the
	// file is not readable).
	ErrPermissionDenied = errors.New("secret permission denied")
	// ErrUnavailable: the store could not be asked or did not answer properly (Vault
	// unreachable, sealed, erroring); trying again later may succeed.
	ErrUnavailable = errors.New("secret store unavailable")
)

// DefaultTimeout bounds each request to Vault when Config.HTTPClient is nil.
const DefaultTimeout = 30 * time.Second

// Config says where secrets come from. The zero Config resolves env: and file: references and
// refuses vault: ones.
type Config struct {
	// Dir, when set, resolves vault:PATH#KEY from the file Dir/PATH/KEY (e.g. files rendered
	// by Vault Agent or a Kubernetes secret mount); it takes precedence over Vault, which is
	// then never asked. Symbolic links are followed only while they stay inside Dir.
	Dir string
	// VaultAddr (e.g. "https://vault.example:8200") and VaultToken reach HashiCorp Vault's HTTP
	// API; the caller takes them from VAULT_ADDR and VAULT_TOKEN. An empty VaultAddr means no
	// Vault. An empty VaultToken sends no X-Vault-Token header, for a Vault Agent proxy that
	// adds its own.
	VaultAddr, VaultToken string
	// VaultNamespace, when set, is sent as X-Vault-Namespace (Vault Enterprise / HCP).
	VaultNamespace string
	// HTTPClient talks to Vault; nil means a client with a DefaultTimeout timeout.
	HTTPClient *http.Client
	// Getenv is how env: references are read; nil means os.Getenv.
	Getenv func(string) string
}

// String describes the configuration without the Vault token.
func (c Config) String() string {
	tok := "unset"
	if c.VaultToken != "" {
		tok = "set"
	}
	return fmt.Sprintf("secrets.Config{Dir: %q, VaultAddr: %q, VaultToken: %s, VaultNamespace: %q}",
		c.Dir, redactAddr(c.VaultAddr), tok, c.VaultNamespace)
}

// GoString is String, so that %#v does not print the Vault token either.
func (c Config) GoString() string { return c.String() }

// Resolver resolves secret references; see the package comment for the schemes. It is safe for
// concurrent use.
type Resolver struct {
	dir    string
	getenv func(string) string
	vault  *vault // nil without a Vault address

	mu    sync.Mutex
	cache map[string]*entry
}

// entry is one reference's resolution, finished when done is closed. While it runs, other
// callers for the same reference wait for it instead of asking the store again.
type entry struct {
	done chan struct{}
	val  string
	err  error
	// abandoned is set when the caller that ran the resolution gave up (its context ended):
	// its error says nothing about the reference, so waiters try again themselves.
	abandoned bool
}

// New returns a Resolver for cfg. It checks nothing and contacts nothing: a bad Vault address
// is reported by the first vault: reference resolved through it.
func New(cfg Config) *Resolver {
	r := &Resolver{dir: cfg.Dir, getenv: cfg.Getenv, cache: map[string]*entry{}}
	if r.getenv == nil {
		r.getenv = os.Getenv
	}
	if cfg.VaultAddr != "" {
		client := cfg.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: DefaultTimeout}
		}
		r.vault = &vault{
			addr:      strings.TrimRight(cfg.VaultAddr, "/"),
			token:     cfg.VaultToken,
			namespace: cfg.VaultNamespace,
			client:    client,
		}
	}
	return r
}

// String describes the resolver: where vault: references go and how many values it holds,
// never the values.
func (r *Resolver) String() string {
	r.mu.Lock()
	n := 0
	for _, e := range r.cache {
		select {
		case <-e.done:
			if e.err == nil {
				n++
			}
		default:
		}
	}
	r.mu.Unlock()
	var src string
	switch {
	case r.dir != "":
		src = fmt.Sprintf("dir %q", r.dir)
	case r.vault != nil:
		src = fmt.Sprintf("vault %s", redactAddr(r.vault.addr))
	default:
		src = "no vault"
	}
	return fmt.Sprintf("secrets.Resolver{%s, %d cached}", src, n)
}

// GoString is String, so that %#v does not print the cache.
func (r *Resolver) GoString() string { return r.String() }

// Resolve returns the value of the secret ref refers to. The first successful resolution of a
// reference is kept and returned by later calls without asking the store again.
func (r *Resolver) Resolve(ctx context.Context, ref string) (string, error) {
	for {
		r.mu.Lock()
		e, ok := r.cache[ref]
		if !ok {
			e = &entry{done: make(chan struct{})}
			r.cache[ref] = e
			r.mu.Unlock()
			e.val, e.err = r.resolve(ctx, ref)
			if e.err != nil {
				e.abandoned = ctx.Err() != nil
				r.mu.Lock()
				delete(r.cache, ref)
				r.mu.Unlock()
			}
			close(e.done)
			return e.val, e.err
		}
		r.mu.Unlock()
		select {
		case <-e.done:
		case <-ctx.Done():
			return "", fmt.Errorf("waiting for secret %s: %w", describe(ref), ctx.Err())
		}
		if e.err == nil {
			return e.val, nil
		}
		if e.abandoned && ctx.Err() == nil {
			continue
		}
		return "", e.err
	}
}

// resolve resolves ref without the cache.
func (r *Resolver) resolve(ctx context.Context, ref string) (string, error) {
	scheme, body, ok := strings.Cut(ref, ":")
	if !ok {
		// Not echoed: a value pasted where a reference belongs would be in it.
		return "", refErr(ErrInvalidRef, nil, "secret reference has no scheme: want %s", schemes)
	}
	switch scheme {
	case "env":
		return r.env(body)
	case "file":
		return readFile(body)
	case "vault":
		p, key, err := parseVault(body)
		if err != nil {
			return "", err
		}
		switch {
		case r.dir != "":
			return r.fromDir(p, key)
		case r.vault != nil:
			return r.vault.read(ctx, p, key)
		default:
			return "", fmt.Errorf("vault:%s#%s: neither a Vault address (VAULT_ADDR) nor a secrets directory is configured", p, key)
		}
	default:
		return "", refErr(ErrInvalidRef, nil, "unknown secret scheme %q: want %s", scheme, schemes)
	}
}

const schemes = "env:NAME, file:/ABSOLUTE/PATH or vault:PATH#KEY"

// env resolves env:NAME.
func (r *Resolver) env(name string) (string, error) {
	if name == "" {
		return "", refErr(ErrInvalidRef, nil, "env: reference names no variable")
	}
	v := r.getenv(name)
	if v == "" {
		return "", refErr(ErrNotFound, nil, "env:%s: environment variable %s is not set or empty", name, name)
	}
	return v, nil
}

// readFile resolves file:PATH.
func readFile(p string) (string, error) {
	if !filepath.IsAbs(p) {
		return "", refErr(ErrInvalidRef, nil, "file:%s: the path must be absolute", p)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return "", refErr(fileErrKind(err), err, "file:%s", p)
	}
	return trimNewline(string(b)), nil
}

// fromDir resolves vault:p#key from Dir/p/key. p and key are already checked; os.Root also
// refuses symbolic links that lead out of Dir.
func (r *Resolver) fromDir(p, key string) (string, error) {
	what := fmt.Sprintf("vault:%s#%s", p, key)
	root, err := os.OpenRoot(r.dir)
	if err != nil {
		return "", refErr(fileErrKind(err), err, "%s: secrets directory", what)
	}
	defer root.Close()
	b, err := root.ReadFile(filepath.FromSlash(path.Join(p, key)))
	if err != nil {
		return "", refErr(fileErrKind(err), err, "%s: reading %s in secrets directory %s", what, path.Join(p, key), r.dir)
	}
	return trimNewline(string(b)), nil
}

// parseVault splits and checks the body of a vault: reference.
func parseVault(body string) (p, key string, err error) {
	p, key, ok := strings.Cut(body, "#")
	if !ok || key == "" {
		return "", "", refErr(ErrInvalidRef, nil, "vault:%s: want vault:PATH#KEY", body)
	}
	if p == "" || strings.HasPrefix(p, "/") {
		return "", "", refErr(ErrInvalidRef, nil, "vault:%s: PATH must be relative, like secret/green/marathon", body)
	}
	segs := strings.Split(p, "/")
	if len(segs) < 2 {
		return "", "", refErr(ErrInvalidRef, nil, "vault:%s: PATH needs a mount and a secret name, like secret/green/marathon", body)
	}
	for _, s := range append(segs, key) {
		if s == "" || s == "." || s == ".." || strings.ContainsAny(s, "/\\\x00") {
			return "", "", refErr(ErrInvalidRef, nil, "vault:%s: PATH and KEY may not have empty, \".\" or \"..\" segments, backslashes or a slash in KEY", body)
		}
	}
	return p, key, nil
}

// fileErrKind classifies an error reading a file.
func fileErrKind(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return ErrNotFound
	case errors.Is(err, fs.ErrPermission):
		return ErrPermissionDenied
	default:
		// Among others, os.Root's "path escapes from parent" for a symbolic link out of Dir.
		return ErrInvalidRef
	}
}

// trimNewline removes one trailing newline, as editors and templates add.
func trimNewline(s string) string {
	if t, ok := strings.CutSuffix(s, "\r\n"); ok {
		return t
	}
	return strings.TrimSuffix(s, "\n")
}

// describe names a reference in an error without echoing one that has no scheme (it may be a
// value pasted in the wrong place).
func describe(ref string) string {
	if scheme, _, ok := strings.Cut(ref, ":"); ok && (scheme == "env" || scheme == "file" || scheme == "vault") {
		return fmt.Sprintf("%q", ref)
	}
	return "reference"
}

// refError is an error with a message of its own, a kind callers test with errors.Is (not
// repeated in the message) and an optional cause.
type refError struct {
	msg   string
	kind  error
	cause error
}

func refErr(kind, cause error, format string, args ...any) error {
	return &refError{msg: fmt.Sprintf(format, args...), kind: kind, cause: cause}
}

func (e *refError) Error() string {
	if e.cause != nil {
		return e.msg + ": " + e.cause.Error()
	}
	return e.msg
}

func (e *refError) Is(target error) bool { return target == e.kind }

func (e *refError) Unwrap() error { return e.cause }
