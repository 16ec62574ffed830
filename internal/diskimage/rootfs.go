package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// ext4Args are mke2fs's options for an ext file system of the given type,
// fixed so that the host's mke2fs.conf usage types ("small" switches to 1
// KiB blocks) do not make the size check and the file system disagree.
func ext4Args(fsType, label string) []string {
	return []string{"-q", "-t", fsType, "-L", label, "-b", strconv.Itoa(blockSize), "-I", "256", "-i", "16384"}
}

// kib is a size argument for mke2fs and mkfs.fat: whole KiB.
func kib(n int64) string { return strconv.FormatInt(n/1024, 10) + "k" }

// sparseFile makes a file of size bytes with no blocks allocated.
func sparseFile(name string, size int64) error {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// region is a file system inside a file: a partition of a disk image.
type region struct {
	file         string
	offset, size int64
}

// e2fs names the region for e2fsprogs, which take "file?offset=N".
func (r region) e2fs() string {
	if r.offset == 0 {
		return r.file
	}
	return r.file + "?offset=" + strconv.FormatInt(r.offset, 10)
}

// makeRoot makes the ext4 root file system from the image's root tree in
// an existing file.
func (b *builder) makeRoot(ctx context.Context, r region) error {
	args := append(ext4Args("ext4", rootLabel), "-E", "offset="+strconv.FormatInt(r.offset, 10),
		"-d", b.req.Root, "-F", r.file, kib(r.size))
	_, err := run(ctx, "formatting root filesystem", "mke2fs", args...)
	var te *ToolError
	if errors.As(err, &te) && isNoSpace(te.Stderr) {
		return &TooBigError{Image: b.req.Name, Need: b.estimate, Have: b.req.Layout.RootSize}
	}
	return err
}

// isNoSpace tells mke2fs -d running out of blocks or inodes from its other
// failures.
func isNoSpace(stderr string) bool {
	return strings.Contains(stderr, "Could not allocate") || strings.Contains(stderr, "No space left") ||
		strings.Contains(stderr, "No free space")
}

// mount is one line this package puts in /etc/fstab.
type mount struct {
	spec, dir, fsType, options string
	pass                       int
}

func (m mount) String() string {
	return fmt.Sprintf("%s %s %s %s 0 %d", m.spec, m.dir, m.fsType, m.options, m.pass)
}

// mounts are the file systems of the layout. The extra partitions are
// nofail so that a machine boots even when one is damaged or missing.
func (b *builder) mounts() []mount {
	ms := []mount{
		{"LABEL=" + rootLabel, "/", "ext4", "defaults", 1},
		{"LABEL=" + espLabel, "/boot/efi", "vfat", "umask=0077,nofail", 2},
	}
	for _, p := range b.req.Layout.Extra {
		ms = append(ms, mount{"LABEL=" + p.Label, p.Mount, p.Filesystem, "defaults,nofail", 2})
	}
	return ms
}

// fstab merges the layout's lines into an existing fstab: its lines are
// kept, but those mounting a directory the layout mounts are commented out,
// since the layout's device is the one on the disk.
func fstab(existing string, image string, ms []mount) string {
	ours := map[string]bool{}
	for _, m := range ms {
		ours[m.dir] = true
	}
	var sb strings.Builder
	for _, line := range strings.SplitAfter(existing, "\n") {
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 2 && !strings.HasPrefix(f[0], "#") && ours[path.Clean(f[1])] {
			sb.WriteString("# replaced by the disk layout below: ")
		}
		sb.WriteString(line)
		if !strings.HasSuffix(line, "\n") {
			sb.WriteString("\n")
		}
	}
	fmt.Fprintf(&sb, "# disk layout of image %q\n", image)
	for _, m := range ms {
		sb.WriteString(m.String() + "\n")
	}
	return sb.String()
}

// patchRoot writes /etc/fstab into the root file system image and makes
// the mount points, with debugfs: no mount, and the source tree untouched.
func (b *builder) patchRoot(ctx context.Context, r region) error {
	const step = "writing /etc/fstab"
	root := b.req.Root
	var cmds []string
	existing := ""
	switch fi, err := os.Lstat(filepath.Join(root, "etc/fstab")); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%s: %w", step, err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s: %s in the image is not a regular file (%s)", step, "/etc/fstab", fi.Mode().Type())
	default:
		data, err := os.ReadFile(filepath.Join(root, "etc/fstab"))
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		existing = string(data)
		cmds = append(cmds, "rm /etc/fstab")
	}
	ms := b.mounts()
	created := map[string]bool{}
	dirs := []string{"/etc"}
	for _, m := range ms {
		dirs = append(dirs, m.dir)
	}
	for _, dir := range dirs {
		mk, err := mkdirs(root, dir, created)
		if err != nil {
			return fmt.Errorf("%s: %w", step, err)
		}
		cmds = append(cmds, mk...)
	}
	content := filepath.Join(b.tmp, "fstab")
	if err := os.WriteFile(content, []byte(fstab(existing, b.req.Name, ms)), 0o644); err != nil {
		return err
	}
	cmds = append(cmds,
		"write "+quote(content)+" /etc/fstab",
		"set_inode_field /etc/fstab mode 0100644",
		"set_inode_field /etc/fstab uid 0",
		"set_inode_field /etc/fstab gid 0",
	)
	return debugfs(ctx, step, r.e2fs(), cmds)
}

// mkdirs returns the debugfs commands that make dir and its missing
// parents in the image, given what the source tree has.
func mkdirs(root, dir string, created map[string]bool) ([]string, error) {
	var cmds []string
	cur := "/"
	for _, elem := range strings.Split(strings.Trim(dir, "/"), "/") {
		if elem == "" {
			continue
		}
		cur = path.Join(cur, elem)
		if created[cur] {
			continue
		}
		fi, err := os.Lstat(filepath.Join(root, cur))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			cmds = append(cmds, "mkdir "+cur)
			created[cur] = true
		case err != nil:
			return nil, err
		case !fi.IsDir():
			return nil, fmt.Errorf("mount point %s: %s in the image is not a directory (%s)", dir, cur, fi.Mode().Type())
		}
	}
	return cmds, nil
}

// quote quotes a path for debugfs's command parser.
func quote(s string) string { return `"` + s + `"` }

// debugfs runs commands against an ext file system image. debugfs exits 0
// whatever its commands do, so any standard error line but its banner is a
// failure.
func debugfs(ctx context.Context, step, image string, cmds []string) error {
	script := filepath.Join(filepath.Dir(image), "fstab.debugfs")
	if err := os.WriteFile(script, []byte(strings.Join(cmds, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	defer os.Remove(script)
	_, stderr, err := run2(ctx, step, "debugfs", "-w", "-f", script, image)
	if err != nil {
		return err
	}
	var bad []string
	for _, line := range strings.Split(stderr, "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "debugfs ") {
			bad = append(bad, line)
		}
	}
	if len(bad) > 0 {
		return &ToolError{Step: step, Tool: "debugfs", Err: errors.New("a command failed"), Stderr: clip(strings.Join(bad, "\n"), 5, 15)}
	}
	return nil
}
