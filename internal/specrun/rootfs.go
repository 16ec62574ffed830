package specrun

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
)

// maxSymlinks is how many symbolic links one lookup may follow, as Linux's MAXSYMLINKS.
const maxSymlinks = 40

// maxRead is the most of a file that is read to match its content.
const maxRead = 64 << 20

// errTooLarge is returned for a file longer than maxRead.
var errTooLarge = errors.New("file too large")

// rootFS reads an image's root file system from the host. Paths are the image's own
// ("/etc/passwd"); symbolic links are followed the way the image would see them once booted —
// an absolute target starts again at the image's root and ".." stops at it — so nothing outside
// the root is ever read, whatever the links say. The os.Root underneath guards that too.
type rootFS struct {
	root *os.Root
}

// resolve returns p with every symbolic link in it followed inside the root, as a path relative
// to the root ("." for the root itself) that has no symbolic link in it. When followLast is
// false the last component is kept as it is, so that it may itself be a link. A component that
// does not exist is an error wrapping fs.ErrNotExist; the path returned is then the one that
// was looked for.
func (r rootFS) resolve(p string, followLast bool) (string, error) {
	rest := components(path.Clean("/" + p))
	var done []string
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		if c == ".." {
			if len(done) > 0 {
				done = done[:len(done)-1]
			}
			continue
		}
		rel := join(append(done[:len(done):len(done)], c))
		if len(rest) == 0 && !followLast {
			done = append(done, c)
			break
		}
		fi, err := r.root.Lstat(rel)
		if err != nil {
			return rel, unwrapPath(err)
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			links++
			if links > maxSymlinks {
				return rel, syscall.ELOOP
			}
			target, err := r.root.Readlink(rel)
			if err != nil {
				return rel, unwrapPath(err)
			}
			if path.IsAbs(target) {
				done = done[:0]
			}
			rest = append(components(target), rest...)
		case len(rest) > 0 && !fi.IsDir():
			return rel, syscall.ENOTDIR
		default:
			done = append(done, c)
		}
	}
	return join(done), nil
}

// components splits a path into its names, leaving out empty ones and ".".
func components(p string) []string {
	var out []string
	for c := range strings.SplitSeq(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

func join(cs []string) string {
	if len(cs) == 0 {
		return "."
	}
	return strings.Join(cs, "/")
}

// unwrapPath drops the *fs.PathError around err: its path is the host's, which means nothing to
// someone reading about the image.
func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}

// image turns a path relative to the root back into the image's absolute path.
func image(rel string) string { return path.Clean("/" + rel) }

// lstat describes p itself: a link in its last component is not followed.
func (r rootFS) lstat(p string) (fs.FileInfo, error) {
	rel, err := r.resolve(p, false)
	if err != nil {
		return nil, err
	}
	fi, err := r.root.Lstat(rel)
	return fi, unwrapPath(err)
}

// stat describes what p leads to, following links; it also returns the image path reached.
func (r rootFS) stat(p string) (fs.FileInfo, string, error) {
	rel, err := r.resolve(p, true)
	if err != nil {
		return nil, image(rel), err
	}
	fi, err := r.root.Lstat(rel)
	return fi, image(rel), unwrapPath(err)
}

// readlink returns the target of the link p as it is written.
func (r rootFS) readlink(p string) (string, error) {
	rel, err := r.resolve(p, false)
	if err != nil {
		return "", err
	}
	t, err := r.root.Readlink(rel)
	return t, unwrapPath(err)
}

// readFile returns the content of the regular file p leads to, up to maxRead bytes.
func (r rootFS) readFile(p string) ([]byte, error) {
	rel, err := r.resolve(p, true)
	if err != nil {
		return nil, err
	}
	f, err := r.root.OpenFile(rel, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", image(rel))
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRead+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(b) > maxRead {
		return nil, fmt.Errorf("%w: more than %d MiB", errTooLarge, maxRead>>20)
	}
	return b, nil
}

// readDir lists the directory p leads to; a missing directory lists as empty.
func (r rootFS) readDir(p string) ([]fs.DirEntry, error) {
	rel, err := r.resolve(p, true)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	f, err := r.root.Open(rel)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer f.Close()
	es, err := f.ReadDir(-1)
	return es, unwrapPath(err)
}

// openRoot opens the image's root directory.
func openRoot(dir string) (*os.Root, error) {
	if dir == "" {
		return nil, errors.New("no root directory given")
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("opening root file system: %w", err)
	}
	return root, nil
}
