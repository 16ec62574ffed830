package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// debianPackage is the Debian package that has a tool, for the message
// when it is missing.
func debianPackage(tool string) string {
	switch tool {
	case "mke2fs", "debugfs", "dumpe2fs":
		return "e2fsprogs"
	case "mkfs.xfs":
		return "xfsprogs"
	case "mkfs.fat":
		return "dosfstools"
	case "mmd", "mcopy", "mtype":
		return "mtools"
	case "sfdisk":
		return "fdisk"
	case "qemu-img":
		return "qemu-utils"
	case "blkid":
		return "util-linux"
	}
	return ""
}

// lookTool finds a tool on PATH or, since most are in sbin and a user's
// PATH may lack it, in /usr/sbin and /sbin.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	if pkg := debianPackage(name); pkg != "" {
		return "", fmt.Errorf("%s not found: install the Debian package %s", name, pkg)
	}
	return "", fmt.Errorf("%s not found", name)
}

// needTools checks up front that every tool the layout needs is there, so
// a missing one is reported before minutes are spent.
func needTools(l Layout) error {
	names := []string{"mke2fs", "debugfs", "dumpe2fs", "mkfs.fat", "mmd", "mcopy", "sfdisk", "qemu-img"}
	for _, p := range l.Extra {
		tool, _ := mkfsTool(p.Filesystem)
		names = append(names, tool)
	}
	var errs []error
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			continue
		}
		seen[n] = true
		if _, err := lookTool(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run runs a tool and returns its standard output. Its failure names the
// step, the tool and the end of what it wrote to standard error.
func run(ctx context.Context, step, tool string, args ...string) (string, error) {
	out, _, err := execute(ctx, step, nil, tool, args...)
	return out, err
}

// run2 is run that returns standard error too, for tools (debugfs) that
// report failures there and still exit 0.
func run2(ctx context.Context, step, tool string, args ...string) (stdout, stderr string, err error) {
	return execute(ctx, step, nil, tool, args...)
}

// runInput is run with the file input as standard input.
func runInput(ctx context.Context, step, input, tool string, args ...string) (string, error) {
	f, err := os.Open(input)
	if err != nil {
		return "", err
	}
	defer f.Close()
	out, _, err := execute(ctx, step, f, tool, args...)
	return out, err
}

func execute(ctx context.Context, step string, stdin io.Reader, tool string, args ...string) (stdout, stderr string, err error) {
	path, err := lookTool(tool)
	if err != nil {
		return "", "", fmt.Errorf("%s: %w", step, err)
	}
	var outBuf, errBuf bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = &outBuf
	cmd.Stderr = &errBuf
	cmd.Stdin = stdin
	// mtools reads no config and checks nothing about the image it made itself.
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return "", "", fmt.Errorf("%s: %s: %w", step, tool, ctx.Err())
		}
		return "", "", &ToolError{Step: step, Tool: tool, Err: err, Stderr: clip(errBuf.String(), 5, 15)}
	}
	return outBuf.String(), errBuf.String(), nil
}

// ToolError is an external tool that failed.
type ToolError struct {
	Step   string // what was being done, e.g. `formatting partition "data" (xfs)`
	Tool   string // e.g. "mkfs.xfs"
	Err    error
	Stderr string // the start and the end of its standard error
}

// Error names the step and the tool, with the tool's standard error.
func (e *ToolError) Error() string {
	msg := fmt.Sprintf("%s: %s: %v", e.Step, e.Tool, e.Err)
	if s := strings.TrimSpace(e.Stderr); s != "" {
		msg += ":\n" + s
	}
	return msg
}

// Unwrap returns the tool's exit error.
func (e *ToolError) Unwrap() error { return e.Err }

// clip keeps the first head and the last tail lines of s, which is where
// tools put the cause and the detail of a failure.
func clip(s string, head, tail int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= head+tail+1 {
		return strings.Join(lines, "\n")
	}
	out := append([]string{}, lines[:head]...)
	out = append(out, fmt.Sprintf("[… %d lines …]", len(lines)-head-tail))
	return strings.Join(append(out, lines[len(lines)-tail:]...), "\n")
}
