package artifacts

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

// Staging is one publication in progress: artifacts are added to a private directory under
// root/.staging, and Commit renames it into place as root/<id>. Until then nothing of it is
// visible, and Abort, a failed Commit or the next Open deletes it. A Staging is used by one
// goroutine.
type Staging struct {
	s         *Store
	id        imageid.ID
	dir       string
	artifacts []Artifact
	files     *FileList
	done      bool
}

// Begin starts publishing image id.
func (s *Store) Begin(ctx context.Context, id imageid.ID) (*Staging, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("publishing image %s: %w", id.Short(), err)
	}
	if !validID(id) {
		return nil, fmt.Errorf("publishing image %q: not an image id", id)
	}
	dir, err := os.MkdirTemp(filepath.Join(s.root, stagingDir), id.Short()+"-*")
	if err != nil {
		return nil, fmt.Errorf("publishing image %s: %w", id.Short(), err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("publishing image %s: %w", id.Short(), err)
	}
	return &Staging{s: s, id: id, dir: dir}, nil
}

// Add copies the file src into the publication as artifact a, computing its size and
// digest while copying, and returns a with them filled in. When a already has a digest or a
// size, the copy must match them. The copy is synced to disk before Add returns.
func (st *Staging) Add(ctx context.Context, a Artifact, src string) (Artifact, error) {
	f, err := os.Open(src)
	if err != nil {
		return Artifact{}, fmt.Errorf("adding artifact %s to image %s: %w", a.Name, st.id.Short(), err)
	}
	defer f.Close()
	return st.AddReader(ctx, a, f)
}

// AddReader is Add reading the content from r, such as a build's output stream.
func (st *Staging) AddReader(ctx context.Context, a Artifact, r io.Reader) (Artifact, error) {
	if err := st.check(a); err != nil {
		return Artifact{}, err
	}
	a, err := st.write(ctx, a, r)
	if mismatch := (*MismatchError)(nil); errors.As(err, &mismatch) {
		return Artifact{}, err // says which image and artifact
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("adding artifact %s to image %s: %w", a.Name, st.id.Short(), err)
	}
	st.artifacts = append(st.artifacts, a)
	return a, nil
}

func (st *Staging) write(ctx context.Context, a Artifact, r io.Reader) (Artifact, error) {
	path := filepath.Join(st.dir, a.Name)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o444)
	if err != nil {
		return a, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := copyHashing(ctx, f, h, r)
	if err != nil {
		return a, err
	}
	if err := f.Sync(); err != nil {
		return a, err
	}
	if err := f.Close(); err != nil {
		return a, err
	}
	return st.fill(a, n, hex.EncodeToString(h.Sum(nil)))
}

// Move is Add for a file the caller gives up: it is renamed into the publication when it
// is on the same filesystem, which saves writing it again, and copied then deleted when it
// is not. The file is read once to compute its digest. If Move fails, src is left where it
// was.
func (st *Staging) Move(ctx context.Context, a Artifact, src string) (Artifact, error) {
	if err := st.check(a); err != nil {
		return Artifact{}, err
	}
	dst := filepath.Join(st.dir, a.Name)
	err := os.Rename(src, dst)
	if errors.Is(err, syscall.EXDEV) {
		if a, err = st.Add(ctx, a, src); err != nil {
			return Artifact{}, err
		}
		if err := os.Remove(src); err != nil {
			return Artifact{}, fmt.Errorf("adding artifact %s to image %s: removing the source: %w", a.Name, st.id.Short(), err)
		}
		return a, nil
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("adding artifact %s to image %s: %w", a.Name, st.id.Short(), err)
	}
	a, err = st.hashMoved(ctx, a, dst)
	if err != nil {
		if rerr := os.Rename(dst, src); rerr != nil {
			err = errors.Join(err, fmt.Errorf("moving %s back: %w", src, rerr))
		}
		return Artifact{}, fmt.Errorf("adding artifact %s to image %s: %w", a.Name, st.id.Short(), err)
	}
	st.artifacts = append(st.artifacts, a)
	return a, nil
}

