package imagebuild

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
)

// Buildah runs the buildah command with the store and isolation the bot is
// configured with.
type Buildah struct {
	// Path is the buildah binary; empty means "buildah" on PATH.
	Path string
	// StorageDriver is buildah's storage driver; empty means "vfs", which
	// needs no kernel support (overlay on overlay does not work in most
	// containers).
	StorageDriver string
	// Isolation is how RUN steps are isolated; empty means "chroot", which
	// works inside a container without a nested runtime.
	Isolation string
	// Root and RunRoot are buildah's storage directories; empty means
	// buildah's defaults.
	Root, RunRoot string
}

func (b Buildah) globalArgs() []string {
	driver := b.StorageDriver
	if driver == "" {
		driver = "vfs"
	}
	args := []string{"--storage-driver", driver}
	if b.Root != "" {
		args = append(args, "--root", b.Root)
	}
	if b.RunRoot != "" {
		args = append(args, "--runroot", b.RunRoot)
	}
	return args
}

func (b Buildah) isolation() string {
	if b.Isolation == "" {
		return "chroot"
	}
	return b.Isolation
}

func (b Buildah) command(ctx context.Context, args ...string) *exec.Cmd {
	path := b.Path
	if path == "" {
		path = "buildah"
	}
	cmd := exec.CommandContext(ctx, path, append(b.globalArgs(), args...)...)
	cmd.Env = append(cmd.Environ(), "BUILDAH_ISOLATION="+b.isolation())
	return cmd
}

// output runs buildah and returns its standard output, or an error with the
// tail of its standard error.
func (b Buildah) output(ctx context.Context, args ...string) (string, error) {
	cmd := b.command(ctx, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("buildah %s: %w: %s", args[0], err, tail(stderr.String(), 10))
	}
	return strings.TrimSpace(string(out)), nil
}

// Exists reports whether the image tag is in buildah's store.
func (b Buildah) Exists(ctx context.Context, tag string) (bool, error) {
	cmd := b.command(ctx, "inspect", "--type", "image", "--format", "{{.FromImageID}}", tag)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return false, nil
		}
		return false, fmt.Errorf("buildah inspect %s: %w", tag, err)
	}
	return true, nil
}

// Container is a working container of an image, mounted, for reading its
// root file system and running commands in it.
type Container struct {
	b    Buildah
	id   string
	Root string
}

// Open creates a working container from tag and mounts it. Close removes it.
func (b Buildah) Open(ctx context.Context, tag string) (*Container, error) {
	id, err := b.output(ctx, "from", "--pull-never", "--quiet", tag)
	if err != nil {
		return nil, err
	}
	root, err := b.output(ctx, "mount", id)
	if err != nil {
		b.output(context.WithoutCancel(ctx), "rm", id)
		return nil, err
	}
	return &Container{b: b, id: id, Root: root}, nil
}

// Close unmounts and removes the container.
func (c *Container) Close(ctx context.Context) error {
	ctx = context.WithoutCancel(ctx)
	c.b.output(ctx, "umount", c.id)
	_, err := c.b.output(ctx, "rm", c.id)
	return err
}

// Run runs argv inside the container and returns its exit status and
// output; err is for failures to run at all.
func (c *Container) Run(ctx context.Context, argv []string) (int, []byte, []byte, error) {
	args := append([]string{"run", "--isolation", c.b.isolation(), "--", c.id}, argv...)
	cmd := c.b.command(ctx, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stdout.Bytes(), stderr.Bytes(), nil
	}
	if err != nil {
		return 0, nil, nil, fmt.Errorf("buildah run: %w", err)
	}
	return 0, stdout.Bytes(), stderr.Bytes(), nil
}

// stepLine is how buildah announces a Dockerfile step: "STEP 3/7: RUN …".
var stepLine = regexp.MustCompile(`^STEP (\d+)/(\d+): (.*)$`)

// logTail keeps the last lines of a build's output and the last step.
type logTail struct {
	mu    sync.Mutex
	lines []string
	max   int
	step  string
}

func (t *logTail) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if m := stepLine.FindStringSubmatch(line); m != nil {
		t.step = fmt.Sprintf("step %s/%s: %s", m[1], m[2], m[3])
	}
	t.lines = append(t.lines, line)
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

func (t *logTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}

// scanLines feeds each line of r to fn until r ends.
func scanLines(r io.Reader, fn func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fn(sc.Text())
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Images lists the tags in buildah's store under the repositories the
// builder writes (localhost/cac/ and localhost/cac-bootstrap).
func (b Buildah) Images(ctx context.Context) ([]string, error) {
	out, err := b.output(ctx, "images", "--format", "{{.Name}}:{{.Tag}}")
	if err != nil {
		return nil, err
	}
	var tags []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "localhost/cac/") || strings.HasPrefix(line, bootstrapRepo+":") {
			tags = append(tags, line)
		}
	}
	return tags, nil
}

// Prune removes the builder's tags that keep does not hold, then the
// untagged images nothing is built on any more (build cache of removed
// images); it returns the tags removed. With dryRun it only says which.
func (b Buildah) Prune(ctx context.Context, keep map[string]bool, dryRun bool) ([]string, error) {
	tags, err := b.Images(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, tag := range tags {
		if keep[tag] {
			continue
		}
		if !dryRun {
			if _, err := b.output(ctx, "rmi", tag); err != nil {
				return removed, err
			}
		}
		removed = append(removed, tag)
	}
	if !dryRun {
		if _, err := b.output(ctx, "rmi", "--prune"); err != nil {
			return removed, err
		}
	}
	return removed, nil
}
