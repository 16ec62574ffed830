package diskimage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
)

// GPT partition types.
const (
	typeESP   = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" // EFI system partition
	typeRoot  = "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709" // root partition, x86-64
	typeLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4" // Linux file system data
)

// part is one partition of the disk: its image file and where it goes.
type part struct {
	name  string // GPT partition name
	file  string // image of its content, size bytes long; empty when made in place
	size  int64  // bytes, whole MiB
	typ   string // GPT type
	start int64  // byte offset in the disk, set by partition
}

// makeEmpty makes an empty file system for an extra partition.
func makeEmpty(ctx context.Context, file string, p Partition) error {
	size := roundMiB(p.Size)
	if err := sparseFile(file, size); err != nil {
		return err
	}
	step := fmt.Sprintf("formatting partition %q (%s)", p.Label, p.Filesystem)
	var err error
	switch p.Filesystem {
	case "xfs":
		_, err = run(ctx, step, "mkfs.xfs", "-q", "-f", "-L", p.Label, file)
	default:
		_, err = run(ctx, step, "mke2fs", append(ext4Args(p.Filesystem, p.Label), "-F", file, kib(size))...)
	}
	return err
}

// partition makes the sparse raw disk and its GPT: the partitions one after
// the other from 1 MiB on, and 1 MiB at the end for the backup table. It
// sets each part's start.
func partition(ctx context.Context, raw string, parts []part) error {
	const sector = 512
	var script strings.Builder
	script.WriteString("label: gpt\nunit: sectors\nfirst-lba: 2048\n")
	off := int64(mib)
	for i := range parts {
		p := &parts[i]
		p.start = off
		fmt.Fprintf(&script, "start=%d, size=%d, type=%s, name=%q\n", off/sector, p.size/sector, p.typ, p.name)
		off += p.size
	}
	if err := sparseFile(raw, off+mib); err != nil {
		return err
	}
	script.WriteString("write\n")
	cmdFile := raw + ".sfdisk"
	if err := os.WriteFile(cmdFile, []byte(script.String()), 0o644); err != nil {
		return err
	}
	defer os.Remove(cmdFile)
	_, err := runInput(ctx, "writing partition table", cmdFile, "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", raw)
	return err
}

// Whence values of lseek(2) that package syscall does not name.
const (
	seekData = 3
	seekHole = 4
)

// place copies each partition's image into the disk at its start, writing
// only its data: holes and zero blocks stay holes in the disk, so a 40 GiB
// empty partition costs what its metadata does.
func place(ctx context.Context, raw string, parts []part) error {
	dst, err := os.OpenFile(raw, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer dst.Close()
	buf := make([]byte, 1<<20)
	for _, p := range parts {
		if p.file == "" {
			continue
		}
		if err := copySparse(ctx, dst, p.file, p.start, buf); err != nil {
			return fmt.Errorf("copying partition %q into the disk: %w", p.name, err)
		}
	}
	return dst.Close()
}

// copySparse copies the data extents of the file src into dst at offset,
// skipping holes (found with SEEK_DATA/SEEK_HOLE) and all-zero chunks.
func copySparse(ctx context.Context, dst *os.File, src string, offset int64, buf []byte) error {
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	size := fi.Size()
	zero := make([]byte, len(buf))
	fd := int(f.Fd())
	for pos := int64(0); pos < size; {
		start, err := syscall.Seek(fd, pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			return nil // only a hole is left
		}
		if errors.Is(err, syscall.EINVAL) {
			start = pos // the file system cannot say: copy everything
		} else if err != nil {
			return err
		}
		end, err := syscall.Seek(fd, start, seekHole)
		if err != nil {
			end = size
		}
		for start < end {
			if err := ctx.Err(); err != nil {
				return err
			}
			n := min(int64(len(buf)), end-start)
			if _, err := f.ReadAt(buf[:n], start); err != nil && err != io.EOF {
				return err
			}
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := dst.WriteAt(buf[:n], offset+start); err != nil {
					return err
				}
			}
			start += n
		}
		pos = end
	}
	return nil
}
