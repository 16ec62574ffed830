package diskimage

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// testTree is a small image root: files of several owners and modes, a
// setuid binary, a sticky directory, short and long symlinks, a hard link,
// an fstab to merge into, and two kernels of which the newer must win
// although it sorts first as text.
func testTree() []entry {
	long := "/usr/share/" + strings.Repeat("long-target-", 8)
	return []entry{
		{path: "etc", mode: fs.ModeDir | 0o755},
		{path: "etc/fstab", mode: 0o644, content: "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n/dev/sda1 / ext4 errors=remount-ro 0 1\nproc /proc proc defaults 0 0\n"},
		{path: "etc/hostname", mode: 0o644, content: "node\n"},
		{path: "home/alice", mode: fs.ModeDir | 0o700, uid: 1000, gid: 1000},
		{path: "home/alice/notes.txt", mode: 0o600, uid: 1000, gid: 1000, content: "secret notes\n"},
		{path: "srv/www", mode: fs.ModeDir | 0o750, uid: 33, gid: 33},
		{path: "srv/www/index.html", mode: 0o640, uid: 33, gid: 33, content: "<h1>hello</h1>\n"},
		{path: "tmp", mode: fs.ModeDir | fs.ModeSticky | 0o777},
		{path: "usr/bin/tool", mode: 0o755, content: "#!/bin/sh\necho tool\n"},
		{path: "usr/bin/su-like", mode: fs.ModeSetuid | 0o755, content: "setuid\n"},
		{path: "usr/bin/tool-link", mode: fs.ModeSymlink | 0o777, content: "tool"},
		{path: "usr/bin/long-link", mode: fs.ModeSymlink | 0o777, content: long},
		{path: "usr/bin/tool-hard", link: "usr/bin/tool"},
		{path: "var/log/app", mode: fs.ModeDir | 0o2755, uid: 0, gid: 4},
		{path: "boot/vmlinuz-6.1.0-9-amd64", mode: 0o644, content: "old kernel\n"},
		{path: "boot/initrd.img-6.1.0-9-amd64", mode: 0o644, content: "old initrd\n"},
		{path: "boot/vmlinuz-6.1.0-10-amd64", mode: 0o644, content: "kernel 6.1.0-10\n"},
		{path: "boot/initrd.img-6.1.0-10-amd64", mode: 0o644, content: "initrd 6.1.0-10\n"},
	}
}

// testLayout has an xfs and an ext4 partition, one mounted where the tree
// has no directory yet (/data), one below a directory it has (/srv).
func testLayout() Layout {
	return Layout{
		RootSize: 64 << 20,
		Extra: []Partition{
			{Label: "data", Mount: "/data", Size: 300 << 20, Filesystem: "xfs"},
			{Label: "datarw", Mount: "/srv/datarw", Size: 32 << 20, Filesystem: "ext4"},
		},
	}
}

