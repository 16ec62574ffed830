package diskimage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// blockSize is the root file system's block size; mke2fs is told so that
// the estimate and the file system agree whatever the host's mke2fs.conf says.
const blockSize = 4096

// Measure returns how many bytes of 4 KiB blocks the tree under rootDir
// takes in an ext4 file system (file data, directories, long symlinks;
// hard links counted once, holes of sparse files not at all) and how many
// inodes it needs. Symlinks are not followed.
func Measure(rootDir string) (bytes int64, files int, err error) {
	type ino struct{ dev, ino uint64 }
	seen := map[ino]bool{}
	var blocks int64
	err = filepath.WalkDir(rootDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil && st.Nlink > 1 && !fi.IsDir() {
			k := ino{uint64(st.Dev), st.Ino}
			if seen[k] {
				return nil
			}
			seen[k] = true
		}
		files++
		switch {
		case fi.Mode().IsRegular():
			n := ceilDiv(fi.Size(), blockSize)
			// A sparse file takes only its allocated blocks; mke2fs -d keeps the holes.
			if st != nil && st.Blocks*512 < fi.Size() {
				n = ceilDiv(st.Blocks*512, blockSize)
			}
			blocks += n
		case fi.IsDir():
			n, err := dirBlocks(path)
			if err != nil {
				return err
			}
			blocks += n
		case fi.Mode()&fs.ModeSymlink != 0:
			// Targets up to 59 bytes live in the inode itself.
			if fi.Size() > 59 {
				blocks++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("measuring %s: %w", rootDir, err)
	}
	return blocks * blockSize, files, nil
}

// dirBlocks is the size in blocks of an ext4 directory with dir's entries:
// 8 bytes and the name rounded up to 4 bytes an entry, plus an htree index
// block once it spans several blocks.
func dirBlocks(dir string) (int64, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return 0, err
	}
	bytes := int64(12 + 12) // "." and ".."
	for _, n := range names {
		bytes += 8 + (int64(len(n))+3)/4*4
	}
	n := ceilDiv(bytes, blockSize)
	if n > 1 {
		n++
	}
	return n, nil
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// ErrTooBig is matched (errors.Is) by a *TooBigError.
var ErrTooBig = errors.New("root filesystem does not fit its partition")

// TooBigError is a root tree that does not fit the image's disk.size.
type TooBigError struct {
	Image string
	// Need is an estimate of the disk.size the tree needs, in bytes; zero
	// when only mke2fs noticed, and the estimate said it fits.
	Need int64
	Have int64 // the disk.size, in bytes
}

// Error says how big the root file system is and how big the disk.size.
func (e *TooBigError) Error() string {
	if e.Need <= e.Have {
		return fmt.Sprintf("root filesystem of image %q needs more than its disk.size of %s", e.Image, Human(e.Have))
	}
	return fmt.Sprintf("root filesystem of image %q needs %s, its disk.size is %s", e.Image, HumanUp(e.Need), Human(e.Have))
}

// Is makes errors.Is(err, ErrTooBig) true.
func (e *TooBigError) Is(target error) bool { return target == ErrTooBig }

// Human writes a byte count in binary units with at most one decimal,
// rounded to nearest: 4294967296 is "4 GiB", 4939212390 is "4.6 GiB".
func Human(n int64) string { return human(n, math.Round) }

// HumanUp is Human rounded up, for sizes that must not look smaller than
// they are: 4.01 GiB is "4.1 GiB".
func HumanUp(n int64) string { return human(n, math.Ceil) }

func human(n int64, round func(float64) float64) string {
	if n < 1024 {
		return fmt.Sprintf("%d bytes", n)
	}
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, u := float64(n), 0
	for v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	v = round(v*10) / 10
	if v >= 1024 && u < len(units)-1 {
		v /= 1024
		u++
	}
	return strconv.FormatFloat(v, 'f', -1, 64) + " " + units[u]
}

// capacity is what an empty ext4 file system of some size offers.
type capacity struct {
	freeBytes  int64
	freeInodes int64
}

// probeExt4 makes an empty file system of size bytes the way makeRoot will
// and reads what it offers, so the size check uses mke2fs's own arithmetic
// (journal, inode tables, backup descriptors) rather than a guess.
func (b *builder) probeExt4(ctx context.Context, size int64) (capacity, error) {
	file := filepath.Join(b.tmp, "probe.img")
	defer os.Remove(file)
	if err := sparseFile(file, size); err != nil {
		return capacity{}, err
	}
	const step = "checking root filesystem size"
	if _, err := run(ctx, step, "mke2fs", append(ext4Args("ext4", rootLabel), "-F", file, kib(size))...); err != nil {
		return capacity{}, err
	}
	out, err := run(ctx, step, "dumpe2fs", "-h", file)
	if err != nil {
		return capacity{}, err
	}
	fields := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			fields[k] = n
		}
	}
	bs, fb, fi := fields["Block size"], fields["Free blocks"], fields["Free inodes"]
	if bs == 0 || fb == 0 || fi == 0 {
		return capacity{}, fmt.Errorf("%s: dumpe2fs printed no block size, free blocks or free inodes", step)
	}
	return capacity{freeBytes: fb * bs, freeInodes: fi}, nil
}

// checkSize fails with a *TooBigError when the root tree cannot fit
// RootSize, before any time is spent copying it.
func (b *builder) checkSize(ctx context.Context) error {
	need, files, err := Measure(b.req.Root)
	if err != nil {
		return err
	}
	size := roundMiB(b.req.Layout.RootSize)
	c, err := b.probeExt4(ctx, size)
	if err != nil {
		return err
	}
	b.estimate = size
	if c.fits(need, int64(files)) {
		return nil
	}
	b.estimate, err = b.needed(ctx, size, c, need, int64(files))
	if err != nil {
		return err
	}
	return &TooBigError{Image: b.req.Name, Need: b.estimate, Have: b.req.Layout.RootSize}
}

func (c capacity) fits(bytes, files int64) bool {
	return bytes <= c.freeBytes && files <= c.freeInodes
}

// needed finds, to the MiB or close, the smallest file system that holds
// bytes in files inodes, starting from one of size that does not. Each
// added byte yields a little less than a byte (inode tables, group
// descriptors, and the journal growing in steps), so the deficit is added
// with a margin until mke2fs agrees it fits.
func (b *builder) needed(ctx context.Context, size int64, c capacity, bytes, files int64) (int64, error) {
	for range 6 {
		next := size
		if bytes > c.freeBytes {
			next = size + (bytes-c.freeBytes)*103/100
		}
		if files > c.freeInodes {
			// Inodes are one per 16 KiB of file system.
			next = max(next, size+(files-c.freeInodes)*16384)
		}
		size = roundMiB(next)
		var err error
		if c, err = b.probeExt4(ctx, size); err != nil {
			return 0, err
		}
		if c.fits(bytes, files) {
			break
		}
	}
	return size, nil
}
