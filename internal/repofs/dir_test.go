package repofs_test

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

func TestFromDirEqualsFromGit(t *testing.T) {
	repo := newFleetRepo(t)
	tests := []struct {
		name     string
		prefixes []string
	}{
		{"everything", nil},
		{"fleet folders", fleetFolders},
		{"nested prefix", []string{"specs/web"}},
		{"symbolic link", []string{"clusters/current"}},
		{"submodule", []string{"specs/vendored"}},
		{"inside submodule", []string{"specs/vendored/inner.yaml"}},
		{"through a symbolic link", []string{"clusters/current/cluster.yaml"}},
		{"missing", []string{"nothing", "images"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fromGit, err := repofs.FromGit(context.Background(), repo.dir, "HEAD", tt.prefixes...)
			if err != nil {
				t.Fatalf("FromGit: %v", err)
			}
			fromDir, err := repofs.FromDir(repo.dir, tt.prefixes...)
			if err != nil {
				t.Fatalf("FromDir: %v", err)
			}
			if d := diffFiles(contents(t, fromDir), contents(t, fromGit)); d != "" {
				t.Errorf("FromDir differs from FromGit:\n%s", d)
			}
			if fromDir.Rev != "working tree" || fromDir.Commit != "" {
				t.Errorf("Rev, Commit = %q, %q; want %q, %q", fromDir.Rev, fromDir.Commit, "working tree", "")
			}
		})
	}
}

func TestFromDir(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]File{
		"inventory/servers.yaml": reg("servers: []\n"),
		"inventory/run.sh":       {Data: []byte("#!/bin/sh\n"), Mode: 0o700},
		"inventory/private.yaml": {Data: []byte("x: 1\n"), Mode: 0o600},
		"inventory/outside":      link("/etc/passwd"),
		"inventory/dangling":     link("no/such/file"),
		"specs/sub/.git":         reg("gitdir: ../../.git/modules/sub\n"), // a submodule
		"specs/sub/inner.yaml":   reg("inner: true\n"),
		"specs/.gitkeep":         reg(""),
		".git/config":            reg("[core]\n"),
	})
	if err := os.MkdirAll(filepath.Join(dir, "clusters", "empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A socket is neither a file nor a link, and is skipped.
	if l, err := net.Listen("unix", filepath.Join(dir, "specs", "s.sock")); err == nil {
		defer l.Close()
	} else {
		t.Logf("no unix socket: %v", err)
	}

	s, err := repofs.FromDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]File{
		"inventory/servers.yaml": reg("servers: []\n"),
		"inventory/run.sh":       exe("#!/bin/sh\n"),
		"inventory/private.yaml": reg("x: 1\n"),
		"inventory/outside":      link("/etc/passwd"),
		"inventory/dangling":     link("no/such/file"),
		"specs/.gitkeep":         reg(""),
	}
	if d := diffFiles(contents(t, s), want); d != "" {
		t.Errorf("files differ:\n%s", d)
	}
	if _, ok := s.Mode("clusters"); ok {
		t.Errorf("clusters exists, but holds only an empty folder")
	}
}

func TestFromDirErrors(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	writeFiles(t, dir, map[string]File{"file": reg("x")})
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name     string
		dir      string
		prefixes []string
		wantIs   error
		wantMsg  string
	}{
		{"missing directory", missing, nil, fs.ErrNotExist, missing},
		{"not a directory", file, nil, nil, file},
		{"invalid prefix", dir, []string{"/abs"}, nil, `invalid path prefix "/abs"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := repofs.FromDir(tt.dir, tt.prefixes...)
			if err == nil {
				t.Fatal("FromDir succeeded, want an error")
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tt.wantMsg)
			}
		})
	}
}
