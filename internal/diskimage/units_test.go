package diskimage

import (
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func TestHuman(t *testing.T) {
	tests := []struct {
		n        int64
		near, up string
	}{
		{0, "0 bytes", "0 bytes"},
		{512, "512 bytes", "512 bytes"},
		{256 << 20, "256 MiB", "256 MiB"},
		{4 << 30, "4 GiB", "4 GiB"},
		{4939212390, "4.6 GiB", "4.6 GiB"},
		{4<<30 + 10<<20, "4 GiB", "4.1 GiB"}, // a need just over 4 GiB must not read "4 GiB"
		{1023 << 20, "1023 MiB", "1023 MiB"},
		{1<<30 - 1, "1 GiB", "1 GiB"},
		{40 << 30, "40 GiB", "40 GiB"},
	}
	for _, tt := range tests {
		if got := Human(tt.n); got != tt.near {
			t.Errorf("Human(%d) = %q, want %q", tt.n, got, tt.near)
		}
		if got := HumanUp(tt.n); got != tt.up {
			t.Errorf("HumanUp(%d) = %q, want %q", tt.n, got, tt.up)
		}
	}
}

func TestCompareVersions(t *testing.T) {
	tests := []struct {
		older, newer string
	}{
		{"6.1.0-9-amd64", "6.1.0-10-amd64"},
		{"6.9.0-1-amd64", "6.10.0-1-amd64"},
		{"6.1.0-1-amd64", "6.1.0-1-cloud-amd64"},
		{"6.1.0~rc1-amd64", "6.1.0-amd64"},
		{"5.10.0-28-amd64", "6.1.0-1-amd64"},
	}
	for _, tt := range tests {
		if c := compareVersions(tt.older, tt.newer); c >= 0 {
			t.Errorf("compareVersions(%q, %q) = %d, want < 0", tt.older, tt.newer, c)
		}
		if c := compareVersions(tt.newer, tt.older); c <= 0 {
			t.Errorf("compareVersions(%q, %q) = %d, want > 0", tt.newer, tt.older, c)
		}
	}
	if c := compareVersions("6.1.0-10-amd64", "6.1.0-10-amd64"); c != 0 {
		t.Errorf("a version differs from itself: %d", c)
	}
}

func TestValidate(t *testing.T) {
	root := t.TempDir()
	ok := Request{Root: root, OutDir: t.TempDir(), Layout: Layout{RootSize: 1 << 30}}
	part := func(label, mount, fs string, size int64) Request {
		r := ok
		r.Layout.Extra = []Partition{{Label: label, Mount: mount, Filesystem: fs, Size: size}}
		return r
	}
	tests := []struct {
		name string
		req  Request
		want string // empty: valid
	}{
		{"valid", part("data", "/data", "xfs", 1<<30), ""},
		{"no root", Request{OutDir: "x", Layout: Layout{RootSize: 1}}, "no root directory given"},
		{"root missing", Request{Root: root + "/nope", OutDir: "x", Layout: Layout{RootSize: 1}}, "no such file or directory"},
		{"no output", Request{Root: root, Layout: Layout{RootSize: 1}}, "no output directory given"},
		{"no size", Request{Root: root, OutDir: "x"}, "disk.size 0 is not positive"},
		{"small ESP", Request{Root: root, OutDir: "x", Layout: Layout{RootSize: 1, ESPSize: 32 << 20}}, "EFI system partition of 32 MiB is too small"},
		{"label with a space", part("my data", "/data", "ext4", 1), `partition label "my data"`},
		{"label taken", part("ROOT", "/data", "ext4", 1), `partition "ROOT": label is used twice`},
		{"btrfs", part("data", "/data", "btrfs", 1), `file system "btrfs" is not supported`},
		{"long xfs label", part("thirteen-char", "/data", "xfs", 1), "an xfs label has at most 12 characters"},
		{"relative mount", part("data", "data", "ext4", 1), `mount point "data" is not a clean absolute path`},
		{"unclean mount", part("data", "/data/", "ext4", 1), `mount point "/data/" is not a clean absolute path`},
		{"mount on root", part("data", "/", "ext4", 1), "mount point / is used twice"},
		{"no partition size", part("data", "/data", "ext4", 0), "size 0 is not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(tt.req)
			if tt.want == "" {
				if err != nil {
					t.Errorf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want an error with %q", err, tt.want)
			}
		})
	}
}

func TestFstabKeepsExistingLines(t *testing.T) {
	ms := []mount{
		{"LABEL=ROOT", "/", "ext4", "defaults", 1},
		{"LABEL=data", "/data", "xfs", "defaults,nofail", 2},
	}
	tests := []struct {
		name, existing, want string
	}{
		{
			name: "none",
			want: "# disk layout of image \"x\"\nLABEL=ROOT / ext4 defaults 0 1\nLABEL=data /data xfs defaults,nofail 0 2\n",
		},
		{
			name:     "unrelated lines stay, without a final newline",
			existing: "# comment\ntmpfs /tmp tmpfs defaults 0 0",
			want:     "# comment\ntmpfs /tmp tmpfs defaults 0 0\n# disk layout of image \"x\"\nLABEL=ROOT / ext4 defaults 0 1\nLABEL=data /data xfs defaults,nofail 0 2\n",
		},
		{
			name:     "lines for the layout's mount points are commented out",
			existing: "UUID=1234 / ext4 errors=remount-ro 0 1\n/dev/sdb1\t/data/\text4\tdefaults\t0 2\n#/dev/sdc1 /data ext4 defaults 0 2\n",
			want: "# replaced by the disk layout below: UUID=1234 / ext4 errors=remount-ro 0 1\n" +
				"# replaced by the disk layout below: /dev/sdb1\t/data/\text4\tdefaults\t0 2\n" +
				"#/dev/sdc1 /data ext4 defaults 0 2\n" +
				"# disk layout of image \"x\"\nLABEL=ROOT / ext4 defaults 0 1\nLABEL=data /data xfs defaults,nofail 0 2\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := fstab(tt.existing, "x", ms); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestClipKeepsTheStartAndTheEnd(t *testing.T) {
	var lines []string
	for i := range 30 {
		lines = append(lines, "l"+string(rune('a'+i%26)))
	}
	got := clip(strings.Join(lines, "\n")+"\n", 2, 3)
	want := "la\nlb\n[… 25 lines …]\nlb\nlc\nld"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got := clip("one\ntwo\n", 2, 3); got != "one\ntwo" {
		t.Errorf("short text changed: %q", got)
	}
}

func TestMeasure(t *testing.T) {
	root := t.TempDir()
	writeTree(t, root, mine([]entry{
		{path: "a.bin", mode: 0o644, content: strings.Repeat("x", 10000)},      // 3 blocks
		{path: "hard", link: "a.bin"},                                          // the same blocks
		{path: "short", mode: fs.ModeSymlink, content: "a.bin"},                // in the inode
		{path: "long", mode: fs.ModeSymlink, content: strings.Repeat("t", 80)}, // 1 block
		{path: "sub", mode: fs.ModeDir | 0o755},                                // 1 block
	}))
	if err := sparseFile(filepath.Join(root, "sparse"), 1<<30); err != nil { // no block
		t.Fatal(err)
	}
	bytes, files, err := Measure(root)
	if err != nil {
		t.Fatal(err)
	}
	// The root directory's block, a.bin's three, the long link's and sub's.
	if want := int64(6 * 4096); bytes != want {
		t.Errorf("bytes %d, want %d", bytes, want)
	}
	if want := 6; files != want { // root, a.bin, short, long, sub, sparse
		t.Errorf("files %d, want %d", files, want)
	}
}
