// Package imagebuild builds a fleet's OS images with buildah: root images
// from a Debian root file system that mmdebstrap makes from the machine's
// own mirror, every other image from its parent, parents first and
// independent images in parallel. Each image is tagged with its
// content-addressed id, so an image whose id did not change is never built
// again.
package imagebuild

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// Builder builds images. Its fields are its configuration; the zero value
// of each is documented.
type Builder struct {
	Buildah Buildah
	// WorkDir holds build contexts and bootstrap tarballs while they are
	// needed; empty means the system's temporary directory.
	WorkDir string
	// AptRoot is where the machine's APT configuration is read; empty
	// means "/".
	AptRoot string
	// MMDebstrap is the mmdebstrap binary; empty means "mmdebstrap".
	MMDebstrap string
	// Parallel bounds how many images build at once; zero means 2.
	Parallel int
	// Progress receives each line of every build's output, with the
	// variant it belongs to; nil discards them.
	Progress func(variant, line string)

	bootstraps bootstrapper
}

func (b *Builder) aptRoot() string {
	if b.AptRoot == "" {
		return "/"
	}
	return b.AptRoot
}

func (b *Builder) mmdebstrap() string {
	if b.MMDebstrap == "" {
		return "mmdebstrap"
	}
	return b.MMDebstrap
}

type progressKey struct{}

// WithProgress returns a context whose builds also report each line of
// their progress to fn: one caller's view of a shared Builder.
func WithProgress(ctx context.Context, fn func(variant, line string)) context.Context {
	return context.WithValue(ctx, progressKey{}, fn)
}

// Report passes a progress line to fallback (when not nil) and to the
// context's WithProgress function (when there is one).
func Report(ctx context.Context, fallback func(variant, line string), variant, line string) {
	if fallback != nil {
		fallback(variant, line)
	}
	if fn, ok := ctx.Value(progressKey{}).(func(variant, line string)); ok {
		fn(variant, line)
	}
}

// Tag is the buildah tag of a build: its variant and its id.
func Tag(build *imageid.Build) string {
	return "localhost/cac/" + build.Variant + ":" + string(build.ID)
}

// Result is what became of one image.
type Result struct {
	Build *imageid.Build
	Tag   string
	// Built is false when the image was in the store already.
	Built    bool
	Duration time.Duration
	Err      error
}

// Error is a failed build: which image, at which Dockerfile step, and the
// last lines of its output.
type Error struct {
	Variant, Image string
	// Step is the Dockerfile step that failed, as buildah announced it
	// ("step 3/7: RUN apt-get …"); empty when the build failed before any.
	Step string
	// Log is the end of the build's output.
	Log string
	Err error
}

