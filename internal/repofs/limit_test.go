package repofs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromTarLimit(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct{ name, data string }{
		{"o-r-1/small", "12345"},
		{"o-r-1/big", strings.Repeat("x", 100)},
		{"o-r-1/skipped/huge", strings.Repeat("x", 1000)},
	} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Size: int64(len(f.data)), Mode: 0o644}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		limit    int64
		prefixes []string
		wantErr  bool
	}{
		{"within the limit", 200, []string{"small", "big"}, false},
		{"content beyond the limit", 100, []string{"small", "big"}, true},
		{"paths count too", 105, []string{"small", "big"}, true},
		{"what is not kept does not count", 120, []string{"small", "big"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fromTar(bytes.NewReader(buf.Bytes()), tt.limit, tt.prefixes)
			if gotErr := errors.Is(err, ErrTooLarge); gotErr != tt.wantErr {
				t.Errorf("error = %v, want ErrTooLarge: %v", err, tt.wantErr)
			}
		})
	}
}

func TestFromGitAndFromDirLimit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("GIT_CONFIG_NOSYSTEM", "1")
	t.Setenv("GIT_CONFIG_GLOBAL", filepath.Join(home, ".gitconfig"))
	dir := t.TempDir()
	// Two files with the same content: git stores (and FromGit reads) it once.
	for name, data := range map[string]string{"a/one": strings.Repeat("x", 100), "a/two": strings.Repeat("x", 100), "b": "12345"} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{
		{"init", "-q"},
		{"add", "-A"},
		{"-c", "user.name=Test", "-c", "user.email=test@example.com", "commit", "-q", "-m", "one"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %s: %v: %s", args, err, out)
		}
	}

	tests := []struct {
		name     string
		limit    int64
		prefixes []string
		wantGit  bool // whether FromGit fails with ErrTooLarge
		wantDir  bool // whether FromDir does
	}{
		{"everything fits", 1000, nil, false, false},
		{"shared content counts once in git", 120, []string{"a"}, false, true},
		{"paths beyond the limit", 8, []string{"a"}, true, true},
		{"content beyond the limit", 50, []string{"a"}, true, true},
		{"outside prefixes does not count", 10, []string{"b"}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := fromGit(context.Background(), tt.limit, dir, "HEAD", tt.prefixes)
			if got := errors.Is(err, ErrTooLarge); got != tt.wantGit {
				t.Errorf("fromGit error = %v, want ErrTooLarge: %v", err, tt.wantGit)
			}
			_, err = fromDir(tt.limit, dir, tt.prefixes)
			if got := errors.Is(err, ErrTooLarge); got != tt.wantDir {
				t.Errorf("fromDir error = %v, want ErrTooLarge: %v", err, tt.wantDir)
			}
		})
	}
}
