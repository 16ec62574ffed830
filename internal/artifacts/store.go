package artifacts

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

// stagingDir is where publications are assembled and collected directories are deleted.
const stagingDir = ".staging"

// Store is an artifact store rooted at a directory. Its methods are safe for concurrent use.
type Store struct {
	root string
	// mu orders the renames that put image directories in and out of place; readers need no
	// lock, since a directory they see is always whole.
	mu sync.Mutex
}

// Open opens the store at root, creating the directory if need be, and deletes whatever
// an interrupted publication or collection left in root/.staging.
func Open(root string) (*Store, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("opening artifact store: %w", err)
	}
	staging := filepath.Join(root, stagingDir)
	if err := os.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("opening artifact store: cleaning up %s: %w", staging, err)
	}
	if err := os.Mkdir(staging, 0o700); err != nil {
		return nil, fmt.Errorf("opening artifact store: %w", err)
	}
	return &Store{root: root}, nil
}

// Root is the store's directory.
func (s *Store) Root() string { return s.root }

// ScratchDir creates a new directory on the store's filesystem, named after pattern as
// os.MkdirTemp names it, for files that will be moved into a publication (Staging.Move)
// without being copied. The caller removes it; Open removes any that a crash left behind.
func (s *Store) ScratchDir(pattern string) (string, error) {
	dir, err := os.MkdirTemp(filepath.Join(s.root, stagingDir), "scratch-"+pattern)
	if err != nil {
		return "", fmt.Errorf("artifact store scratch directory: %w", err)
	}
	return dir, nil
}

// Path is where the named artifact of image id is on disk, whether or not it exists.
func (s *Store) Path(id imageid.ID, artifact string) string {
	return filepath.Join(s.root, string(id), artifact)
}

