// Package imagepipeline takes a fleet's images from Dockerfile to
// deployable artifact: build (buildah), test against the image's specs
// without booting, list its packages and files, turn its root file system
// into disk images for Ironic, and publish them in the artifact store, where
// the bot serves them. An image that fails a step is not published.
package imagepipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/diskimage"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
	"github.com/cluster-as-code/cluster-as-code/internal/specrun"
)

// Pipeline runs images through every step. Its fields are its
// configuration.
type Pipeline struct {
	Builder *imagebuild.Builder
	Store   *artifacts.Store
	// WorkDir holds disk images while they are made; empty means the
	// store's staging area, on the store's file system, so that publishing
	// moves them instead of copying gigabytes.
	WorkDir string
	// Progress is told each step of each image; nil discards it.
	Progress func(variant, line string)
}

// Outcome is what became of one image.
type Outcome struct {
	Build *imageid.Build
	// Built is true when buildah built the image now; Published when its
	// artifacts were published now. Both false: it was done before.
	Built, Published bool
	// Spec is the spec report; nil when the image has no spec or was
	// published before.
	Spec *specrun.Report
	// Manifest is the published manifest, when there is one.
	Manifest *artifacts.Manifest
	Err      error
}

// StepError is a failure of one image at one step.
type StepError struct {
	Variant string
	Step    string // "build", "specs", "packages", "disk images", "publish"
	Err     error
}