// fakeLoader stands in for systemd-boot, so the test sees which file was installed.
func fakeLoader(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "systemd-bootx64.efi")
	if err := os.WriteFile(p, []byte("MZ fake systemd-boot\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildMakesABootableDiskAndAPartitionImage(t *testing.T) {
	need(t, allTools...)
	needRoot(t)
	root := t.TempDir()
	writeTree(t, root, testTree())
	randomFile(t, filepath.Join(root, "srv/www/big.bin"), 3<<20, 1)
	before := snapshot(t, root)
	work, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	var steps []string
	files, err := Build(context.Background(), Request{
		Name: "test-image", Root: root, Layout: testLayout(), WorkDir: work, OutDir: out,
		BootLoader: fakeLoader(t), Progress: func(s string) { steps = append(steps, s) },
	})
	if err != nil {
		t.Fatal(err)
	}

	t.Run("outputs and checksums", func(t *testing.T) {
		var names []string
		for _, f := range files {
			names = append(names, f.Name)
			if f.Path != filepath.Join(out, f.Name) {
				t.Errorf("%s is at %s, want it in %s", f.Name, f.Path, out)
			}
			fi, err := os.Stat(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Size() != f.Size {
				t.Errorf("%s: size %d, file has %d", f.Name, f.Size, fi.Size())
			}
			if sum := strings.Fields(tool(t, "sha256sum", f.Path))[0]; sum != f.SHA256 {
				t.Errorf("%s: sha256 %s, sha256sum says %s", f.Name, f.SHA256, sum)
			}
		}
		if want := []string{"disk.qcow2", "root.qcow2", "vmlinuz", "initrd.img"}; !slices.Equal(names, want) {
			t.Errorf("outputs %q, want %q", names, want)
		}
		if got := dirEntries(t, out); len(got) != 4 {
			t.Errorf("output directory holds %q, want the four outputs only", got)
		}
		if got := dirEntries(t, work); len(got) != 0 {
			t.Errorf("work directory still holds %q", got)
		}
		for name, want := range map[string]string{"vmlinuz": "kernel 6.1.0-10\n", "initrd.img": "initrd 6.1.0-10\n"} {
			if got, _ := os.ReadFile(filepath.Join(out, name)); string(got) != want {
				t.Errorf("%s holds %q, want the newest kernel's %q", name, got, want)
			}
		}
		for _, want := range []string{"formatting root filesystem", `formatting partition "data" (xfs)`, "converting disk and root filesystem to qcow2"} {
			if !slices.Contains(steps, want) {
				t.Errorf("progress %q lacks %q", steps, want)
			}
		}
		if after := snapshot(t, root); after != before {
			t.Errorf("the build changed the source tree:\nbefore:\n%s\nafter:\n%s", before, after)
		}
	})

	raw := toRaw(t, filepath.Join(out, DiskFile))
	label, parts := readGPT(t, raw)
	t.Run("partition table", func(t *testing.T) {
		const s = 512
		want := []gptPartition{
			{Start: 1 << 20 / s, Size: 256 << 20 / s, Type: typeESP, Name: "ESP"},
			{Start: 257 << 20 / s, Size: 64 << 20 / s, Type: typeRoot, Name: "ROOT"},
			{Start: 321 << 20 / s, Size: 300 << 20 / s, Type: typeLinux, Name: "data"},
			{Start: 621 << 20 / s, Size: 32 << 20 / s, Type: typeLinux, Name: "datarw"},
		}
		if label != "gpt" {
			t.Errorf("label %q, want gpt", label)
		}
		if len(parts) != len(want) {
			t.Fatalf("partitions %+v, want %+v", parts, want)
		}
		for i, p := range parts {
			p.Node = ""
			if p != want[i] {
				t.Errorf("partition %d: %+v, want %+v", i+1, p, want[i])
			}
		}
		fi, _ := os.Stat(raw)
		if want := int64(654 << 20); fi.Size() != want {
			t.Errorf("disk is %d bytes, want %d (partitions and 1 MiB each side)", fi.Size(), want)
		}
	})
	if len(parts) != 4 {
		t.FailNow()
	}

	t.Run("file system labels", func(t *testing.T) {
		for i, want := range []map[string]string{
			{"TYPE": "vfat", "LABEL": "ESP", "VERSION": "FAT32"},
			{"TYPE": "ext4", "LABEL": "ROOT"},
			{"TYPE": "xfs", "LABEL": "data"},
			{"TYPE": "ext4", "LABEL": "datarw"},
		} {
			got := probe(t, raw, parts[i])
			for k, v := range want {
				if got[k] != v {
					t.Errorf("partition %d: %s=%q, want %q (blkid: %v)", i+1, k, got[k], v, got)
				}
			}
		}
	})

	t.Run("EFI system partition", func(t *testing.T) {
		esp := raw + "@@" + strconv.FormatInt(parts[0].Start*512, 10)
		for path, want := range map[string]string{
			"::/EFI/BOOT/BOOTX64.EFI":      "MZ fake systemd-boot\n",
			"::/vmlinuz-6.1.0-10-amd64":    "kernel 6.1.0-10\n",
			"::/initrd.img-6.1.0-10-amd64": "initrd 6.1.0-10\n",
			"::/loader/loader.conf":        "default test-image.conf\ntimeout 0\neditor no\n",
		} {
			if got := tool(t, "mtype", "-i", esp, path); got != want {
				t.Errorf("%s holds %q, want %q", path, got, want)
			}
		}
		golden(t, "loader-entry.conf", tool(t, "mtype", "-i", esp, "::/loader/entries/test-image.conf"))
	})

	ext := raw + "?offset=" + strconv.FormatInt(parts[1].Start*512, 10)
	t.Run("root file system holds the tree", func(t *testing.T) {
		var dirs []string
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if d.IsDir() {
				rel, _ := filepath.Rel(root, p)
				dirs = append(dirs, filepath.Join("/", rel))
			}
			return nil
		})
		inodes := listExt(t, ext, dirs)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			rel, _ := filepath.Rel(root, p)
			if rel == "." {
				return nil
			}
			path := filepath.Join("/", rel)
			got, ok := inodes[path]
			if !ok {
				t.Errorf("%s is missing from the root file system", path)
				return nil
			}
			mode, uid, gid := statMode(t, p)
			if got.mode != mode || got.uid != uid || got.gid != gid {
				t.Errorf("%s: mode %o owner %d:%d, want %o %d:%d", path, got.mode, got.uid, got.gid, mode, uid, gid)
			}
			if d.Type().IsRegular() && path != "/etc/fstab" {
				want, _ := os.ReadFile(p)
				if got := catExt(t, ext, path); got != string(want) {
					t.Errorf("%s holds %d bytes that differ from the source's %d", path, len(got), len(want))
				}
			}
			return nil
		})
		if inodes["/usr/bin/tool"].ino != inodes["/usr/bin/tool-hard"].ino {
			t.Error("the hard link became a copy")
		}
		if got := tool(t, "debugfs", "-R", "stat /usr/bin/tool-link", ext); !strings.Contains(got, `Fast link dest: "tool"`) {
			t.Errorf("symlink /usr/bin/tool-link does not point to tool:\n%s", got)
		}
		// A long target lives in a data block, which cat shows.
		if got, want := catExt(t, ext, "/usr/bin/long-link"), testTree()[11].content; got != want {
			t.Errorf("symlink /usr/bin/long-link points to %q, want %q", got, want)
		}
		// The mount points exist, owned by root.
		got := listExt(t, ext, []string{"/", "/srv", "/boot"})
		for _, dir := range []string{"/data", "/srv/datarw", "/boot/efi"} {
			if in := got[dir]; in.mode != 0o40755 || in.uid != 0 {
				t.Errorf("mount point %s: %+v, want a root-owned directory 0755", dir, in)
			}
		}
	})

	t.Run("fstab", func(t *testing.T) {
		fstab := catExt(t, ext, "/etc/fstab")
		golden(t, "fstab", fstab)
		in := listExt(t, ext, []string{"/etc"})["/etc/fstab"]
		if in.mode != 0o100644 || in.uid != 0 || in.gid != 0 {
			t.Errorf("/etc/fstab: mode %o owner %d:%d, want 100644 0:0", in.mode, in.uid, in.gid)
		}
	})

	t.Run("partition image is the disk's root", func(t *testing.T) {
		rootRaw := toRaw(t, filepath.Join(out, RootFile))
		img, err := os.ReadFile(rootRaw)
		if err != nil {
			t.Fatal(err)
		}
		disk, err := os.ReadFile(raw)
		if err != nil {
			t.Fatal(err)
		}
		start := parts[1].Start * 512
		if int64(len(img)) != 64<<20 || !bytes.Equal(img, disk[start:start+int64(len(img))]) {
			t.Errorf("root.qcow2 (%d bytes) is not the disk's ROOT partition", len(img))
		}
	})
}

