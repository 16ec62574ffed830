// Package diskimage turns an image's root file system directory into the
// files Ironic deploys: a whole-disk UEFI image (GPT, an EFI system partition
// with systemd-boot, the ext4 root and the image's extra partitions) and a
// partition image of the root file system with its kernel and initrd.
//
// Everything is built in plain files with user-space tools (mke2fs -d,
// debugfs, mkfs.fat and mtools, mkfs.xfs, sfdisk, qemu-img): no loop device,
// no mount, and the source directory is only read.
package diskimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Partition is an extra partition of an image's disk, made empty with its
// file system and label and mounted at boot through /etc/fstab.
type Partition struct {
	Label string // file system label and GPT partition name, e.g. "data"
	Mount string // absolute mount point, e.g. "/data"
	Size  int64  // bytes; rounded up to a whole MiB
	// Filesystem is one of "ext4", "ext3", "ext2" or "xfs".
	Filesystem string
}

// Layout is an image's disk layout.
type Layout struct {
	// RootSize is the size in bytes of the root partition (the image
	// definition's disk.size); rounded up to a whole MiB.
	RootSize int64
	// ESPSize is the size in bytes of the EFI system partition; zero means
	// 256 MiB.
	ESPSize int64
	// Extra are the extra partitions, in disk order after the root.
	Extra []Partition
}

// DefaultESPSize is the EFI system partition's size when Layout.ESPSize is zero.
const DefaultESPSize = 256 << 20

// Request says what to build and where.
type Request struct {
	// Name is the image's name, used in messages and as the boot loader
	// entry's name; empty means "linux".
	Name string
	// Root is the image's root file system directory; it is only read.
	Root   string
	Layout Layout
	// WorkDir holds the intermediate files (sparse, as big as the disk);
	// empty means the system's temporary directory. It should be on the
	// same file system as OutDir, so the outputs are moved, not copied.
	WorkDir string
	// OutDir receives the outputs; it is created if missing. Files of the
	// same names are replaced, and only once everything else succeeded.
	OutDir string
	// BootLoader is the systemd-boot EFI binary; empty means the image's
	// own (usr/lib/systemd/boot/efi/systemd-bootx64.efi under Root) when
	// it has one, else the host's (Debian package systemd-boot-efi).
	BootLoader string
	// Progress is told each step as it starts; nil means silence.
	Progress func(step string)
}

// Output names.
const (
	DiskFile   = "disk.qcow2" // whole-disk image
	RootFile   = "root.qcow2" // partition image of the root file system
	KernelFile = "vmlinuz"    // kernel of the partition image
	InitrdFile = "initrd.img" // initrd of the partition image
)

const (
	rootLabel = "ROOT" // file system label of the root partition
	espLabel  = "ESP"  // file system label of the EFI system partition
	// sdBoot is where Debian's systemd-boot-efi puts the loader, in the
	// image and on the host.
	sdBoot = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
)

// File is one output file.
type File struct {
	Name   string // base name, e.g. "disk.qcow2"
	Path   string // where it is in OutDir
	Size   int64
	SHA256 string // hex
}

// Build makes the outputs from req.Root and returns them in a fixed order:
// disk.qcow2, root.qcow2, vmlinuz, initrd.img. On error nothing is left in
// OutDir or WorkDir.
func Build(ctx context.Context, req Request) ([]File, error) {
	if req.Name == "" {
		req.Name = "linux"
	}
	if err := validate(req); err != nil {
		return nil, fmt.Errorf("image %q: %w", req.Name, err)
	}
	b := &builder{req: req, hostLoader: sdBoot}
	files, err := b.build(ctx)
	var tooBig *TooBigError
	if errors.As(err, &tooBig) {
		return nil, err // it names the image already
	}
	if err != nil {
		return nil, fmt.Errorf("image %q: %w", req.Name, err)
	}
	return files, nil
}

// mkfsTool is the tool that makes an empty file system of a kind; ok is
// false for a kind this package cannot make.
func mkfsTool(fsType string) (tool string, ok bool) {
	switch fsType {
	case "ext4", "ext3", "ext2":
		return "mke2fs", true
	case "xfs":
		return "mkfs.xfs", true
	}
	return "", false
}

// validLabel tells whether a label is safe everywhere it goes: file system
// labels, GPT names, fstab and debugfs commands.
func validLabel(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '_' || r == '.' || r == '-')
	}) < 0
}

