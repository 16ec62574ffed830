// Package repofs provides read-only, in-memory snapshots of a repository as an [io/fs.FS]:
// a git revision ([FromGit]), a working tree ([FromDir]) or a tarball as GitHub's tarball API
// returns it ([FromTar]). The loader of the fleet repository reads inventory/, clusters/,
// images/ and specs/ through a [Snapshot] and never needs to know where the files came from.
//
// A Snapshot holds files with the modes git knows: regular (0644), executable (0755) and
// symbolic link ([fs.ModeSymlink], whose content is the link target). Directories are implied
// by file paths, so empty directories do not exist. Symbolic links are never followed:
// ReadLink gives the target, Stat, Lstat and ReadDir report the link itself, and Open and
// ReadFile fail with [ErrSymlink].
package repofs

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// MaxBytes is the most content one snapshot may hold, counted as the sum of file sizes and
// path lengths: 1 GiB. FromGit, FromDir and FromTar fail with [ErrTooLarge] beyond it, so a
// runaway repository or a hostile tarball cannot exhaust memory.
const MaxBytes = 1 << 30

// Sentinel errors that callers can test with [errors.Is].
var (
	// ErrNotRepository means the directory given to FromGit is not inside a git repository.
	ErrNotRepository = errors.New("not a git repository")
	// ErrUnknownRevision means the revision given to FromGit does not name a commit.
	ErrUnknownRevision = errors.New("unknown revision")
	// ErrTooLarge means the content exceeds MaxBytes.
	ErrTooLarge = errors.New("snapshot too large")
	// ErrSymlink is returned (inside an *fs.PathError) when a symbolic link is opened or read
	// as a file. It wraps fs.ErrInvalid.
	ErrSymlink = fmt.Errorf("symbolic link not followed: %w", fs.ErrInvalid)
)

// File is the content and mode of one file, as given to New and FromMap.
//
// Mode is 0644 for a regular file, 0755 for an executable one, or fs.ModeSymlink for a
// symbolic link whose target is Data. Other permission bits are normalized: any execute bit
// makes 0755, none makes 0644, and a symbolic link always has permissions 0777.
type File struct {
	Data []byte
	Mode fs.FileMode
}

// Snapshot is an immutable, in-memory file tree. It implements fs.FS, fs.ReadFileFS,
// fs.ReadDirFS, fs.StatFS and fs.ReadLinkFS, and is safe for concurrent use. Its file times
// are all the zero time.
type Snapshot struct {
	// Rev is what the snapshot was asked for, such as "HEAD~1" or "working tree".
	Rev string
	// Commit is the full commit id for a snapshot of a git revision, empty otherwise.
	Commit string

	entries map[string]*entry // by path, directories included, "." is the root
	paths   []string          // sorted paths of files and symbolic links
}

// New returns a snapshot of files, keyed by slash-separated paths valid for fs.ValidPath.
// It copies the data. It fails if a path is invalid, if a file is also the parent directory
// of another file, or if a mode is neither a regular file nor a symbolic link.
func New(files map[string]File) (*Snapshot, error) {
	owned := make(map[string]File, len(files))
	for name, f := range files {
		owned[name] = File{Data: slices.Clone(f.Data), Mode: f.Mode}
	}
	return build(owned)
}

// FromMap is New for tests and generated fixtures whose paths are known to be good: it
// panics where New would return an error.
func FromMap(files map[string]File) *Snapshot {
	s, err := New(files)
	if err != nil {
		panic(fmt.Sprintf("repofs.FromMap: %v", err))
	}
	return s
}

// build makes a snapshot that takes ownership of the data in files.
func build(files map[string]File) (*Snapshot, error) {
	root := &entry{name: ".", path: ".", mode: fs.ModeDir | 0o755}
	s := &Snapshot{
		entries: map[string]*entry{".": root},
		paths:   make([]string, 0, len(files)),
	}
	for name := range files {
		s.paths = append(s.paths, name)
	}
	slices.Sort(s.paths)
	for _, name := range s.paths {
		f := files[name]
		if !fs.ValidPath(name) || name == "." {
			return nil, fmt.Errorf("adding %q: invalid path", name)
		}
		mode, err := normalize(f.Mode)
		if err != nil {
			return nil, fmt.Errorf("adding %q: %w", name, err)
		}
		parent, err := s.mkdirAll(name)
		if err != nil {
			return nil, fmt.Errorf("adding %q: %w", name, err)
		}
		if _, ok := s.entries[name]; ok {
			return nil, fmt.Errorf("adding %q: a directory has the same path", name)
		}
		e := &entry{name: base(name), path: name, mode: mode, data: f.Data}
		s.entries[name] = e
		parent.children = append(parent.children, e)
	}
	for _, e := range s.entries {
		slices.SortFunc(e.children, func(a, b *entry) int { return cmp.Compare(a.name, b.name) })
	}
	return s, nil
}

