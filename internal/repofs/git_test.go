package repofs_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

var fleetFolders = []string{"inventory", "clusters", "images", "specs"}

func TestFromGit(t *testing.T) {
	repo := newFleetRepo(t)
	tests := []struct {
		name       string
		rev        string
		prefixes   []string
		wantCommit string
		want       map[string]File
	}{
		{"HEAD, everything", "HEAD", nil, repo.second, repo.v2},
		{"HEAD, fleet folders", "HEAD", fleetFolders, repo.second, only(repo.v2, fleetFolders...)},
		{"HEAD~1, fleet folders", "HEAD~1", fleetFolders, repo.first, only(repo.v1, fleetFolders...)},
		{"commit id", repo.first, nil, repo.first, repo.v1},
		{"short commit id", repo.first[:10], []string{"images"}, repo.first, only(repo.v1, "images")},
		{"branch", "main", []string{"clusters"}, repo.second, only(repo.v2, "clusters")},
		{"nested prefix with trailing slash", "HEAD", []string{"specs/web/"}, repo.second, only(repo.v2, "specs/web")},
		{"prefix is a file", "HEAD", []string{"README.md"}, repo.second, only(repo.v2, "README.md")},
		{"prefix is a symbolic link", "HEAD", []string{"clusters/current"}, repo.second, only(repo.v2, "clusters/current")},
		{"prefix is not a path prefix", "HEAD", []string{"inv"}, repo.second, map[string]File{}},
		{"missing prefix", "HEAD~1", []string{"specs", "nothing"}, repo.first, only(repo.v1, "specs")},
		{"glob characters are literal", "HEAD", []string{"spec*"}, repo.second, map[string]File{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := repofs.FromGit(context.Background(), repo.dir, tt.rev, tt.prefixes...)
			if err != nil {
				t.Fatalf("FromGit: %v", err)
			}
			if s.Rev != tt.rev || s.Commit != tt.wantCommit {
				t.Errorf("Rev, Commit = %q, %q; want %q, %q", s.Rev, s.Commit, tt.rev, tt.wantCommit)
			}
			if d := diffFiles(contents(t, s), tt.want); d != "" {
				t.Errorf("files differ (-got +want):\n%s", d)
			}
		})
	}
}

func TestFromGitSubdirectory(t *testing.T) {
	repo := newFleetRepo(t)
	// Paths are relative to the top of the repository, wherever repoDir points inside it.
	s, err := repofs.FromGit(context.Background(), filepath.Join(repo.dir, "specs", "web"), "HEAD", "inventory")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(contents(t, s), only(repo.v2, "inventory")); d != "" {
		t.Errorf("files differ:\n%s", d)
	}
}

func TestFromGitErrors(t *testing.T) {
	repo := newFleetRepo(t)
	plain := t.TempDir()
	// Keep git from finding a repository above the plain directory.
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(plain))
	missing := filepath.Join(plain, "missing")

	tests := []struct {
		name     string
		dir, rev string
		prefixes []string
		wantIs   error
		wantMsg  []string
	}{
		{
			name: "not a repository", dir: plain, rev: "HEAD",
			wantIs:  repofs.ErrNotRepository,
			wantMsg: []string{plain + " is not a git repository"},
		},
		{
			name: "missing directory", dir: missing, rev: "HEAD",
			wantIs:  os.ErrNotExist,
			wantMsg: []string{missing},
		},
		{
			name: "unknown revision", dir: repo.dir, rev: "nope",
			wantIs:  repofs.ErrUnknownRevision,
			wantMsg: []string{`unknown revision "nope" in ` + repo.dir, "Needed a single revision"},
		},
		{
			name: "beyond the first commit", dir: repo.dir, rev: "HEAD~2",
			wantIs:  repofs.ErrUnknownRevision,
			wantMsg: []string{`unknown revision "HEAD~2"`},
		},
		{
			name: "option-like revision", dir: repo.dir, rev: "--output=/tmp/x",
			wantIs:  repofs.ErrUnknownRevision,
			wantMsg: []string{`unknown revision "--output=/tmp/x"`},
		},
		{
			name: "tree is not a commit", dir: repo.dir, rev: "HEAD^{tree}",
			wantIs: repofs.ErrUnknownRevision,
		},
		{
			name: "empty revision", dir: repo.dir, rev: "",
			wantIs: repofs.ErrUnknownRevision,
		},
		{
			name: "invalid prefix", dir: repo.dir, rev: "HEAD", prefixes: []string{"../up"},
			wantMsg: []string{`invalid path prefix "../up"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := repofs.FromGit(context.Background(), tt.dir, tt.rev, tt.prefixes...)
			if err == nil {
				t.Fatalf("FromGit = %v files, want an error", len(s.Paths()))
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %q is not %v", err, tt.wantIs)
			}
			for _, want := range tt.wantMsg {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not contain %q", err, want)
				}
			}
		})
	}
}

func TestFromGitWithoutGit(t *testing.T) {
	repo := newFleetRepo(t)
	t.Setenv("PATH", t.TempDir())
	_, err := repofs.FromGit(context.Background(), repo.dir, "HEAD")
	if !errors.Is(err, exec.ErrNotFound) {
		t.Fatalf("error %v is not exec.ErrNotFound", err)
	}
	if want := "git is not installed"; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestFromGitCanceled(t *testing.T) {
	repo := newFleetRepo(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := repofs.FromGit(ctx, repo.dir, "HEAD")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v is not context.Canceled", err)
	}
}

func TestFromGitEmptyRepository(t *testing.T) {
	isolateGit(t)
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	_, err := repofs.FromGit(context.Background(), dir, "HEAD")
	if !errors.Is(err, repofs.ErrUnknownRevision) {
		t.Fatalf("error %v is not ErrUnknownRevision", err)
	}
}

func TestFromGitIgnoresCallersGitDir(t *testing.T) {
	repo := newFleetRepo(t)
	other := newFleetRepo(t)
	git(t, other.dir, "commit", "-q", "--allow-empty", "-m", "other")
	otherHead := git(t, other.dir, "rev-parse", "HEAD")
	// As inside a git hook of another repository.
	t.Setenv("GIT_DIR", filepath.Join(other.dir, ".git"))
	t.Setenv("GIT_INDEX_FILE", filepath.Join(other.dir, ".git", "index"))
	s, err := repofs.FromGit(context.Background(), repo.dir, "HEAD")
	if err != nil {
		t.Fatal(err)
	}
	if s.Commit != repo.second {
		t.Errorf("Commit = %s, want %s (not %s from GIT_DIR)", s.Commit, repo.second, otherHead)
	}
}

func TestFromGitManyFiles(t *testing.T) {
	// More requests (2000 × 41 bytes) and answers than a 64 KiB pipe holds: reading must
	// not deadlock.
	isolateGit(t)
	dir := t.TempDir()
	git(t, dir, "init", "-q")
	want := map[string]File{}
	for i := range 2000 {
		want[fmt.Sprintf("specs/%02d/%04d.yaml", i%20, i)] = reg(fmt.Sprintf("n: %d\n%s", i, strings.Repeat("#", i%300)))
	}
	writeFiles(t, dir, want)
	git(t, dir, "add", "-A")
	git(t, dir, "commit", "-q", "-m", "many")

	s, err := repofs.FromGit(context.Background(), dir, "HEAD", "specs")
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(contents(t, s), want); d != "" {
		t.Errorf("files differ:\n%s", d)
	}
}