func (e *Error) Error() string {
	what := fmt.Sprintf("image %q", e.Image)
	if e.Variant != e.Image {
		what = fmt.Sprintf("image %q (variant %q)", e.Image, e.Variant)
	}
	msg := "building " + what
	if e.Step != "" {
		msg += " failed at " + e.Step
	}
	msg += ": " + e.Err.Error()
	if e.Log != "" {
		msg += "\n" + e.Log
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// ErrParentFailed marks an image not built because its parent failed.
var ErrParentFailed = errors.New("its parent image failed to build")

// Plan returns the builds needed for variants: each variant and every
// image it is built on, parents first.
func Plan(repo *model.Repo, variants []string) ([]*imageid.Build, error) {
	r := imageid.NewResolver(repo)
	seen := map[imageid.ID]bool{}
	var builds []*imageid.Build
	var add func(name string) error
	add = func(name string) error {
		build, err := r.Resolve(name)
		if err != nil {
			return err
		}
		if seen[build.ID] {
			return nil
		}
		seen[build.ID] = true
		if build.ParentImage != "" {
			if err := add(build.ParentImage); err != nil {
				return err
			}
		}
		builds = append(builds, build)
		return nil
	}
	for _, v := range variants {
		if err := add(v); err != nil {
			return nil, err
		}
	}
	return imageid.Order(builds), nil
}

// Build builds the given builds (from Plan) out of the repository's files in
// fsys. Every image is tried; the results come in the order of builds, and
// the error joins the failures.
func (b *Builder) Build(ctx context.Context, repo *model.Repo, fsys fs.FS, builds []*imageid.Build) ([]Result, error) {
	parallel := b.Parallel
	if parallel <= 0 {
		parallel = 2
	}
	results := make([]Result, len(builds))
	done := make(map[imageid.ID]chan struct{}, len(builds))
	index := make(map[imageid.ID]int, len(builds))
	for i, build := range builds {
		done[build.ID] = make(chan struct{})
		index[build.ID] = i
	}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i, build := range builds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := Result{Build: build, Tag: Tag(build)}
			defer func() {
				results[i] = res
				close(done[build.ID]) // after the result: children read it
			}()
			if ch, ok := done[build.Parent]; ok && build.Parent != "" {
				select {
				case <-ch:
				case <-ctx.Done():
					res.Err = ctx.Err()
					return
				}
				if parent := results[index[build.Parent]]; parent.Err != nil {
					res.Err = &Error{Variant: build.Variant, Image: build.Image, Err: fmt.Errorf("%w (%s)", ErrParentFailed, build.ParentImage)}
					return
				}
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				res.Err = ctx.Err()
				return
			}
			defer func() { <-sem }()
			start := time.Now()
			res.Built, res.Err = b.buildOne(ctx, repo, fsys, build)
			res.Duration = time.Since(start)
		}()
	}
	wg.Wait()
	var errs []error
	for _, r := range results {
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return results, errors.Join(errs...)
}

// buildOne builds one image unless its tag exists, and reports whether it
// built.
func (b *Builder) buildOne(ctx context.Context, repo *model.Repo, fsys fs.FS, build *imageid.Build) (bool, error) {
	tag := Tag(build)
	progress := func(line string) { Report(ctx, b.Progress, build.Variant, line) }
	fail := func(step, log string, err error) error {
		return &Error{Variant: build.Variant, Image: build.Image, Step: step, Log: log, Err: err}
	}
	if ok, err := b.Buildah.Exists(ctx, tag); err != nil {
		return false, fail("", "", err)
	} else if ok {
		progress("up to date: " + tag)
		return false, nil
	}
	img := repo.Image(build.Image)
	if img == nil {
		return false, fail("", "", fmt.Errorf("no folder images/%s", build.Image))
	}
	parentTag := ""
	switch {
	case img.Bootstrap != nil:
		t, err := b.bootstrap(ctx, img, progress)
		if err != nil {
			return false, fail("bootstrap", "", err)
		}
		parentTag = t
	case build.Parent != "":
		parentTag = "localhost/cac/" + build.ParentImage + ":" + string(build.Parent)
	}
	dir, err := b.context(fsys, img, build)
	if err != nil {
		return false, fail("", "", err)
	}
	defer os.RemoveAll(dir)

	args := []string{"build", "--isolation", b.Buildah.isolation(), "--layers", "--pull-never",
		"--label", "org.cluster-as-code.image.id=" + string(build.ID),
		"--label", "org.cluster-as-code.image.name=" + build.Image,
		"-f", filepath.Join(dir, "Dockerfile"), "-t", tag}
	if parentTag != "" {
		args = append(args, "--build-arg", "PARENT_IMAGE="+parentTag)
	}
	keys := make([]string, 0, len(build.BuildArgs))
	for k := range build.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+build.BuildArgs[k])
	}
	args = append(args, dir)
	progress(fmt.Sprintf("building %s as %s", build.Image, tag))
	cmd := b.Buildah.command(ctx, args...)
	log := &logTail{max: 40}
	if err := runLogged(cmd, func(line string) { log.add(line); progress(line) }); err != nil {
		if ctx.Err() != nil {
			return false, fail(log.step, "", ctx.Err())
		}
		// runLogged's error carries its own tail; ours names the step.
		return false, fail(log.step, log.String(), errors.New(strings.SplitN(err.Error(), "\n", 2)[0]))
	}
	return true, nil
}

// context writes the image folder's files into a fresh build context: the
// exact files the image id was computed from, with their modes.
func (b *Builder) context(fsys fs.FS, img *model.Image, build *imageid.Build) (string, error) {
	dir, err := os.MkdirTemp(b.WorkDir, "context-"+build.Variant+"-")
	if err != nil {
		return "", err
	}
	for _, f := range img.Files {
		src := path.Join("images", img.Name, f.Path)
		dst := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			os.RemoveAll(dir)
			return "", err
		}
		if f.Mode&fs.ModeSymlink != 0 {
			target, err := fs.ReadLink(fsys, src)
			if err == nil {
				err = os.Symlink(target, dst)
			}
			if err != nil {
				os.RemoveAll(dir)
				return "", fmt.Errorf("writing the build context of %q: %w", img.Name, err)
			}
			continue
		}
		data, err := fs.ReadFile(fsys, src)
		if err == nil {
			err = os.WriteFile(dst, data, f.Mode.Perm()|0o600)
		}
		if err != nil {
			os.RemoveAll(dir)
			return "", fmt.Errorf("writing the build context of %q: %w", img.Name, err)
		}
	}
	if !slices.ContainsFunc(img.Files, func(f model.File) bool { return f.Path == "Dockerfile" }) {
		os.RemoveAll(dir)
		return "", fmt.Errorf("image %q has no Dockerfile", img.Name)
	}
	return dir, nil
}

// KeepTags returns the tags that building builds needs in buildah's store:
// each build's own, and the bootstrapped root file system of each root
// image (for the machine's current mirror).
func (b *Builder) KeepTags(repo *model.Repo, builds []*imageid.Build) (map[string]bool, error) {
	keep := map[string]bool{}
	var mirrorErr error
	for _, build := range builds {
		keep[Tag(build)] = true
		img := repo.Image(build.Image)
		if img == nil || img.Bootstrap == nil {
			continue
		}
		tag, err := b.bootstrapTag(img)
		if err != nil {
			mirrorErr = err
			continue
		}
		keep[tag] = true
	}
	return keep, mirrorErr
}
