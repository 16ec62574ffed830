// Package specrun checks a built OS image against its image spec (specs/images/*.yaml) without
// booting it: packages from dpkg's status file, files, systemd units and users from the image's
// root file system, and commands through a Runner that executes them inside the image.
//
// Everything is read from the image's tree as the image itself would see it: owners and groups
// are named by the image's /etc/passwd and /etc/group, and symbolic links, even absolute ones,
// are followed inside the root, never out of it into the host.
//
// The result is a Report: one Result per assertion, with the place in the spec it comes from
// and what was expected and found, rendered as Markdown for a check run or as text for a
// terminal.
package specrun

import (
	"context"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// DefaultCommandTimeout bounds each command of a spec when Target sets no timeout.
const DefaultCommandTimeout = 60 * time.Second

// Target is the image under test.
type Target struct {
	// Root is the image's root file system as a directory of the host, for example what
	// `buildah mount` prints.
	Root string
	// Runner runs the spec's commands inside the image; nil means commands are not run, and each
	// one is reported as a failure that says so.
	Runner Runner
	// CommandTimeout bounds each command; zero means DefaultCommandTimeout.
	CommandTimeout time.Duration
}

// Runner runs commands inside an image.
type Runner interface {
	// Run runs argv inside the image (with buildah, `buildah run CONTAINER -- argv…`) and returns
	// its exit status and output. err is for a command that could not be run or waited for,
	// not for one that exits non-zero. Run must return when ctx is done.
	Run(ctx context.Context, argv []string) (exit int, stdout, stderr []byte, err error)
}

// Run checks every assertion of spec against the image. It does not fail: what cannot be
// checked (an unreadable root, a command that would not start) is a failed result that says why.
func Run(ctx context.Context, spec *model.ImageSpec, t Target) Report {
	start := time.Now()
	c := &checker{target: t}
	rep := Report{Image: spec.Image.V, Spec: spec.Pos.File}
	root, err := openRoot(t.Root)
	if err != nil {
		c.add(Result{Pos: at(spec.Image.Pos, spec.Pos), Kind: KindImage, Subject: spec.Image.V, Check: "root", Want: "a readable root file system"}.
			fail(err.Error(), "image %s: cannot check its files: %v", spec.Image.V, err))
	} else {
		defer root.Close()
		c.fs = rootFS{root: root}
		c.checkPackages(spec.Packages)
		c.checkFiles(spec.Files)
		c.checkServices(spec.Services)
		c.checkUsers(spec.Users)
	}
	c.checkCommands(ctx, spec.Commands)
	rep.Results = c.results
	for _, r := range c.results {
		rep.Summary.Checks++
		if r.Passed {
			rep.Summary.Passed++
		} else {
			rep.Summary.Failed++
		}
	}
	rep.Duration = time.Since(start)
	return rep
}

// checker holds what one run has read so far.
type checker struct {
	target  Target
	fs      rootFS
	results []Result

	accounts *accounts
	units    *unitIndex
}

func (c *checker) add(r Result) { c.results = append(c.results, r) }
