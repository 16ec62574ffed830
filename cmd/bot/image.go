package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/artifacts"
	"github.com/cluster-as-code/cluster-as-code/internal/boottest"
	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/fleet"
	"github.com/cluster-as-code/cluster-as-code/internal/imagebuild"
	"github.com/cluster-as-code/cluster-as-code/internal/imagepipeline"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

const imageUsage = `Usage: bot image COMMAND [flags]

Commands:
  build [NAME...]        build, test, turn into disk images and publish (default: every variant
                         of the fleet and every image no variant builds), parents first;
                         --boot boots each disk in QEMU to its login prompt
  test NAME              build NAME if needed and run its specs; exits 1 when a check fails
  diff --base REV NAME   packages and files that differ between NAME built at REV and at the
                         working tree (or --rev), as Markdown
  list                   the images in the artifact store
  gc [--keep N]          remove images no cluster runs, keeping the newest N builds of each
                         variant (default 3); and buildah images the fleet no longer builds
`

// runImage dispatches bot image's subcommands.
func runImage(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, imageUsage)
		return errors.New("no image command given")
	}
	switch args[0] {
	case "build":
		return runImageBuild(ctx, args[1:], stdout, stderr)
	case "test":
		return runImageTest(ctx, args[1:], stdout, stderr)
	case "diff":
		return runImageDiff(ctx, args[1:], stdout, stderr)
	case "list":
		return runImageList(args[1:], stdout, stderr)
	case "gc":
		return runImageGC(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, imageUsage)
		return errHelp
	}
	return fmt.Errorf("unknown image command %q (see bot image --help)", args[0])
}

// imageFlags are the flags every image command shares.
type imageFlags struct {
	repo, rev     string
	storageDriver string
	isolation     string
	buildahRoot   string
	workDir       string
	parallel      int
	store         string
}

func (f *imageFlags) register(fs interface {
	StringVar(*string, string, string, string)
	IntVar(*int, string, int, string)
}) {
	fs.StringVar(&f.repo, "repo", ".", "the fleet repository")
	fs.StringVar(&f.rev, "rev", "", "a git revision to build from instead of the working tree")
	fs.StringVar(&f.storageDriver, "storage-driver", envOr("CAC_BUILDAH_STORAGE_DRIVER", "vfs"), "buildah's storage driver (CAC_BUILDAH_STORAGE_DRIVER)")
	fs.StringVar(&f.isolation, "isolation", envOr("CAC_BUILDAH_ISOLATION", "chroot"), "how buildah isolates RUN steps (CAC_BUILDAH_ISOLATION)")
	fs.StringVar(&f.buildahRoot, "buildah-root", os.Getenv("CAC_BUILDAH_ROOT"), "buildah's storage directory; empty means buildah's default (CAC_BUILDAH_ROOT)")
	fs.StringVar(&f.workDir, "work-dir", os.Getenv("CAC_WORK_DIR"), "scratch space for build contexts, root file systems and disks; empty means the temporary directory (CAC_WORK_DIR)")
	fs.IntVar(&f.parallel, "parallel", 2, "images built at once")
	fs.StringVar(&f.store, "store", envOr("CAC_IMAGE_STORE", "/var/lib/cluster-as-code/images"), "the artifact store: one folder per image id (CAC_IMAGE_STORE)")
}