// mkdirAll creates the directories above name and returns its parent.
func (s *Snapshot) mkdirAll(name string) (*entry, error) {
	parent := s.entries["."]
	for i := range len(name) {
		if name[i] != '/' {
			continue
		}
		dir := name[:i]
		e, ok := s.entries[dir]
		switch {
		case !ok:
			e = &entry{name: base(dir), path: dir, mode: fs.ModeDir | 0o755}
			s.entries[dir] = e
			parent.children = append(parent.children, e)
		case !e.mode.IsDir():
			return nil, fmt.Errorf("parent %q is a file", dir)
		}
		parent = e
	}
	return parent, nil
}

func normalize(m fs.FileMode) (fs.FileMode, error) {
	switch {
	case m.Type() == fs.ModeSymlink:
		return fs.ModeSymlink | 0o777, nil
	case m.Type() != 0:
		return 0, fmt.Errorf("unsupported file mode %v", m)
	case m&0o111 != 0:
		return 0o755, nil
	default:
		return 0o644, nil
	}
}

func base(name string) string {
	return name[strings.LastIndexByte(name, '/')+1:]
}

// Paths returns the sorted paths of all files and symbolic links; directories are left out.
func (s *Snapshot) Paths() []string {
	return slices.Clone(s.paths)
}

// Mode returns the mode of the named file, symbolic link or directory without copying
// anything, and whether it exists.
func (s *Snapshot) Mode(name string) (fs.FileMode, bool) {
	e, ok := s.entries[name]
	if !ok {
		return 0, false
	}
	return e.mode, true
}

// Open opens the named file or directory. A symbolic link is not followed: opening one
// fails with ErrSymlink.
func (s *Snapshot) Open(name string) (fs.File, error) {
	e, err := s.lookup("open", name)
	if err != nil {
		return nil, err
	}
	switch {
	case e.mode.IsDir():
		return &dirHandle{e: e}, nil
	case e.mode.Type() == fs.ModeSymlink:
		return nil, &fs.PathError{Op: "open", Path: name, Err: ErrSymlink}
	default:
		return &fileHandle{e: e}, nil
	}
}

// ReadFile returns a copy of the content of the named file. It fails with ErrSymlink for a
// symbolic link.
func (s *Snapshot) ReadFile(name string) ([]byte, error) {
	e, err := s.lookup("read", name)
	if err != nil {
		return nil, err
	}
	switch {
	case e.mode.IsDir():
		return nil, &fs.PathError{Op: "read", Path: name, Err: fmt.Errorf("is a directory: %w", fs.ErrInvalid)}
	case e.mode.Type() == fs.ModeSymlink:
		return nil, &fs.PathError{Op: "read", Path: name, Err: ErrSymlink}
	}
	return slices.Clone(e.data), nil
}

// ReadDir returns the entries of the named directory, sorted by name.
func (s *Snapshot) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := s.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !e.mode.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fmt.Errorf("not a directory: %w", fs.ErrInvalid)}
	}
	list := make([]fs.DirEntry, len(e.children))
	for i, c := range e.children {
		list[i] = c
	}
	return list, nil
}

// Stat describes the named file. A symbolic link is not followed, so Stat is the same as
// Lstat.
func (s *Snapshot) Stat(name string) (fs.FileInfo, error) {
	return s.lookup("stat", name)
}

// Lstat describes the named file without following a symbolic link.
func (s *Snapshot) Lstat(name string) (fs.FileInfo, error) {
	return s.lookup("lstat", name)
}

// ReadLink returns the target of the named symbolic link.
func (s *Snapshot) ReadLink(name string) (string, error) {
	e, err := s.lookup("readlink", name)
	if err != nil {
		return "", err
	}
	if e.mode.Type() != fs.ModeSymlink {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return string(e.data), nil
}

func (s *Snapshot) lookup(op, name string) (*entry, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	e, ok := s.entries[name]
	if !ok {
		return nil, &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	return e, nil
}

// entry is a file, symbolic link or directory. It is its own fs.FileInfo and fs.DirEntry.
type entry struct {
	name     string // base name, "." for the root
	path     string
	mode     fs.FileMode
	data     []byte   // content, or the target of a symbolic link
	children []*entry // sorted by name; directories only
}

func (e *entry) Name() string               { return e.name }
func (e *entry) Size() int64                { return int64(len(e.data)) }
func (e *entry) Mode() fs.FileMode          { return e.mode }
func (e *entry) Type() fs.FileMode          { return e.mode.Type() }
func (e *entry) ModTime() time.Time         { return time.Time{} }
func (e *entry) IsDir() bool                { return e.mode.IsDir() }
func (e *entry) Sys() any                   { return nil }
func (e *entry) Info() (fs.FileInfo, error) { return e, nil }
func (e *entry) String() string             { return fs.FormatFileInfo(e) }

var (
	_ fs.ReadFileFS = (*Snapshot)(nil)
	_ fs.ReadDirFS  = (*Snapshot)(nil)
	_ fs.StatFS     = (*Snapshot)(nil)
	_ fs.ReadLinkFS = (*Snapshot)(nil)
)