// Get returns the manifest of image id; the error wraps ErrNotFound when the store does not
// hold it.
func (s *Store) Get(id imageid.ID) (Manifest, error) {
	if !validID(id) {
		return Manifest{}, fmt.Errorf("image %q: not an image id: %w", id, ErrNotFound)
	}
	data, err := os.ReadFile(s.Path(id, ManifestName))
	if errors.Is(err, fs.ErrNotExist) {
		return Manifest{}, fmt.Errorf("image %s: %w", id.Short(), ErrNotFound)
	}
	if err != nil {
		return Manifest{}, fmt.Errorf("image %s: %w", id.Short(), err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return Manifest{}, fmt.Errorf("image %s: reading %s: %w", id.Short(), ManifestName, err)
	}
	if m.Schema != Schema {
		return Manifest{}, fmt.Errorf("image %s: %s has schema %q, want %q", id.Short(), ManifestName, m.Schema, Schema)
	}
	if m.ID != id {
		return Manifest{}, fmt.Errorf("image %s: %s is for image %s", id.Short(), ManifestName, m.ID)
	}
	return m, nil
}

// List returns the manifests of every image in the store, sorted by name, then by creation
// time, then by id. It fails if any manifest cannot be read, rather than hide an image.
func (s *Store) List() ([]Manifest, error) {
	ids, err := s.ids()
	if err != nil {
		return nil, err
	}
	out := make([]Manifest, 0, len(ids))
	for _, id := range ids {
		m, err := s.Get(id)
		if errors.Is(err, ErrNotFound) {
			continue // collected since ids() read the directory
		}
		if err != nil {
			return nil, fmt.Errorf("listing artifacts: %w", err)
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b Manifest) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), a.Created.Compare(b.Created), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// ids lists the image directories, ignoring anything else in the root.
func (s *Store) ids() ([]imageid.ID, error) {
	entries, err := os.ReadDir(s.root)
	if err != nil {
		return nil, fmt.Errorf("listing artifacts: %w", err)
	}
	var ids []imageid.ID
	for _, e := range entries {
		if id := imageid.ID(e.Name()); e.IsDir() && validID(id) {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

// Verify hashes every artifact of image id, and its file list, and compares them with the
// manifest. Every file that differs is reported, as a *MismatchError, joined in one error.
func (s *Store) Verify(ctx context.Context, id imageid.ID) error {
	m, err := s.Get(id)
	if err != nil {
		return fmt.Errorf("verifying: %w", err)
	}
	type want struct{ name, sha256 string }
	wants := make([]want, 0, len(m.Artifacts)+1)
	for _, a := range m.Artifacts {
		wants = append(wants, want{a.Name, a.SHA256})
	}
	if m.Files != nil {
		wants = append(wants, want{FilesName, m.Files.SHA256})
	}
	var errs []error
	for _, w := range wants {
		_, got, err := hashFile(ctx, s.Path(id, w.name))
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("verifying image %s: %w", id.Short(), err))
		case got != w.sha256:
			errs = append(errs, &MismatchError{ID: id, File: w.name, Want: w.sha256, Got: got})
		}
		if ctx.Err() != nil {
			break
		}
	}
	return errors.Join(errs...)
}

// Files returns the file list of image id, checked against its digest in the manifest; the
// error wraps ErrNotFound when the build recorded none.
func (s *Store) Files(id imageid.ID) ([]pkgdiff.FileEntry, error) {
	m, err := s.Get(id)
	if err != nil {
		return nil, err
	}
	if m.Files == nil {
		return nil, fmt.Errorf("image %s: file list: %w", id.Short(), ErrNotFound)
	}
	f, err := os.Open(s.Path(id, FilesName))
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", id.Short(), err)
	}
	defer f.Close()
	h := sha256.New()
	zr, err := gzip.NewReader(io.TeeReader(f, h))
	if err != nil {
		return nil, fmt.Errorf("image %s: reading %s: %w", id.Short(), FilesName, err)
	}
	var entries []pkgdiff.FileEntry
	if err := json.NewDecoder(zr).Decode(&entries); err != nil {
		return nil, fmt.Errorf("image %s: reading %s: %w", id.Short(), FilesName, err)
	}
	// Read to the end so that the digest covers the whole file.
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("image %s: reading %s: %w", id.Short(), FilesName, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.Files.SHA256 {
		return nil, &MismatchError{ID: id, File: FilesName, Want: m.Files.SHA256, Got: got}
	}
	return entries, nil
}

// Usage is the total size in bytes of the files under the store's root, publications in
// progress included. Sizes are apparent sizes: a sparse raw disk image counts in full.
func (s *Store) Usage() (int64, error) {
	var total int64
	err := filepath.WalkDir(s.root, func(_ string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // removed while walking
		}
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("measuring artifact store: %w", err)
	}
	return total, nil
}

// hashFile returns the size and hex SHA-256 of a file.
func hashFile(ctx context.Context, path string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	h := sha256.New()
	n, err := copyHashing(ctx, io.Discard, h, f)
	if err != nil {
		return 0, "", fmt.Errorf("hashing %s: %w", filepath.Base(path), err)
	}
	return n, hex.EncodeToString(h.Sum(nil)), nil
}

// copyBuffer is large enough that a copy is a few hundred system calls per gigabyte.
const copyBuffer = 1 << 20

// copyHashing copies src to dst, writing every byte to h as well, and stops when ctx is done.
// Hashing runs in its own goroutine, a few buffers behind the copy, so that a copy costs
// about the larger of the two rather than their sum.
func copyHashing(ctx context.Context, dst io.Writer, h hash.Hash, src io.Reader) (n int64, err error) {
	const buffers = 4
	free := make(chan []byte, buffers)
	for range buffers {
		free <- make([]byte, copyBuffer)
	}
	full := make(chan []byte, buffers)
	hashed := make(chan struct{})
	go func() {
		defer close(hashed)
		for b := range full {
			h.Write(b)
			free <- b[:cap(b)]
		}
	}()
	defer func() {
		close(full)
		<-hashed
	}()
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		buf := <-free
		k, rerr := io.ReadFull(src, buf)
		if k > 0 {
			if _, err := dst.Write(buf[:k]); err != nil {
				return n, err
			}
			full <- buf[:k]
			n += int64(k)
		} else {
			free <- buf
		}
		switch {
		case rerr == io.EOF || rerr == io.ErrUnexpectedEOF:
			return n, nil
		case rerr != nil:
			return n, rerr
		}
	}
}

// writeJSON writes v, indented, as a new read-only file, and syncs it.
func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(path, bytes.NewReader(append(data, '\n')))
}

// writeFile writes r to a new read-only file and syncs it.
func writeFile(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes a directory's entries (a rename into it, a new file) durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