func (f *imageFlags) pipeline(stderr io.Writer) (*imagepipeline.Pipeline, error) {
	st, err := artifacts.Open(f.store)
	if err != nil {
		return nil, err
	}
	b := f.builder(stderr)
	return &imagepipeline.Pipeline{Builder: b, Store: st, Progress: b.Progress}, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (f *imageFlags) builder(stderr io.Writer) *imagebuild.Builder {
	var mu sync.Mutex
	start := time.Now()
	b := &imagebuild.Builder{
		Buildah:  imagebuild.Buildah{StorageDriver: f.storageDriver, Isolation: f.isolation, Root: f.buildahRoot},
		WorkDir:  f.workDir,
		Parallel: f.parallel,
		Progress: func(variant, line string) {
			mu.Lock()
			defer mu.Unlock()
			fmt.Fprintf(stderr, "%6.1fs [%s] %s\n", time.Since(start).Seconds(), variant, line)
		},
	}
	if f.buildahRoot != "" {
		b.Buildah.RunRoot = filepath.Join(f.buildahRoot, "run")
	}
	return b
}

// load reads the fleet at the working tree or --rev, validated: an image of
// an invalid fleet is not built.
func (f *imageFlags) load(ctx context.Context) (plan.Snapshot, error) {
	r := fleet.NewReader()
	var snap plan.Snapshot
	var err error
	if f.rev != "" {
		snap, err = r.Git(ctx, f.repo, f.rev)
	} else {
		snap, err = r.Dir(ctx, f.repo)
	}
	if err != nil {
		return snap, err
	}
	if n := finding.Errors(snap.Findings); n > 0 {
		return snap, fmt.Errorf("the fleet has %d validation errors; run bot validate", n)
	}
	return snap, nil
}

// allImages is every variant of the fleet, and every image folder no
// variant builds (so a new image is built and tested before a cluster uses
// it), as the plan counts them.
func allImages(s plan.Snapshot) []string {
	var names []string
	used := map[string]bool{}
	for _, v := range s.Repo.Variants {
		names = append(names, v.Name.V)
		used[v.Image.V] = true
	}
	for _, img := range s.Repo.Images {
		if !used[img.Name] {
			names = append(names, img.Name)
		}
	}
	return names
}

func runImageBuild(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image build", "[flags] [NAME...]", stderr)
	var f imageFlags
	f.register(fs)
	boot := fs.Bool("boot", false, "boot each image's disk in QEMU until its login prompt (minutes each without KVM)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	snap, err := f.load(ctx)
	if err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = allImages(snap)
	}
	p, err := f.pipeline(stderr)
	if err != nil {
		return err
	}
	outcomes, err := p.Run(ctx, snap, names)
	if *boot {
		err = errors.Join(err, bootAll(ctx, p, outcomes, f.workDir, stdout))
	}
	for _, o := range outcomes {
		status := "up to date"
		switch {
		case o.Err != nil:
			status = "FAILED"
		case o.Built || o.Published:
			status = "built"
		}
		checks := ""
		if o.Spec != nil {
			checks = fmt.Sprintf("%d/%d checks", o.Spec.Summary.Passed, o.Spec.Summary.Checks)
		}
		fmt.Fprintf(stdout, "%-36s %-11s %s %s\n", o.Build.Variant, status, o.Build.ID.Short(), checks)
	}
	return err
}

func runImageTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image test", "[flags] NAME", stderr)
	var f imageFlags
	f.register(fs)
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("give one image or variant name")
	}
	snap, err := f.load(ctx)
	if err != nil {
		return err
	}
	builds, err := imagebuild.Plan(snap.Repo, fs.Args())
	if err != nil {
		return err
	}
	b := f.builder(stderr)
	results, err := b.Build(ctx, snap.Repo, snap.FS, builds)
	if err != nil {
		return err
	}
	last := results[len(results)-1]
	report, err := imagepipeline.Test(ctx, b, snap.Repo, last)
	if report != nil {
		fmt.Fprint(stdout, report.Text())
	}
	if err != nil {
		return err
	}
	if report != nil && report.Failed() {
		return errFindings
	}
	return nil
}

func runImageDiff(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image diff", "--base REV [flags] NAME", stderr)
	var f imageFlags
	f.register(fs)
	base := fs.String("base", "", "the revision to compare with (required)")
	if err := parseArgs(fs, args); err != nil {
		return err
	}
	if *base == "" || fs.NArg() != 1 {
		return errors.New("give --base REV and one image or variant name")
	}
	head, err := f.load(ctx)
	if err != nil {
		return err
	}
	baseFlags := f
	baseFlags.rev = *base
	baseSnap, err := baseFlags.load(ctx)
	if err != nil {
		return fmt.Errorf("base %s: %w", *base, err)
	}
	p, err := f.pipeline(stderr)
	if err != nil {
		return err
	}
	d, err := p.Diff(ctx, baseSnap, head, fs.Arg(0))
	if err != nil {
		return err
	}
	fmt.Fprint(stdout, d.Markdown(0))
	return nil
}