func (e *StepError) Error() string {
	return fmt.Sprintf("image %q, step %q: %v", e.Variant, e.Step, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Run builds the variants and every image they are built on, then tests,
// converts and publishes each image the store does not hold yet. Every
// image is tried; the error joins the failures.
func (p *Pipeline) Run(ctx context.Context, snap plan.Snapshot, variants []string) ([]Outcome, error) {
	builds, err := imagebuild.Plan(snap.Repo, variants)
	if err != nil {
		return nil, err
	}
	need := p.unpublished(builds)
	results, _ := p.Builder.Build(ctx, snap.Repo, snap.FS, need)
	built := make(map[imageid.ID]imagebuild.Result, len(results))
	for _, r := range results {
		built[r.Build.ID] = r
	}
	outcomes := make([]Outcome, len(builds))
	var errs []error
	for i, b := range builds {
		o := Outcome{Build: b}
		r, ok := built[b.ID]
		switch {
		case !ok:
			// Published before, and nothing built on it is missing: no
			// need for its buildah image, which gc may have pruned.
			if m, err := p.Store.Get(b.ID); err == nil {
				o.Manifest = &m
			} else {
				o.Err = &StepError{Variant: b.Variant, Step: "publish", Err: err}
			}
		case r.Err != nil:
			o.Err = &StepError{Variant: b.Variant, Step: "build", Err: r.Err}
		default:
			o.Built = r.Built
			p.finish(ctx, snap.Repo, r, &o)
		}
		if o.Err != nil {
			errs = append(errs, o.Err)
		}
		outcomes[i] = o
	}
	return outcomes, errors.Join(errs...)
}

// unpublished returns the builds the store does not hold, and every image
// they are built on (buildah needs a parent's image to build a child), in
// the order of builds.
func (p *Pipeline) unpublished(builds []*imageid.Build) []*imageid.Build {
	needed := map[imageid.ID]bool{}
	for _, b := range builds {
		if _, err := p.Store.Get(b.ID); err != nil {
			needed[b.ID] = true
		}
	}
	// builds come parents first: walking back marks a parent after its
	// children.
	for i := len(builds) - 1; i >= 0; i-- {
		if b := builds[i]; needed[b.ID] && b.Parent != "" {
			needed[b.Parent] = true
		}
	}
	var out []*imageid.Build
	for _, b := range builds {
		if needed[b.ID] {
			out = append(out, b)
		}
	}
	return out
}

func (p *Pipeline) progress(ctx context.Context, variant, line string) {
	imagebuild.Report(ctx, p.Progress, variant, line)
}

// finish tests, converts and publishes a built image unless the store holds
// it.
func (p *Pipeline) finish(ctx context.Context, repo *model.Repo, r imagebuild.Result, o *Outcome) {
	build := r.Build
	if m, err := p.Store.Get(build.ID); err == nil {
		o.Manifest = &m
		return
	} else if !errors.Is(err, artifacts.ErrNotFound) {
		o.Err = &StepError{Variant: build.Variant, Step: "publish", Err: err}
		return
	}
	fail := func(step string, err error) { o.Err = &StepError{Variant: build.Variant, Step: step, Err: err} }
	img := repo.Image(build.Image)
	ctr, err := p.Builder.Buildah.Open(ctx, r.Tag)
	if err != nil {
		fail("open", err)
		return
	}
	defer ctr.Close(ctx)

	p.progress(ctx, build.Variant, "running specs")
	report, err := runSpecs(ctx, repo, build.Image, ctr)
	o.Spec = report
	if err != nil {
		fail("specs", err)
		return
	}
	p.progress(ctx, build.Variant, "listing packages and files")
	packages, err := readPackages(ctr.Root)
	if err != nil {
		fail("packages", err)
		return
	}
	files, err := pkgdiff.Walk(ctx, ctr.Root)
	if err != nil {
		fail("packages", fmt.Errorf("listing files: %w", err))
		return
	}

	var out string
	if p.WorkDir != "" {
		out, err = os.MkdirTemp(p.WorkDir, "disk-"+build.ID.Short()+"-")
	} else {
		// In the store's staging area: on its file system, so publishing
		// renames instead of copying, and cleaned up by the next Open after
		// a crash.
		out, err = p.Store.ScratchDir("disk-" + build.ID.Short() + "-*")
	}
	if err != nil {
		fail("disk images", err)
		return
	}
	defer os.RemoveAll(out)
	disks, err := diskimage.Build(ctx, diskimage.Request{
		Name:     build.Variant,
		Root:     ctr.Root,
		Layout:   layoutOf(img),
		WorkDir:  out,
		OutDir:   filepath.Join(out, "out"),
		Progress: func(step string) { p.progress(ctx, build.Variant, step) },
	})
	if err != nil {
		fail("disk images", err)
		return
	}

	p.progress(ctx, build.Variant, "publishing")
	m, err := p.publish(ctx, build, disks, packages, files, report)
	if err != nil {
		fail("publish", err)
		return
	}
	o.Published = true
	o.Manifest = &m
}

// runSpecs runs every spec of the image; an image with failing checks is an
// error. The report merges the image's spec files.
func runSpecs(ctx context.Context, repo *model.Repo, image string, ctr *imagebuild.Container) (*specrun.Report, error) {
	var merged *specrun.Report
	for _, spec := range repo.ImageSpecs {
		if spec.Image.V != image {
			continue
		}
		rep := specrun.Run(ctx, spec, specrun.Target{Root: ctr.Root, Runner: ctr})
		if merged == nil {
			merged = &rep
			continue
		}
		merged.Results = append(merged.Results, rep.Results...)
		merged.Summary.Checks += rep.Summary.Checks
		merged.Summary.Passed += rep.Summary.Passed
		merged.Summary.Failed += rep.Summary.Failed
		merged.Duration += rep.Duration
	}
	if merged != nil && merged.Failed() {
		var lines []string
		for _, f := range merged.Failures() {
			lines = append(lines, f.String())
		}
		return merged, fmt.Errorf("%d of %d checks failed:\n%s", merged.Summary.Failed, merged.Summary.Checks, strings.Join(lines, "\n"))
	}
	return merged, nil
}

func readPackages(root string) ([]pkgdiff.Package, error) {
	f, err := os.Open(filepath.Join(root, "var/lib/dpkg/status"))
	if err != nil {
		return nil, fmt.Errorf("reading the image's dpkg database: %w", err)
	}
	defer f.Close()
	return pkgdiff.ParseStatus(f)
}

// layoutOf is the image definition's disk layout.
func layoutOf(img *model.Image) diskimage.Layout {
	l := diskimage.Layout{RootSize: img.Disk.Size.Bytes}
	for _, part := range img.Disk.Partitions {
		l.Extra = append(l.Extra, diskimage.Partition{
			Label: part.Label.V, Mount: part.Mount.V, Size: part.Size.Bytes, Filesystem: part.Filesystem.V,
		})
	}
	return l
}

// artifactKinds says what each disk output is.
var artifactKinds = map[string]artifacts.Artifact{
	diskimage.DiskFile:   {Kind: artifacts.KindWholeDisk, Format: "qcow2"},
	diskimage.RootFile:   {Kind: artifacts.KindPartition, Format: "qcow2"},
	diskimage.KernelFile: {Kind: artifacts.KindKernel, Format: "raw"},
	diskimage.InitrdFile: {Kind: artifacts.KindInitrd, Format: "raw"},
}

func (p *Pipeline) publish(ctx context.Context, build *imageid.Build, disks []diskimage.File, packages []pkgdiff.Package, files []pkgdiff.FileEntry, report *specrun.Report) (artifacts.Manifest, error) {
	st, err := p.Store.Begin(ctx, build.ID)
	if err != nil {
		return artifacts.Manifest{}, err
	}
	defer st.Abort()
	for _, d := range disks {
		a := artifactKinds[d.Name]
		a.Name, a.SHA256, a.Size = d.Name, d.SHA256, d.Size
		if _, err := st.Move(ctx, a, d.Path); err != nil {
			return artifacts.Manifest{}, err
		}
	}
	if err := st.SetFiles(ctx, files); err != nil {
		return artifacts.Manifest{}, err
	}
	m := artifacts.Manifest{
		Name: build.Image, Variant: build.Variant, Parent: build.Parent,
		BuildArgs: build.BuildArgs, Packages: packages,
	}
	if report != nil {
		data, err := json.Marshal(report)
		if err != nil {
			return artifacts.Manifest{}, err
		}
		m.SpecResults = data
	}
	if err := st.Commit(ctx, m); err != nil {
		return artifacts.Manifest{}, err
	}
	return p.Store.Get(build.ID)
}