func validate(req Request) error {
	if req.Root == "" {
		return errors.New("no root directory given")
	}
	if fi, err := os.Stat(req.Root); err != nil {
		return fmt.Errorf("image root: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("image root %s is not a directory", req.Root)
	}
	if req.OutDir == "" {
		return errors.New("no output directory given")
	}
	l := req.Layout
	if l.RootSize <= 0 {
		return fmt.Errorf("disk.size %d is not positive", l.RootSize)
	}
	if l.ESPSize < 0 || (l.ESPSize > 0 && l.ESPSize < 64<<20) {
		return fmt.Errorf("EFI system partition of %s is too small, it needs at least 64 MiB", Human(l.ESPSize))
	}
	labels := map[string]bool{rootLabel: true, espLabel: true}
	mounts := map[string]bool{"/": true, "/boot/efi": true}
	for _, p := range l.Extra {
		name := fmt.Sprintf("partition %q", p.Label)
		_, ok := mkfsTool(p.Filesystem)
		switch {
		case !validLabel(p.Label):
			return fmt.Errorf("partition label %q: use letters, digits, '_', '.' and '-'", p.Label)
		case labels[p.Label]:
			return fmt.Errorf("%s: label is used twice (ROOT and ESP are taken)", name)
		case !ok:
			return fmt.Errorf("%s: file system %q is not supported (use ext4, ext3, ext2 or xfs)", name, p.Filesystem)
		case p.Filesystem == "xfs" && len(p.Label) > 12:
			return fmt.Errorf("%s: an xfs label has at most 12 characters", name)
		case len(p.Label) > 16:
			return fmt.Errorf("%s: an ext label has at most 16 characters", name)
		case !strings.HasPrefix(p.Mount, "/") || filepath.Clean(p.Mount) != p.Mount || strings.ContainsAny(p.Mount, " \t\n\\"):
			return fmt.Errorf("%s: mount point %q is not a clean absolute path without blanks", name, p.Mount)
		case mounts[p.Mount]:
			return fmt.Errorf("%s: mount point %s is used twice", name, p.Mount)
		case p.Size <= 0:
			return fmt.Errorf("%s: size %d is not positive", name, p.Size)
		}
		labels[p.Label] = true
		mounts[p.Mount] = true
	}
	return nil
}

// builder holds one build's state.
type builder struct {
	req        Request
	hostLoader string // the host's systemd-boot
	tmp        string // scratch directory inside WorkDir, removed at the end
	kernel     kernel
	// estimate is the root size the tree needs, from checkSize.
	estimate int64
}

func (b *builder) progress(step string) {
	if b.req.Progress != nil {
		b.req.Progress(step)
	}
}

func (b *builder) build(ctx context.Context) ([]File, error) {
	if err := needTools(b.req.Layout); err != nil {
		return nil, err
	}
	k, err := findKernel(b.req.Root)
	if err != nil {
		return nil, err
	}
	b.kernel = k
	loader, err := b.bootLoader()
	if err != nil {
		return nil, err
	}
	workDir := b.req.WorkDir
	if workDir == "" {
		workDir = os.TempDir()
	}
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	b.tmp, err = os.MkdirTemp(workDir, "diskimage-")
	if err != nil {
		return nil, fmt.Errorf("work directory: %w", err)
	}
	defer os.RemoveAll(b.tmp)

	b.progress("measuring root filesystem")
	if err := b.checkSize(ctx); err != nil {
		return nil, err
	}

	b.progress("formatting EFI system partition")
	esp := filepath.Join(b.tmp, "esp.img")
	if err := b.makeESP(ctx, esp, loader); err != nil {
		return nil, err
	}
	// The root is made in place in the disk (it is most of the data, so
	// copying it would double the writes); the small ones are copied in.
	parts := []part{
		{name: espLabel, file: esp, size: b.espSize(), typ: typeESP},
		{name: rootLabel, size: roundMiB(b.req.Layout.RootSize), typ: typeRoot},
	}
	for _, p := range b.req.Layout.Extra {
		b.progress(fmt.Sprintf("formatting partition %q (%s)", p.Label, p.Filesystem))
		file := filepath.Join(b.tmp, "part-"+p.Label+".img")
		if err := makeEmpty(ctx, file, p); err != nil {
			return nil, err
		}
		parts = append(parts, part{name: p.Label, file: file, size: roundMiB(p.Size), typ: typeLinux})
	}

	b.progress("writing partition table")
	raw := filepath.Join(b.tmp, "disk.raw")
	if err := partition(ctx, raw, parts); err != nil {
		return nil, err
	}
	root := region{file: raw, offset: parts[1].start, size: parts[1].size}
	b.progress("formatting root filesystem")
	if err := b.makeRoot(ctx, root); err != nil {
		return nil, err
	}
	b.progress("writing /etc/fstab")
	if err := b.patchRoot(ctx, root); err != nil {
		return nil, err
	}
	b.progress("copying partitions into the disk")
	if err := place(ctx, raw, parts); err != nil {
		return nil, err
	}

	files, err := b.outputs(ctx, raw, root)
	if err != nil {
		return nil, err
	}
	b.progress("moving outputs into place")
	return publish(files, b.req.OutDir)
}

func (b *builder) espSize() int64 {
	if b.req.Layout.ESPSize == 0 {
		return DefaultESPSize
	}
	return roundMiB(b.req.Layout.ESPSize)
}

// bootLoader finds systemd-boot: the requested file, the image's own, or
// the host's.
func (b *builder) bootLoader() (string, error) {
	if b.req.BootLoader != "" {
		if _, err := os.Stat(b.req.BootLoader); err != nil {
			return "", fmt.Errorf("boot loader: %w", err)
		}
		return b.req.BootLoader, nil
	}
	inImage := filepath.Join(b.req.Root, sdBoot)
	if fi, err := os.Lstat(inImage); err == nil && fi.Mode().IsRegular() {
		return inImage, nil
	}
	if _, err := os.Stat(b.hostLoader); err == nil {
		return b.hostLoader, nil
	}
	return "", fmt.Errorf("systemd-boot is neither in the image (%s) nor on this machine (%s): install the Debian package systemd-boot-efi", inImage, b.hostLoader)
}

const mib = 1 << 20

func roundMiB(n int64) int64 { return (n + mib - 1) / mib * mib }
