package repofs_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

// isolateGit makes git ignore the user's and the system's configuration and sets an
// identity for commits. It skips the test if git is not installed.
func isolateGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	home := t.TempDir()
	for k, v := range map[string]string{
		"HOME":                home,
		"XDG_CONFIG_HOME":     filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM": "1",
		"GIT_CONFIG_GLOBAL":   filepath.Join(home, ".gitconfig"),
		"GIT_AUTHOR_NAME":     "Test",
		"GIT_AUTHOR_EMAIL":    "test@example.com",
		"GIT_COMMITTER_NAME":  "Test",
		"GIT_COMMITTER_EMAIL": "test@example.com",
	} {
		t.Setenv(k, v)
	}
}

// git runs git in dir and returns its trimmed standard output.
func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitBytes(dir, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func gitBytes(dir string, args ...string) ([]byte, error) {
	cmd := exec.Command("git", append([]string{"-c", "init.defaultBranch=main"}, args...)...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// writeFiles writes files under dir, creating folders; a symbolic link's Data is its target.
func writeFiles(t *testing.T, dir string, files map[string]repofs.File) {
	t.Helper()
	for name, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(p); err != nil {
			t.Fatal(err)
		}
		var err error
		if f.Mode.Type() == fs.ModeSymlink {
			err = os.Symlink(string(f.Data), p)
		} else {
			err = os.WriteFile(p, f.Data, f.Mode.Perm())
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// fleetRepo is a git repository with two commits.
type fleetRepo struct {
	dir           string
	first, second string          // commit ids
	v1, v2        map[string]File // every tracked file at each commit, submodule left out
}

// File is short for repofs.File in expectations.
type File = repofs.File

func reg(s string) File  { return File{Data: []byte(s), Mode: 0o644} }
func exe(s string) File  { return File{Data: []byte(s), Mode: 0o755} }
func link(s string) File { return File{Data: []byte(s), Mode: fs.ModeSymlink | 0o777} }

// newFleetRepo builds a repository with an executable file, a symbolic link, nested folders,
// files outside the fleet folders and, in the second commit, a submodule.
func newFleetRepo(t *testing.T) fleetRepo {
	t.Helper()
	isolateGit(t)
	dir := t.TempDir()
	git(t, dir, "init", "-q")

	v1 := map[string]File{
		"README.md":                  reg("# fleet\n"),
		"inventory/servers.yaml":     reg("servers: [able]\n"),
		"inventory/bin/provision.sh": exe("#!/bin/sh\necho hi\n"),
		"clusters/prod/cluster.yaml": reg("name: prod\n"),
		"clusters/current":           link("prod"),
		"images/base.yaml":           reg("image: base\n"),
		"specs/web/v1/spec.yaml":     reg("kind: web\n"),
		"specs/empty.yaml":           reg(""),
		"tools/lint.sh":              exe("#!/bin/sh\n"),
	}
	writeFiles(t, dir, v1)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "first")
	first := git(t, dir, "rev-parse", "HEAD")

	v2 := maps.Clone(v1)
	delete(v2, "images/base.yaml")
	if err := os.Remove(filepath.Join(dir, "images", "base.yaml")); err != nil {
		t.Fatal(err)
	}
	changes := map[string]File{
		"inventory/servers.yaml":        reg("servers: [able, baker]\n"),
		"clusters/staging/cluster.yaml": reg("name: staging\n"),
		"clusters/current":              link("staging"),
		"specs/db.yaml":                 reg("kind: db\n"),
		"specs/same-as-db.yaml":         reg("kind: db\n"),
	}
	writeFiles(t, dir, changes)
	maps.Copy(v2, changes)

	// A nested repository, added as a submodule (gitlink).
	sub := filepath.Join(dir, "specs", "vendored")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	git(t, sub, "init", "-q")
	writeFiles(t, sub, map[string]File{"inner.yaml": reg("inner: true\n")})
	git(t, sub, "add", "-A")
	git(t, sub, "commit", "-q", "-m", "inner")

	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "second")
	second := git(t, dir, "rev-parse", "HEAD")
	if mode := git(t, dir, "ls-tree", "HEAD", "specs/vendored"); !strings.HasPrefix(mode, "160000 commit") {
		t.Fatalf("specs/vendored is %q, want a submodule", mode)
	}
	return fleetRepo{dir: dir, first: first, second: second, v1: v1, v2: v2}
}

// only returns the files under one of prefixes.
func only(files map[string]File, prefixes ...string) map[string]File {
	out := map[string]File{}
	for name, f := range files {
		for _, p := range prefixes {
			if name == p || strings.HasPrefix(name, p+"/") {
				out[name] = f
			}
		}
	}
	return out
}

// contents returns every file of s as a File, read through its fs methods.
func contents(t *testing.T, s *repofs.Snapshot) map[string]File {
	t.Helper()
	out := map[string]File{}
	for _, name := range s.Paths() {
		info, err := fs.Lstat(s, name)
		if err != nil {
			t.Fatalf("Lstat(%q): %v", name, err)
		}
		mode, ok := s.Mode(name)
		if !ok || mode != info.Mode() {
			t.Errorf("Mode(%q) = %v, %v; Lstat says %v", name, mode, ok, info.Mode())
		}
		var data []byte
		if info.Mode().Type() == fs.ModeSymlink {
			target, err := fs.ReadLink(s, name)
			if err != nil {
				t.Fatalf("ReadLink(%q): %v", name, err)
			}
			data = []byte(target)
		} else if data, err = fs.ReadFile(s, name); err != nil {
			t.Fatalf("ReadFile(%q): %v", name, err)
		}
		out[name] = File{Data: data, Mode: info.Mode()}
	}
	return out
}

// diffFiles describes how got differs from want, or returns "" if they are equal.
func diffFiles(got, want map[string]File) string {
	var b strings.Builder
	all := maps.Clone(got)
	maps.Copy(all, want)
	names := slices.Sorted(maps.Keys(all))
	for _, n := range names {
		g, gok := got[n]
		w, wok := want[n]
		switch {
		case !gok:
			fmt.Fprintf(&b, "  missing %s\n", n)
		case !wok:
			fmt.Fprintf(&b, "  extra   %s\n", n)
		case g.Mode != w.Mode || !bytes.Equal(g.Data, w.Data):
			fmt.Fprintf(&b, "  %s: got %v %q, want %v %q\n", n, g.Mode, g.Data, w.Mode, w.Data)
		}
	}
	return b.String()
}
