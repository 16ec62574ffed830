package diskimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// benchTree makes a tree of about 300 MB under dir: 2000 files of 48 KiB in
// 20 directories and 26 files of 8 MiB, of random data, plus a kernel and
// initrd. It returns the bytes of file data.
func benchTree(b *testing.B, dir string) int64 {
	b.Helper()
	var total int64
	for i := range 2000 {
		randomFile(b, filepath.Join(dir, "usr/share", fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d", i)), 48<<10, uint64(i))
		total += 48 << 10
	}
	for i := range 26 {
		randomFile(b, filepath.Join(dir, "usr/lib", fmt.Sprintf("big%02d.bin", i)), 8<<20, uint64(10000+i))
		total += 8 << 20
	}
	writeTree(b, dir, mine(testTree()[14:]))
	return total
}

// BenchmarkRootToQcow2 sets Build (root tree to disk.qcow2 and root.qcow2)
// beside cp -a of the same tree on the same disk; both report MB/s of the
// tree's file data.
func BenchmarkRootToQcow2(b *testing.B) {
	need(b, "mke2fs", "debugfs", "dumpe2fs", "mkfs.fat", "mmd", "mcopy", "sfdisk", "qemu-img")
	root := filepath.Join(b.TempDir(), "root")
	size := benchTree(b, root)
	scratch := b.TempDir()
	loader := filepath.Join(scratch, "loader.efi")
	os.WriteFile(loader, []byte("MZ"), 0o644)
	ctx := context.Background()

	b.Run("diskimage.Build", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			out := filepath.Join(scratch, "out")
			if _, err := Build(ctx, Request{Name: "bench", Root: root, WorkDir: scratch, OutDir: out, BootLoader: loader, Layout: Layout{RootSize: 512 << 20}}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(out)
			b.StartTimer()
		}
	})
	b.Run("cp-a", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			dst := filepath.Join(scratch, "copy")
			if out, err := exec.Command("cp", "-a", root, dst).CombinedOutput(); err != nil {
				b.Fatalf("cp -a: %v: %s", err, out)
			}
			b.StopTimer()
			os.RemoveAll(dst)
			b.StartTimer()
		}
	})
}

// BenchmarkPlace copies a file system image of the benchmark tree into a
// sparse disk at 1 MiB, in Go (SEEK_DATA/SEEK_HOLE, zero chunks skipped)
// and with dd conv=notrunc,sparse: the two ways the build could put a
// partition in place. (The root, being most of the data, is now made in
// place instead; the ESP and the extra partitions are copied.)
func BenchmarkPlace(b *testing.B) {
	need(b, "mke2fs")
	dir := b.TempDir()
	root := filepath.Join(dir, "root")
	size := benchTree(b, root)
	img := filepath.Join(dir, "root.img")
	ctx := context.Background()
	bd := &builder{req: Request{Name: "bench", Root: root, Layout: Layout{RootSize: 512 << 20}}, tmp: dir}
	if err := sparseFile(img, 512<<20); err != nil {
		b.Fatal(err)
	}
	if err := bd.makeRoot(ctx, region{file: img, size: 512 << 20}); err != nil {
		b.Fatal(err)
	}
	raw := filepath.Join(dir, "disk.raw")
	parts := []part{{name: "ROOT", file: img, size: 512 << 20, start: 1 << 20}}

	b.Run("go", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := sparseFile(raw, 514<<20); err != nil {
				b.Fatal(err)
			}
			if err := place(ctx, raw, parts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("dd", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			if err := sparseFile(raw, 514<<20); err != nil {
				b.Fatal(err)
			}
			cmd := exec.Command("dd", "if="+img, "of="+raw, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none")
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("dd: %v: %s", err, out)
			}
		}
	})
}