func TestBuildRefusesATreeTooBigForDiskSize(t *testing.T) {
	need(t, allTools...)
	root := t.TempDir()
	writeTree(t, root, mine(testTree()[14:])) // the kernels only
	randomFile(t, filepath.Join(root, "usr/lib/big.bin"), 24<<20, 2)
	work, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
	_, err := Build(context.Background(), Request{
		Name: "mesos-agent", Root: root, WorkDir: work, OutDir: out, BootLoader: fakeLoader(t),
		Layout: Layout{RootSize: 16 << 20},
	})
	if !errors.Is(err, ErrTooBig) {
		t.Fatalf("got %v, want ErrTooBig", err)
	}
	m := regexp.MustCompile(`root filesystem of image "mesos-agent" needs ([0-9.]+) MiB, its disk.size is 16 MiB`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("message %q does not give both sizes", err)
	}
	if need, _ := strconv.ParseFloat(m[1], 64); need < 24 || need > 30 {
		t.Errorf("says the tree needs %s MiB; it holds 24 MiB of data", m[1])
	}
	if got := dirEntries(t, out); len(got) != 0 {
		t.Errorf("output directory holds %q", got)
	}
	if got := dirEntries(t, work); len(got) != 0 {
		t.Errorf("work directory holds %q", got)
	}
}