// hashMoved digests a file renamed into the staging directory, makes it read-only and
// syncs it, since whoever wrote it may not have.
func (st *Staging) hashMoved(ctx context.Context, a Artifact, path string) (Artifact, error) {
	f, err := os.Open(path)
	if err != nil {
		return a, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := copyHashing(ctx, io.Discard, h, f)
	if err != nil {
		return a, err
	}
	if err := f.Sync(); err != nil {
		return a, err
	}
	if err := f.Chmod(0o444); err != nil {
		return a, err
	}
	return st.fill(a, n, hex.EncodeToString(h.Sum(nil)))
}

// fill sets the size and digest of a, which must match any the caller gave.
func (st *Staging) fill(a Artifact, size int64, sum string) (Artifact, error) {
	if a.SHA256 != "" && a.SHA256 != sum {
		return a, &MismatchError{ID: st.id, File: a.Name, Want: a.SHA256, Got: sum}
	}
	if a.Size != 0 && a.Size != size {
		return a, fmt.Errorf("size is %d bytes, want %d", size, a.Size)
	}
	a.Size, a.SHA256 = size, sum
	return a, nil
}

func (st *Staging) check(a Artifact) error {
	if st.done {
		return fmt.Errorf("adding artifact %s to image %s: publication already ended", a.Name, st.id.Short())
	}
	if err := checkArtifactName(a.Name); err != nil {
		return fmt.Errorf("image %s: %w", st.id.Short(), err)
	}
	if slices.ContainsFunc(st.artifacts, func(b Artifact) bool { return b.Name == a.Name }) {
		return fmt.Errorf("image %s: artifact %s added twice", st.id.Short(), a.Name)
	}
	if a.Kind == "" || a.Format == "" {
		return fmt.Errorf("image %s: artifact %s needs a kind and a format", st.id.Short(), a.Name)
	}
	return nil
}

// SetFiles records the image's file list, as files.json.gz beside the manifest.
func (st *Staging) SetFiles(ctx context.Context, entries []pkgdiff.FileEntry) error {
	if st.done {
		return fmt.Errorf("image %s: file list: publication already ended", st.id.Short())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	enc := json.NewEncoder(zw)
	if entries == nil {
		entries = []pkgdiff.FileEntry{}
	}
	if err := enc.Encode(entries); err != nil {
		return fmt.Errorf("image %s: file list: %w", st.id.Short(), err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("image %s: file list: %w", st.id.Short(), err)
	}
	path := filepath.Join(st.dir, FilesName)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("image %s: file list: %w", st.id.Short(), err)
	}
	sum := sha256.Sum256(buf.Bytes())
	list := &FileList{Name: FilesName, Count: len(entries), Size: int64(buf.Len()), SHA256: hex.EncodeToString(sum[:])}
	if err := writeFile(path, &buf); err != nil {
		return fmt.Errorf("image %s: file list: %w", st.id.Short(), err)
	}
	st.files = list
	return nil
}

// Commit writes the manifest and moves the publication into place. If the store already
// holds the id, Commit leaves it as it is and discards this publication: ids are content
// addresses, so the two are the same build. Use Replace to overwrite.
//
// From m, Commit takes the name, variant, parent, build arguments, packages and spec
// results. The id must be empty or the one given to Begin; Created, if zero, becomes the
// current time, and is stored in UTC; an empty Variant becomes Name. Artifacts and Files
// come from what was added: m.Artifacts must be empty or name exactly the added artifacts.
func (st *Staging) Commit(ctx context.Context, m Manifest) error {
	return st.commit(ctx, m, false)
}

// Replace is Commit that overwrites an image the store already holds, to repair it. The
// image is briefly absent while its directory is swapped, never partly written.
func (st *Staging) Replace(ctx context.Context, m Manifest) error {
	return st.commit(ctx, m, true)
}

func (st *Staging) commit(ctx context.Context, m Manifest, replace bool) (err error) {
	if st.done {
		return fmt.Errorf("publishing image %s: publication already ended", st.id.Short())
	}
	defer func() {
		if err != nil {
			st.Abort()
			err = fmt.Errorf("publishing image %s: %w", st.id.Short(), err)
		}
	}()
	if err := ctx.Err(); err != nil {
		return err
	}
	if m, err = st.manifest(m); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(st.dir, ManifestName), m); err != nil {
		return err
	}
	if err := syncDir(st.dir); err != nil {
		return err
	}
	final := filepath.Join(st.s.root, string(st.id))
	old, err := st.s.rename(st.dir, final, replace)
	if errors.Is(err, fs.ErrExist) {
		return st.Abort() // already published: nothing to do
	}
	if err != nil {
		return err
	}
	st.done = true
	if old != "" {
		if err := os.RemoveAll(old); err != nil {
			return fmt.Errorf("removing the replaced directory: %w", err)
		}
	}
	return syncDir(st.s.root)
}

// rename moves a finished staging directory into place. With replace, an existing directory
// is first moved into the staging area, and its new name returned for deletion.
func (s *Store) rename(staged, final string, replace bool) (old string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if replace {
		old = staged + ".replaced"
		if err := os.Rename(final, old); err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				return "", err
			}
			old = ""
		}
	}
	if err := os.Rename(staged, final); err != nil {
		if old != "" {
			if rerr := os.Rename(old, final); rerr != nil {
				err = errors.Join(err, fmt.Errorf("putting the replaced directory back: %w", rerr))
			}
		}
		return "", err
	}
	return old, nil
}

