package repofs_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/cluster-as-code/cluster-as-code/internal/repofs"
)

func TestTestFS(t *testing.T) {
	repo := newFleetRepo(t)
	fromGit, err := repofs.FromGit(context.Background(), repo.dir, "HEAD", "inventory", "images", "specs")
	if err != nil {
		t.Fatal(err)
	}
	// fstest.TestFS opens every entry, and a Snapshot refuses to open symbolic links, so the
	// snapshots tested here have none; see TestSymlinks.
	tests := []struct {
		name     string
		s        *repofs.Snapshot
		expected []string
	}{
		{"git", fromGit, []string{"inventory/servers.yaml", "inventory/bin/provision.sh", "specs/web/v1/spec.yaml", "specs/empty.yaml"}},
		{"map", repofs.FromMap(map[string]File{
			"a.yaml":         reg("a"),
			"b/c.yaml":       reg("c"),
			"b/d/e.sh":       exe("e"),
			"b/d/f":          reg(""),
			"b.d/g":          reg("g"),
			"z/y/x/w/v.yaml": reg("v"),
		}), []string{"a.yaml", "b/c.yaml", "b/d/e.sh", "b.d/g", "z/y/x/w/v.yaml"}},
		{"empty", repofs.FromMap(nil), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := fstest.TestFS(tt.s, tt.expected...); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestSymlinks(t *testing.T) {
	s := repofs.FromMap(map[string]File{
		"clusters/prod/cluster.yaml": reg("name: prod\n"),
		"clusters/current":           {Data: []byte("prod"), Mode: fs.ModeSymlink},
	})

	target, err := s.ReadLink("clusters/current")
	if err != nil || target != "prod" {
		t.Errorf("ReadLink = %q, %v; want %q, nil", target, err, "prod")
	}
	for name, stat := range map[string]func(string) (fs.FileInfo, error){"Stat": s.Stat, "Lstat": s.Lstat} {
		info, err := stat("clusters/current")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, want := info.Mode(), fs.ModeSymlink|0o777; got != want {
			t.Errorf("%s mode = %v, want %v", name, got, want)
		}
		if got, want := info.Size(), int64(len("prod")); got != want {
			t.Errorf("%s size = %d, want %d", name, got, want)
		}
	}
	entries, err := s.ReadDir("clusters")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name()+" "+e.Type().String())
	}
	if want := []string{"current L---------", "prod d---------"}; !slices.Equal(got, want) {
		t.Errorf("ReadDir = %q, want %q", got, want)
	}

	// Nothing follows the link.
	if _, err := s.Open("clusters/current"); !errors.Is(err, fs.ErrInvalid) || !errors.Is(err, repofs.ErrSymlink) {
		t.Errorf("Open(link) error = %v, want ErrSymlink and fs.ErrInvalid", err)
	}
	if _, err := s.ReadFile("clusters/current"); !errors.Is(err, repofs.ErrSymlink) {
		t.Errorf("ReadFile(link) error = %v, want ErrSymlink", err)
	}
	if _, err := s.Open("clusters/current/cluster.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Open(through link) error = %v, want fs.ErrNotExist", err)
	}
	if _, err := s.ReadLink("clusters/prod/cluster.yaml"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("ReadLink(regular file) error = %v, want fs.ErrInvalid", err)
	}
}

func TestNew(t *testing.T) {
	data := []byte("original")
	s, err := repofs.New(map[string]File{
		"private":     {Data: data, Mode: 0o600},
		"user-exec":   {Data: []byte("#!"), Mode: 0o700},
		"other-exec":  {Data: []byte("#!"), Mode: 0o641},
		"bare-link":   {Data: []byte("private"), Mode: fs.ModeSymlink},
		"nested/file": {Data: []byte("n"), Mode: 0o644},
	})
	if err != nil {
		t.Fatal(err)
	}
	copy(data, "modified")
	want := map[string]File{
		"private":     reg("original"),
		"user-exec":   exe("#!"),
		"other-exec":  exe("#!"),
		"bare-link":   link("private"),
		"nested/file": reg("n"),
	}
	if d := diffFiles(contents(t, s), want); d != "" {
		t.Errorf("files differ:\n%s", d)
	}
	if got, want := s.Paths(), []string{"bare-link", "nested/file", "other-exec", "private", "user-exec"}; !slices.Equal(got, want) {
		t.Errorf("Paths = %q, want %q", got, want)
	}
	if s.Rev != "" || s.Commit != "" {
		t.Errorf("Rev, Commit = %q, %q; want empty", s.Rev, s.Commit)
	}
}

func TestNewErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]File
		wantMsg string
	}{
		{"dot-dot", map[string]File{"../x": reg("")}, `adding "../x": invalid path`},
		{"absolute", map[string]File{"/x": reg("")}, "invalid path"},
		{"empty element", map[string]File{"a//b": reg("")}, "invalid path"},
		{"trailing slash", map[string]File{"a/": reg("")}, "invalid path"},
		{"root", map[string]File{".": reg("")}, "invalid path"},
		{"empty name", map[string]File{"": reg("")}, "invalid path"},
		{"file is a parent", map[string]File{"a": reg(""), "a/b": reg("")}, `adding "a/b": parent "a" is a file`},
		{"link is a parent", map[string]File{"a": link("b"), "a/b/c": reg("")}, `parent "a" is a file`},
		{"directory mode", map[string]File{"a": {Mode: fs.ModeDir | 0o755}}, "unsupported file mode"},
		{"device mode", map[string]File{"a": {Mode: fs.ModeDevice}}, "unsupported file mode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := repofs.New(tt.files)
			if err == nil || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New error = %v, want one containing %q", err, tt.wantMsg)
			}
		})
	}
}

func TestFromMapPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("FromMap with an invalid path did not panic")
		}
	}()
	repofs.FromMap(map[string]File{"../x": reg("")})
}

func TestMode(t *testing.T) {
	s := repofs.FromMap(map[string]File{"a/b.sh": exe(""), "a/c": reg("")})
	tests := []struct {
		name   string
		want   fs.FileMode
		wantOK bool
	}{
		{"a/b.sh", 0o755, true},
		{"a/c", 0o644, true},
		{"a", fs.ModeDir | 0o755, true},
		{".", fs.ModeDir | 0o755, true},
		{"a/d", 0, false},
		{"a/", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := s.Mode(tt.name)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Mode(%q) = %v, %v; want %v, %v", tt.name, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	s := repofs.FromMap(map[string]File{"a/b": reg("b")})
	tests := []struct {
		name   string
		op     func() error
		wantIs error
	}{
		{"Open missing", func() error { _, err := s.Open("a/x"); return err }, fs.ErrNotExist},
		{"Open invalid", func() error { _, err := s.Open("a/../a/b"); return err }, fs.ErrInvalid},
		{"Stat missing", func() error { _, err := s.Stat("x"); return err }, fs.ErrNotExist},
		{"Lstat missing", func() error { _, err := s.Lstat("x"); return err }, fs.ErrNotExist},
		{"ReadLink missing", func() error { _, err := s.ReadLink("x"); return err }, fs.ErrNotExist},
		{"ReadFile missing", func() error { _, err := s.ReadFile("x"); return err }, fs.ErrNotExist},
		{"ReadFile directory", func() error { _, err := s.ReadFile("a"); return err }, fs.ErrInvalid},
		{"ReadDir file", func() error { _, err := s.ReadDir("a/b"); return err }, fs.ErrInvalid},
		{"ReadDir missing", func() error { _, err := s.ReadDir("b"); return err }, fs.ErrNotExist},
		{"Read directory", func() error {
			f, err := s.Open("a")
			if err != nil {
				return nil
			}
			_, err = f.Read(make([]byte, 1))
			return err
		}, fs.ErrInvalid},
		{"Read closed file", func() error {
			f, err := s.Open("a/b")
			if err != nil {
				return nil
			}
			f.Close()
			_, err = f.Read(make([]byte, 1))
			return err
		}, fs.ErrClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.op()
			var pe *fs.PathError
			if !errors.Is(err, tt.wantIs) || !errors.As(err, &pe) {
				t.Errorf("error = %v, want an *fs.PathError wrapping %v", err, tt.wantIs)
			}
		})
	}
}

func TestReadFileReturnsCopy(t *testing.T) {
	s := repofs.FromMap(map[string]File{"a": reg("abc")})
	data, err := s.ReadFile("a")
	if err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	f, err := s.Open("a")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := io.ReadAll(f)
	if err != nil || string(got) != "abc" {
		t.Errorf("content after modifying ReadFile's result = %q, %v; want %q", got, err, "abc")
	}
}
