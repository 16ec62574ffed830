package pkgdiff

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"runtime"
	"slices"
	"sync"
)

// Walk lists the root filesystem in the directory root, sorted by path: every directory
// with its mode, every regular file with its size and SHA-256, every symlink with its
// target, and anything else (devices, fifos, sockets) with its mode. Symlinks are never
// followed, and nothing outside root is read. The directories /proc, /sys, /dev, /run,
// /tmp, /var/lib/apt/lists and /var/cache/apt are listed but their contents are not:
// they are mount points or caches, not part of the image. Files are hashed in parallel.
// Ownership is not recorded.
func Walk(ctx context.Context, root string) ([]FileEntry, error) {
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	defer r.Close()

	var entries []FileEntry
	// Regular files to hash, by directory: a worker opens the directory once and each file
	// in it with a single openat, rather than resolving every path from the root again.
	regular := map[string][]int{}
	fsys := r.FS()
	err = fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if name == "." {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		e := FileEntry{Path: "/" + name, Mode: info.Mode()}
		switch {
		case d.IsDir():
			entries = append(entries, e)
			if skipContents(e.Path) {
				return fs.SkipDir
			}
			return nil
		case e.Mode.Type() == fs.ModeSymlink:
			if e.LinkTarget, err = r.Readlink(name); err != nil {
				return err
			}
		case e.Mode.IsRegular():
			dir := path.Dir(name)
			regular[dir] = append(regular[dir], len(entries))
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	if err := hashAll(ctx, r, entries, regular); err != nil {
		return nil, fmt.Errorf("walking %s: %w", root, err)
	}
	slices.SortFunc(entries, func(a, b FileEntry) int { return cmp.Compare(a.Path, b.Path) })
	return entries, nil
}

// skipContents says whether the directory p (absolute within the root) is listed without
// its contents.
func skipContents(p string) bool {
	switch p {
	case "/proc", "/sys", "/dev", "/run", "/tmp", "/var/lib/apt/lists", "/var/cache/apt":
		return true
	}
	return false
}

// hashAll fills in the size and digest of the regular files, given as indexes into entries
// by directory, with one worker per CPU: reading from the page cache, hashing is what takes
// the time.
func hashAll(ctx context.Context, r *os.Root, entries []FileEntry, regular map[string][]int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	type job struct {
		dir   string
		files []int
	}
	jobs := make(chan job)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(regular), 1)) {
		wg.Go(func() {
			buf := make([]byte, 256<<10)
			for j := range jobs {
				if ctx.Err() != nil {
					continue
				}
				if err := hashDir(ctx, r, j.dir, entries, j.files, buf); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for dir, files := range regular {
		select {
		case jobs <- job{dir, files}:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}

func hashDir(ctx context.Context, r *os.Root, dir string, entries []FileEntry, files []int, buf []byte) error {
	d, err := r.OpenRoot(dir)
	if err != nil {
		return fmt.Errorf("opening /%s: %w", dir, err)
	}
	defer d.Close()
	for _, i := range files {
		if err := ctx.Err(); err != nil {
			return err
		}
		e := &entries[i]
		size, sum, err := hashFile(d, path.Base(e.Path), buf)
		if err != nil {
			return fmt.Errorf("hashing %s: %w", e.Path, err)
		}
		e.Size, e.SHA256 = size, sum
	}
	return nil
}

func hashFile(r *os.Root, name string, buf []byte) (int64, string, error) {
	f, err := r.Open(name)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.CopyBuffer(h, onlyReader{f}, buf)
	if err != nil {
		return 0, "", err
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// onlyReader hides a file's WriterTo, so that io.CopyBuffer uses the buffer it is given.
type onlyReader struct{ io.Reader }
