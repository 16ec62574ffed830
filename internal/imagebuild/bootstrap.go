package imagebuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/cluster-as-code/cluster-as-code/internal/aptsources"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// bootstrapRepo is the local repository of bootstrapped root file systems.
const bootstrapRepo = "localhost/cac-bootstrap"

// bootstrapSpec is what a root image's file system is made from.
type bootstrapSpec struct {
	suite, variant string
	include        []string
	mirror         aptsources.Mirror
}

func newBootstrapSpec(b *model.Bootstrap, mirror aptsources.Mirror) bootstrapSpec {
	s := bootstrapSpec{suite: b.Suite.V, variant: b.Variant.V, mirror: mirror}
	if s.variant == "" {
		s.variant = "minbase"
	}
	for _, inc := range b.Include {
		s.include = append(s.include, inc.V)
	}
	// apt in the image checks the mirror's signatures with this keyring;
	// minbase does not always bring it.
	if !slices.Contains(s.include, "debian-archive-keyring") {
		s.include = append(s.include, "debian-archive-keyring")
	}
	slices.Sort(s.include)
	return s
}

// tag names the bootstrapped file system by what it is made from: the same
// definition and mirror give the same tag, and it is made once.
func (s bootstrapSpec) tag() string {
	h := sha256.New()
	fmt.Fprintf(h, "cluster-as-code bootstrap v1\nsuite %s\nvariant %s\ninclude %s\n", s.suite, s.variant, strings.Join(s.include, ","))
	for _, l := range s.mirror.Lines() {
		fmt.Fprintf(h, "source %s\n", l)
	}
	return bootstrapRepo + ":" + hex.EncodeToString(h.Sum(nil))[:24]
}

// bootstrapper makes each root file system once, even when several images
// ask for it at the same time.
type bootstrapper struct {
	mu    sync.Mutex
	inFly map[string]*sync.Mutex
}

func (bs *bootstrapper) lock(tag string) func() {
	bs.mu.Lock()
	if bs.inFly == nil {
		bs.inFly = map[string]*sync.Mutex{}
	}
	m, ok := bs.inFly[tag]
	if !ok {
		m = &sync.Mutex{}
		bs.inFly[tag] = m
	}
	bs.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// bootstrap returns the tag of the root file system for img, making it with
// mmdebstrap from the machine's mirror and importing it into buildah's
// store when it is not there yet.
func (b *Builder) bootstrap(ctx context.Context, img *model.Image, progress func(string)) (string, error) {
	spec, err := b.bootstrapSpec(img)
	if err != nil {
		return "", err
	}
	mirror := spec.mirror
	tag := spec.tag()
	defer b.bootstraps.lock(tag)()
	if ok, err := b.Buildah.Exists(ctx, tag); err != nil || ok {
		return tag, err
	}
	work, err := os.MkdirTemp(b.WorkDir, "bootstrap-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	sourcesFile := filepath.Join(work, "debian.sources")
	if err := os.WriteFile(sourcesFile, []byte(mirror.Deb822()), 0o644); err != nil {
		return "", err
	}
	tarball := filepath.Join(work, "rootfs.tar")
	args := []string{
		"--variant=" + spec.variant,
		"--include=" + strings.Join(spec.include, ","),
		// The image gets the mirror as one deb822 file, the format the
		// images' specs and Dockerfiles expect, and no sources.list.
		`--customize-hook=rm -f "$1/etc/apt/sources.list"`,
		"--customize-hook=upload " + sourcesFile + " /etc/apt/sources.list.d/debian.sources",
		spec.suite, tarball,
	}
	args = append(args, mirror.Lines()...)
	progress(fmt.Sprintf("bootstrapping %s (%s, %s) from %s with mmdebstrap", img.Name, spec.suite, spec.variant, mirror.Primary))
	cmd := exec.CommandContext(ctx, b.mmdebstrap(), args...)
	if err := runLogged(cmd, progress); err != nil {
		return "", fmt.Errorf("bootstrapping image %q with mmdebstrap: %w", img.Name, err)
	}
	progress("importing the root file system as " + tag)
	ctr, err := b.Buildah.output(ctx, "from", "--quiet", "scratch")
	if err != nil {
		return "", err
	}
	defer b.Buildah.output(context.WithoutCancel(ctx), "rm", ctr)
	if _, err := b.Buildah.output(ctx, "add", ctr, tarball, "/"); err != nil {
		return "", fmt.Errorf("importing the root file system of %q: %w", img.Name, err)
	}
	if _, err := b.Buildah.output(ctx, "commit", "--quiet", ctr, tag); err != nil {
		return "", fmt.Errorf("importing the root file system of %q: %w", img.Name, err)
	}
	return tag, nil
}

// bootstrapSpec is what img's root file system is made from on this
// machine.
func (b *Builder) bootstrapSpec(img *model.Image) (bootstrapSpec, error) {
	sources, err := aptsources.Read(b.aptRoot())
	if err != nil {
		return bootstrapSpec{}, fmt.Errorf("reading the machine's APT sources: %w", err)
	}
	mirror, err := aptsources.MirrorFor(sources, img.Bootstrap.Suite.V)
	if err != nil {
		return bootstrapSpec{}, err
	}
	return newBootstrapSpec(img.Bootstrap, mirror), nil
}

// bootstrapTag is the tag of img's root file system on this machine.
func (b *Builder) bootstrapTag(img *model.Image) (string, error) {
	spec, err := b.bootstrapSpec(img)
	if err != nil {
		return "", err
	}
	return spec.tag(), nil
}

// runLogged runs cmd, passing each line of its output to progress, and
// on failure returns an error with the output's last lines.
func runLogged(cmd *exec.Cmd, progress func(string)) error {
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = w, w
	log := &logTail{max: 30}
	done := make(chan struct{})
	go func() {
		defer close(done)
		scanLines(r, func(line string) {
			log.add(line)
			progress(line)
		})
	}()
	err = cmd.Start()
	w.Close()
	if err == nil {
		err = cmd.Wait()
	}
	<-done
	r.Close()
	if err != nil {
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}
