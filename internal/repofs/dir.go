package repofs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// FromDir reads the working tree at dir into memory, files under prefixes only (none means
// everything; a prefix that does not exist is simply absent). Its Rev is "working tree".
//
// It reads what is on disk, tracked or not, and does not consult .gitignore. .git is left
// out, and so is any directory holding a .git of its own (a submodule or nested repository),
// as a git snapshot leaves out submodules. Symbolic links are kept as links, not followed;
// a file is executable (0755) if any execute bit is set; sockets, pipes and devices are
// skipped. Reads stay inside dir.
func FromDir(dir string, prefixes ...string) (*Snapshot, error) {
	return fromDir(MaxBytes, dir, prefixes)
}

func fromDir(limit int64, dir string, prefixList []string) (*Snapshot, error) {
	ps, err := parsePrefixes(prefixList)
	if err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("reading working tree: %w", err)
	}
	defer root.Close()
	w := dirWalker{fsys: root.FS(), files: map[string]File{}, limit: limit, budget: limit}
	tops := []string(ps)
	if tops == nil {
		tops = []string{"."}
	}
	for _, top := range tops {
		if err := w.walkTop(top); err != nil {
			return nil, fmt.Errorf("reading working tree %s: %w", dir, err)
		}
	}
	s, err := build(w.files)
	if err != nil {
		return nil, fmt.Errorf("reading working tree %s: %w", dir, err)
	}
	s.Rev = "working tree"
	return s, nil
}

// dirWalker collects files from a directory tree.
type dirWalker struct {
	fsys   fs.FS // confined to the working tree by os.Root
	files  map[string]File
	limit  int64
	budget int64 // what is left of limit
}

// walkTop adds the file or tree at top, if it exists. Like git, it does not look behind a
// symbolic link or into a nested repository on the way to top.
func (w *dirWalker) walkTop(top string) error {
	for i := range len(top) {
		if top[i] != '/' {
			continue
		}
		info, err := fs.Lstat(w.fsys, top[:i])
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case err != nil:
			return err
		case !info.IsDir(), isGitMeta(top[:i]), w.hasGit(top[:i]):
			return nil
		}
	}
	info, err := fs.Lstat(w.fsys, top)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return err
	case !info.IsDir():
		if isGitMeta(top) {
			return nil
		}
		return w.add(top, info.Mode())
	}
	return fs.WalkDir(w.fsys, top, w.visit)
}

func (w *dirWalker) visit(name string, d fs.DirEntry, err error) error {
	if err != nil {
		return err
	}
	if d.Name() == ".git" {
		if d.IsDir() {
			return fs.SkipDir
		}
		return nil
	}
	if d.IsDir() {
		if name != "." && w.hasGit(name) {
			return fs.SkipDir
		}
		return nil
	}
	return w.add(name, d.Type())
}

// add reads the file or symbolic link at name; other types are skipped.
func (w *dirWalker) add(name string, typ fs.FileMode) error {
	switch typ.Type() {
	case fs.ModeSymlink:
		target, err := fs.ReadLink(w.fsys, name)
		if err != nil {
			return err
		}
		return w.put(name, File{Data: []byte(target), Mode: fs.ModeSymlink})
	case 0:
		info, err := fs.Lstat(w.fsys, name)
		if err != nil {
			return err
		}
		if info.Size() > w.budget {
			return fmt.Errorf("%s: %w (limit %d bytes)", name, ErrTooLarge, w.limit)
		}
		data, err := fs.ReadFile(w.fsys, name)
		if err != nil {
			return err
		}
		return w.put(name, File{Data: data, Mode: info.Mode().Perm()})
	default:
		return nil
	}
}

func (w *dirWalker) put(name string, f File) error {
	w.budget -= int64(len(name) + len(f.Data))
	if w.budget < 0 {
		return fmt.Errorf("%s: %w (limit %d bytes)", name, ErrTooLarge, w.limit)
	}
	w.files[name] = f
	return nil
}

// hasGit reports whether the directory is a repository of its own.
func (w *dirWalker) hasGit(dir string) bool {
	_, err := fs.Lstat(w.fsys, dir+"/.git")
	return err == nil
}

// isGitMeta reports whether name is git's own: a .git directory or file.
func isGitMeta(name string) bool {
	return base(name) == ".git"
}
