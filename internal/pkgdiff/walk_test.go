package pkgdiff_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

func sum(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// writeTree creates files (path: content) under root: directories 0755 and files 0644,
// whatever the umask.
func writeTree(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case d.IsDir():
			return os.Chmod(p, 0o755)
		default:
			return os.Chmod(p, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestWalk(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, map[string]string{
		"etc/motd":                      "hello\n",
		"etc/empty":                     "",
		"usr/bin/tool":                  "#!/bin/sh\n",
		"usr/lib/libx.so.1":             "ELF",
		"proc/1/status":                 "not part of the image",
		"dev/null":                      "not part of the image",
		"tmp/junk":                      "not part of the image",
		"run/lock/x":                    "not part of the image",
		"var/lib/apt/lists/deb.debian":  "not part of the image",
		"var/cache/apt/pkgcache.bin":    "not part of the image",
		"var/cache/debconf/config.dat":  "kept",
		"var/lib/dpkg/status":           "Package: x\n",
		"srv/with space/and\nnewline":   "odd names are listed too",
		"usr/share/doc/x/changelog.gz ": "trailing space",
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Chmod(filepath.Join(root, "usr/bin/tool"), 0o755|fs.ModeSetuid))
	must(os.Chmod(filepath.Join(root, "tmp"), 0o777|fs.ModeSticky))
	must(os.Chmod(filepath.Join(root, "etc/motd"), 0o600))
	must(os.Symlink("usr/lib", filepath.Join(root, "lib")))
	must(os.Symlink("../../../../../etc/passwd", filepath.Join(root, "etc/escape")))
	must(os.Symlink("/etc/hostname", filepath.Join(root, "etc/absolute")))
	must(syscall.Mkfifo(filepath.Join(root, "srv/fifo"), 0o600))

	got, err := pkgdiff.Walk(context.Background(), root)
	if err != nil {
		t.Fatal(err)
	}
	d := func(p string, m fs.FileMode) pkgdiff.FileEntry {
		return pkgdiff.FileEntry{Path: p, Mode: fs.ModeDir | m}
	}
	f := func(p string, m fs.FileMode, content string) pkgdiff.FileEntry {
		return pkgdiff.FileEntry{Path: p, Mode: m, Size: int64(len(content)), SHA256: sum(content)}
	}
	l := func(p, target string) pkgdiff.FileEntry {
		return pkgdiff.FileEntry{Path: p, Mode: fs.ModeSymlink | 0o777, LinkTarget: target}
	}
	want := []pkgdiff.FileEntry{
		d("/dev", 0o755),
		d("/etc", 0o755),
		l("/etc/absolute", "/etc/hostname"),
		f("/etc/empty", 0o644, ""),
		l("/etc/escape", "../../../../../etc/passwd"),
		f("/etc/motd", 0o600, "hello\n"),
		l("/lib", "usr/lib"),
		d("/proc", 0o755),
		d("/run", 0o755),
		d("/srv", 0o755),
		{Path: "/srv/fifo", Mode: fs.ModeNamedPipe | 0o600},
		d("/srv/with space", 0o755),
		f("/srv/with space/and\nnewline", 0o644, "odd names are listed too"),
		d("/tmp", 0o777|fs.ModeSticky),
		d("/usr", 0o755),
		d("/usr/bin", 0o755),
		f("/usr/bin/tool", 0o755|fs.ModeSetuid, "#!/bin/sh\n"),
		d("/usr/lib", 0o755),
		f("/usr/lib/libx.so.1", 0o644, "ELF"),
		d("/usr/share", 0o755),
		d("/usr/share/doc", 0o755),
		d("/usr/share/doc/x", 0o755),
		f("/usr/share/doc/x/changelog.gz ", 0o644, "trailing space"),
		d("/var", 0o755),
		d("/var/cache", 0o755),
		d("/var/cache/apt", 0o755),
		d("/var/cache/debconf", 0o755),
		f("/var/cache/debconf/config.dat", 0o644, "kept"),
		d("/var/lib", 0o755),
		d("/var/lib/apt", 0o755),
		d("/var/lib/apt/lists", 0o755),
		d("/var/lib/dpkg", 0o755),
		f("/var/lib/dpkg/status", 0o644, "Package: x\n"),
	}
	if !reflect.DeepEqual(got, want) {
		for i := range max(len(got), len(want)) {
			var g, w pkgdiff.FileEntry
			if i < len(got) {
				g = got[i]
			}
			if i < len(want) {
				w = want[i]
			}
			if g != w {
				t.Errorf("entry %d:\ngot  %+v\nwant %+v", i, g, w)
			}
		}
	}

	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if got, err := pkgdiff.Walk(ctx, root); err == nil {
			t.Errorf("got %d entries, want an error", len(got))
		}
	})
	t.Run("unreadable root", func(t *testing.T) {
		if _, err := pkgdiff.Walk(context.Background(), filepath.Join(root, "missing")); err == nil {
			t.Error("got no error for a missing root")
		}
	})
}

// BenchmarkWalk lists and hashes a generated tree (mostly small files and a few large ones,
// like a root filesystem) and, when there is one, this machine's /usr/share.
func BenchmarkWalk(b *testing.B) {
	b.Run("generated", func(b *testing.B) {
		root := b.TempDir()
		r := rand.New(rand.NewPCG(3, 4))
		var total int64
		buf := make([]byte, 8<<20)
		for i := range buf {
			buf[i] = byte(r.Uint32())
		}
		for d := range 64 {
			dir := filepath.Join(root, "usr", "lib", fmt.Sprintf("d%02d", d))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				b.Fatal(err)
			}
			for f := range 64 {
				size := 1 + r.IntN(64<<10)
				if f == 0 && d%4 == 0 {
					size = 8 << 20
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d", f)), buf[:size], 0o644); err != nil {
					b.Fatal(err)
				}
				total += int64(size)
			}
		}
		benchWalk(b, root, total)
	})
	b.Run("usr-share", func(b *testing.B) {
		const root = "/usr/share"
		entries, err := pkgdiff.Walk(context.Background(), root)
		if err != nil {
			b.Skip(err)
		}
		var total int64
		for _, e := range entries {
			total += e.Size
		}
		benchWalk(b, root, total)
	})
}

func benchWalk(b *testing.B, root string, total int64) {
	b.SetBytes(total)
	var n int
	for b.Loop() {
		entries, err := pkgdiff.Walk(context.Background(), root)
		if err != nil {
			b.Fatal(err)
		}
		n = len(entries)
	}
	b.ReportMetric(float64(n), "entries")
}