// manifest completes and checks m against what was staged.
func (st *Staging) manifest(m Manifest) (Manifest, error) {
	if m.ID == "" {
		m.ID = st.id
	}
	if m.ID != st.id {
		return m, fmt.Errorf("manifest is for image %s", m.ID)
	}
	if m.Name == "" {
		return m, errors.New("manifest has no image name")
	}
	if m.Variant == "" {
		m.Variant = m.Name
	}
	if m.Parent != "" && !validID(m.Parent) {
		return m, fmt.Errorf("parent %q is not an image id", m.Parent)
	}
	if m.SpecResults != nil && !json.Valid(m.SpecResults) {
		return m, errors.New("spec results are not valid JSON")
	}
	if len(m.Artifacts) > 0 {
		names := func(as []Artifact) []string {
			out := make([]string, len(as))
			for i, a := range as {
				out[i] = a.Name
			}
			slices.Sort(out)
			return out
		}
		if got, want := names(st.artifacts), names(m.Artifacts); !slices.Equal(got, want) {
			return m, fmt.Errorf("manifest lists artifacts %q, but %q were added", want, got)
		}
	}
	m.Schema = Schema
	m.Artifacts = slices.Clone(st.artifacts)
	if m.Artifacts == nil {
		m.Artifacts = []Artifact{}
	}
	m.Files = st.files
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	m.Created = m.Created.UTC()
	if m.BuildArgs == nil {
		m.BuildArgs = map[string]string{}
	}
	if m.Packages == nil {
		m.Packages = []pkgdiff.Package{}
	}
	return m, nil
}

// Abort discards the publication. It may be deferred: after Commit it does nothing.
func (st *Staging) Abort() error {
	if st.done {
		return nil
	}
	st.done = true
	if err := os.RemoveAll(st.dir); err != nil {
		return fmt.Errorf("discarding publication of image %s: %w", st.id.Short(), err)
	}
	return nil
}

// Publish publishes image m.ID in one call: every artifact m lists is copied from
// sources[name] (a file path), files, if not nil, becomes the file list, and the result is
// committed. If the store already holds the id, Publish does nothing. On any error, nothing
// is published and nothing is left behind.
func (s *Store) Publish(ctx context.Context, m Manifest, sources map[string]string, files []pkgdiff.FileEntry) error {
	if _, err := s.Get(m.ID); err == nil {
		return nil
	}
	for _, a := range m.Artifacts {
		if _, ok := sources[a.Name]; !ok {
			return fmt.Errorf("publishing image %s: no source file for artifact %s", m.ID.Short(), a.Name)
		}
	}
	for name := range sources {
		if _, ok := m.Artifact(name); !ok {
			return fmt.Errorf("publishing image %s: source file for %s, which the manifest does not list", m.ID.Short(), name)
		}
	}
	st, err := s.Begin(ctx, m.ID)
	if err != nil {
		return err
	}
	defer st.Abort()
	for _, a := range m.Artifacts {
		if _, err := st.Add(ctx, a, sources[a.Name]); err != nil {
			return err
		}
	}
	if files != nil {
		if err := st.SetFiles(ctx, files); err != nil {
			return err
		}
	}
	return st.Commit(ctx, m)
}
