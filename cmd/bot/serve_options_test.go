package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServeOptions(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	os.WriteFile(secretFile, []byte("from-a-file\n"), 0o600)
	keyFile := filepath.Join(dir, "key.pem")
	os.WriteFile(keyFile, []byte("-----BEGIN RSA PRIVATE KEY-----\nfile\n-----END RSA PRIVATE KEY-----\n"), 0o600)
	full := map[string]string{
		"CAC_APP_ID":         "42",
		"CAC_PRIVATE_KEY":    "-----BEGIN RSA PRIVATE KEY-----\nenv\n-----END RSA PRIVATE KEY-----",
		"CAC_WEBHOOK_SECRET": "s3cr3t-value",
	}
	with := func(over map[string]string) map[string]string {
		env := map[string]string{}
		for k, v := range full {
			env[k] = v
		}
		for k, v := range over {
			env[k] = v
		}
		return env
	}
	cases := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr []string // each must be in the error; none means no error
		check   func(t *testing.T, o serveOptions)
	}{
		{name: "environment only", env: full, check: func(t *testing.T, o serveOptions) {
			if o.appID != 42 || string(o.webhookSecret) != "s3cr3t-value" || !strings.Contains(string(o.privateKey), "env") {
				t.Errorf("got app id %d, secret %q, key %q", o.appID, o.webhookSecret, o.privateKey)
			}
			if o.listen != ":8080" || o.dataDir != "/var/lib/cluster-as-code" || o.githubURL != "https://api.github.com/" || o.commandPermission.String() != "write" {
				t.Errorf("defaults: %+v", o)
			}
			if o.secretSource != "environment CAC_WEBHOOK_SECRET" {
				t.Errorf("secret source %q", o.secretSource)
			}
		}},
		{name: "flags beat the environment, files beat variables",
			args: []string{"--app-id", "7", "--webhook-secret-file", secretFile, "--private-key-file", keyFile, "--command-permission", "maintain", "--listen", "127.0.0.1:9000"},
			env:  with(map[string]string{"CAC_LISTEN": ":1"}),
			check: func(t *testing.T, o serveOptions) {
				if o.appID != 7 || string(o.webhookSecret) != "from-a-file" || !strings.Contains(string(o.privateKey), "file") {
					t.Errorf("got app id %d, secret %q, key %q", o.appID, o.webhookSecret, o.privateKey)
				}
				if o.listen != "127.0.0.1:9000" || o.commandPermission.String() != "maintain" {
					t.Errorf("listen %q, permission %s", o.listen, o.commandPermission)
				}
			}},
		{name: "no webhook secret is refused", env: with(map[string]string{"CAC_WEBHOOK_SECRET": ""}),
			wantErr: []string{"no webhook secret", "CAC_WEBHOOK_SECRET"}},
		{name: "everything missing is reported at once", env: map[string]string{},
			wantErr: []string{"no GitHub App id", "no private key", "no webhook secret"}},
		{name: "bad app id", env: with(map[string]string{"CAC_APP_ID": "forty-two"}), wantErr: []string{`"forty-two" is not a positive number`}},
		{name: "bad permission", env: with(map[string]string{"CAC_COMMAND_PERMISSION": "owner"}), wantErr: []string{"--command-permission", "owner"}},
		{name: "unreadable secret file", args: []string{"--webhook-secret-file", filepath.Join(dir, "missing")}, env: full,
			wantErr: []string{"reading the webhook secret", "missing"}},
		{name: "empty secret file", args: []string{"--webhook-secret-file", keyFile + ".empty"}, env: full,
			wantErr: []string{"webhook secret"}},
	}
	os.WriteFile(keyFile+".empty", []byte("\n"), 0o600)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o, err := parseServeOptions(c.args, func(k string) string { return c.env[k] }, io.Discard)
			if len(c.wantErr) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				c.check(t, o)
				return
			}
			if err == nil {
				t.Fatalf("no error, want one mentioning %q", c.wantErr)
			}
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			for _, secret := range []string{"s3cr3t-value", "from-a-file", "BEGIN RSA"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows a secret", err)
				}
			}
		})
	}
}