func runImageList(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image list", "[flags]", stderr)
	var f imageFlags
	f.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	st, err := artifacts.Open(f.store)
	if err != nil {
		return err
	}
	list, err := st.List()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%-36s %-12s %-20s %10s %s\n", "VARIANT", "ID", "CREATED", "DISK", "PACKAGES")
	for _, m := range list {
		disk := "-"
		if a, ok := m.Artifact("disk.qcow2"); ok {
			disk = fmt.Sprintf("%.0f MiB", float64(a.Size)/(1<<20))
		}
		fmt.Fprintf(stdout, "%-36s %-12s %-20s %10s %d\n", m.Variant, m.ID.Short(), m.Created.Format("2006-01-02 15:04:05"), disk, len(m.Packages))
	}
	return nil
}

func runImageGC(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("image gc", "[flags]", stderr)
	var f imageFlags
	f.register(fs)
	keep := fs.Int("keep", 3, "newest builds of each variant to keep")
	dryRun := fs.Bool("dry-run", false, "say what would be removed, remove nothing")
	buildah := fs.Bool("buildah", true, "also remove buildah images the fleet no longer builds, and their build cache (with vfs storage each build step is a full copy of the root)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	snap, err := f.load(ctx)
	if err != nil {
		return err
	}
	used, err := imagepipeline.UsedIDs(snap.Repo)
	if err != nil {
		return err
	}
	st, err := artifacts.Open(f.store)
	if err != nil {
		return err
	}
	removed, err := st.GC(ctx, artifacts.GCPolicy{Keep: used, KeepLast: *keep, DryRun: *dryRun})
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	for _, id := range removed {
		fmt.Fprintf(stdout, "%s %s\n", verb, id)
	}
	fmt.Fprintf(stdout, "%s %d images from the artifact store; kept the %d that clusters of the fleet run and the newest %d of each variant\n", verb, len(removed), len(used), *keep)
	if err != nil || !*buildah {
		return err
	}
	// buildah's store: keep what building the fleet as it is needs (each
	// image and every image it is built on), so the next build is quick.
	builds, err := imagebuild.Plan(snap.Repo, allImages(snap))
	if err != nil {
		return err
	}
	b := f.builder(stderr)
	keepTags, err := b.KeepTags(snap.Repo, builds)
	if err != nil {
		return err
	}
	tags, err := b.Buildah.Prune(ctx, keepTags, *dryRun)
	for _, tag := range tags {
		fmt.Fprintf(stdout, "%s %s\n", verb, tag)
	}
	fmt.Fprintf(stdout, "%s %d images from buildah's store, and the build cache only they used\n", verb, len(tags))
	return err
}

// bootAll boots the whole-disk image of every published outcome.
func bootAll(ctx context.Context, p *imagepipeline.Pipeline, outcomes []imagepipeline.Outcome, workDir string, stdout io.Writer) error {
	var errs []error
	for _, o := range outcomes {
		if o.Manifest == nil {
			continue
		}
		dir, err := os.MkdirTemp(workDir, "boot-")
		if err != nil {
			return err
		}
		res, err := boottest.Boot(ctx, boottest.Config{Disk: p.Store.Path(o.Manifest.ID, "disk.qcow2"), WorkDir: dir})
		if err != nil {
			errs = append(errs, fmt.Errorf("booting %s: %w", o.Build.Variant, err))
			fmt.Fprintf(stdout, "%-36s %-11s serial log in %s\n", o.Build.Variant, "NO BOOT", dir)
			continue
		}
		os.RemoveAll(dir)
		fmt.Fprintf(stdout, "%-36s %-11s %q after %s (%s)\n", o.Build.Variant, "booted", res.Pattern, res.Elapsed.Round(time.Second), res.Accel)
	}
	return errors.Join(errs...)
}