// TestSizeCheckAgreesWithMke2fs tries sizes around the limit: the check
// must never refuse a tree that mke2fs can fit, and when mke2fs cannot,
// the failure is still a size message.
func TestSizeCheckAgreesWithMke2fs(t *testing.T) {
	need(t, "mke2fs", "dumpe2fs")
	root := t.TempDir()
	for i := range 40 {
		randomFile(t, filepath.Join(root, "d"+strconv.Itoa(i%4), "f"+strconv.Itoa(i)), 1<<20+i*1000, uint64(i))
	}
	ctx := context.Background()
	refused, failed := 0, 0
	smallestFit := int64(0)
	var estimates []int64
	for size := int64(40 << 20); size <= 48<<20; size += 1 << 20 {
		b := &builder{req: Request{Name: "x", Root: root, Layout: Layout{RootSize: size}}, tmp: t.TempDir()}
		checkErr := b.checkSize(ctx)
		img := filepath.Join(b.tmp, "root.img")
		if err := sparseFile(img, size); err != nil {
			t.Fatal(err)
		}
		mkfsErr := b.makeRoot(ctx, region{file: img, size: size})
		if checkErr != nil {
			refused++
			estimates = append(estimates, b.estimate)
			if mkfsErr == nil {
				t.Errorf("%s: the check refused a tree mke2fs fits: %v", Human(size), checkErr)
			}
		}
		if mkfsErr != nil {
			failed++
			if !errors.Is(mkfsErr, ErrTooBig) {
				t.Errorf("%s: mke2fs failed with %v, want a size message", Human(size), mkfsErr)
			}
		} else if smallestFit == 0 {
			smallestFit = size
		}
	}
	t.Logf("of 9 sizes, the check refused %d, mke2fs failed %d; smallest fit %s, estimates %v", refused, failed, Human(smallestFit), estimates)
	if refused == 0 || smallestFit == 0 {
		t.Fatalf("the sizes tried do not straddle the limit: refused %d, failed %d", refused, failed)
	}
	// The size the message asks for is enough, and not much more.
	for _, e := range estimates {
		if e < smallestFit || e > smallestFit+2<<20 {
			t.Errorf("estimated %s, the tree fits in %s", Human(e), Human(smallestFit))
		}
	}
}

func TestMke2fsRunningOutOfSpaceIsASizeError(t *testing.T) {
	need(t, "mke2fs")
	root := t.TempDir()
	randomFile(t, filepath.Join(root, "big.bin"), 24<<20, 3)
	b := &builder{req: Request{Name: "small", Root: root, Layout: Layout{RootSize: 16 << 20}}, tmp: t.TempDir(), estimate: 16 << 20}
	img := filepath.Join(b.tmp, "root.img")
	if err := sparseFile(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	err := b.makeRoot(context.Background(), region{file: img, size: 16 << 20})
	if want := `root filesystem of image "small" needs more than its disk.size of 16 MiB`; err == nil || err.Error() != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

func TestBuildFailures(t *testing.T) {
	need(t, allTools...)
	tests := []struct {
		name   string
		tree   []entry
		edit   func(*Request)
		want   []string
		isTool bool // the message comes from a failing tool
	}{
		{
			name: "unsupported file system",
			edit: func(r *Request) {
				r.Layout.Extra = []Partition{{Label: "data", Mount: "/data", Size: 1 << 30, Filesystem: "btrfs"}}
			},
			want: []string{`image "t": partition "data": file system "btrfs" is not supported (use ext4, ext3, ext2 or xfs)`},
		},
		{
			name: "mkfs.xfs refuses a small partition",
			edit: func(r *Request) {
				r.Layout.Extra = []Partition{{Label: "data", Mount: "/data", Size: 100 << 20, Filesystem: "xfs"}}
			},
			want:   []string{`formatting partition "data" (xfs): mkfs.xfs: exit status 1`, "Filesystem must be larger than 300MB"},
			isTool: true,
		},
		{
			name: "initrd does not fit the EFI system partition",
			edit: func(r *Request) {
				r.Layout.RootSize = 128 << 20
				r.Layout.ESPSize = 64 << 20
				os.WriteFile(filepath.Join(r.Root, "boot/initrd.img-6.1.0-10-amd64"), make([]byte, 70<<20), 0o644)
			},
			want:   []string{"copying the initrd to the EFI system partition: mcopy: exit status 1", "Disk full"},
			isTool: true,
		},
		{
			name: "no kernel",
			tree: testTree()[:14],
			want: []string{"no kernel in image root ", "boot/vmlinuz-* is missing"},
		},
		{
			name: "no initrd for the newest kernel",
			tree: slices.Delete(testTree(), 17, 18),
			want: []string{"no initrd in image root ", "boot/vmlinuz-6.1.0-10-amd64 has no boot/initrd.img-6.1.0-10-amd64"},
		},
		{
			name: "mount point is a file in the image",
			edit: func(r *Request) {
				r.Layout.Extra = []Partition{{Label: "data", Mount: "/etc/hostname", Size: 32 << 20, Filesystem: "ext4"}}
			},
			want: []string{"writing /etc/fstab: mount point /etc/hostname: /etc/hostname in the image is not a directory"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			tree := tt.tree
			if tree == nil {
				tree = testTree()
			}
			writeTree(t, root, mine(tree))
			work, out := t.TempDir(), filepath.Join(t.TempDir(), "out")
			req := Request{Name: "t", Root: root, WorkDir: work, OutDir: out, BootLoader: fakeLoader(t), Layout: Layout{RootSize: 32 << 20}}
			if tt.edit != nil {
				tt.edit(&req)
			}
			_, err := Build(context.Background(), req)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			var te *ToolError
			if errors.As(err, &te) != tt.isTool {
				t.Errorf("ToolError: %v, want %v", !tt.isTool, tt.isTool)
			}
			if !strings.Contains(err.Error(), root) && strings.Contains(tt.name, "kernel") {
				t.Errorf("error does not name the image root %s", root)
			}
			if got := dirEntries(t, out); len(got) != 0 {
				t.Errorf("output directory holds %q", got)
			}
			if got := dirEntries(t, work); len(got) != 0 {
				t.Errorf("work directory holds %q", got)
			}
		})
	}
}

func TestBootLoaderChoice(t *testing.T) {
	withOwn := t.TempDir()
	writeTree(t, withOwn, mine([]entry{{path: sdBoot[1:], mode: 0o644, content: "image's own"}}))
	host := fakeLoader(t)
	tests := []struct {
		name, root, requested, host, want, err string
	}{
		{name: "requested", root: withOwn, requested: host, host: "/nowhere", want: host},
		{name: "image's own before the host's", root: withOwn, host: host, want: filepath.Join(withOwn, sdBoot)},
		{name: "host's", root: t.TempDir(), host: host, want: host},
		{name: "none", root: t.TempDir(), host: "/nowhere/systemd-bootx64.efi", err: "install the Debian package systemd-boot-efi"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &builder{req: Request{Root: tt.root, BootLoader: tt.requested}, hostLoader: tt.host}
			got, err := b.bootLoader()
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("got %q, %v; want an error with %q", got, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
