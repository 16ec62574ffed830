package pkgdiff_test

import (
	"io/fs"
	"reflect"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

func dir(p string, perm fs.FileMode) pkgdiff.FileEntry {
	return pkgdiff.FileEntry{Path: p, Mode: fs.ModeDir | perm}
}

func file(p string, perm fs.FileMode, content string) pkgdiff.FileEntry {
	return pkgdiff.FileEntry{Path: p, Mode: perm, Size: int64(len(content)), SHA256: "sha-of-" + content}
}

func link(p, target string) pkgdiff.FileEntry {
	return pkgdiff.FileEntry{Path: p, Mode: fs.ModeSymlink | 0o777, LinkTarget: target}
}

func TestDiffFiles(t *testing.T) {
	base := []pkgdiff.FileEntry{
		dir("/etc", 0o755),
		file("/etc/motd", 0o644, "hello"),
		file("/etc/passwd", 0o644, "root"),
		dir("/tmp", fs.ModeSticky|0o777),
		file("/usr/bin/sudo", 0o755, "sudo"),
		link("/usr/bin/vi", "vim.tiny"),
		file("/usr/lib/x86_64-linux-gnu/libssl.so.3", 0o644, "ssl 3.0.11"),
		link("/usr/sbin/sshd", "../bin/sshd"),
		file("/var/lib/gone", 0o644, "x"),
	}
	head := []pkgdiff.FileEntry{
		file("/usr/lib/x86_64-linux-gnu/libssl.so.3", 0o644, "ssl 3.0.13"), // out of order on purpose
		dir("/etc", 0o755),
		dir("/etc/ssh", 0o755),
		file("/etc/motd", 0o644, "hello"),
		file("/etc/passwd", 0o644, "root"),
		dir("/tmp", 0o777),
		file("/usr/bin/sudo", fs.ModeSetuid|0o755, "sudo"),
		link("/usr/bin/vi", "vim.basic"),
		file("/usr/sbin/sshd", 0o755, "sshd"),
	}
	got := pkgdiff.DiffFiles(base, head)
	want := pkgdiff.FileChanges{
		Added:   []pkgdiff.FileEntry{dir("/etc/ssh", 0o755)},
		Removed: []pkgdiff.FileEntry{file("/var/lib/gone", 0o644, "x")},
		Modified: []pkgdiff.FileChange{
			{Old: dir("/tmp", fs.ModeSticky|0o777), New: dir("/tmp", 0o777)},
			{Old: file("/usr/bin/sudo", 0o755, "sudo"), New: file("/usr/bin/sudo", fs.ModeSetuid|0o755, "sudo")},
			{Old: link("/usr/bin/vi", "vim.tiny"), New: link("/usr/bin/vi", "vim.basic")},
			{Old: file("/usr/lib/x86_64-linux-gnu/libssl.so.3", 0o644, "ssl 3.0.11"), New: file("/usr/lib/x86_64-linux-gnu/libssl.so.3", 0o644, "ssl 3.0.13")},
			{Old: link("/usr/sbin/sshd", "../bin/sshd"), New: file("/usr/sbin/sshd", 0o755, "sshd")},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}

	what := map[string][2]bool{ // path: content changed, mode changed
		"/tmp":                                  {false, true},
		"/usr/bin/sudo":                         {false, true},
		"/usr/bin/vi":                           {true, false},
		"/usr/lib/x86_64-linux-gnu/libssl.so.3": {true, false},
		"/usr/sbin/sshd":                        {true, true},
	}
	for _, c := range got.Modified {
		t.Run(c.Path(), func(t *testing.T) {
			if g, w := [2]bool{c.ContentChanged(), c.ModeChanged()}, what[c.Path()]; g != w {
				t.Errorf("content, mode changed: got %v, want %v", g, w)
			}
		})
	}

	dirs := got.ByDir(2)
	wantDirs := []pkgdiff.DirSummary{
		{Dir: "/", Modified: 1},
		{Dir: "/etc", Added: 1},
		{Dir: "/usr/bin", Modified: 2},
		{Dir: "/usr/lib", Modified: 1},
		{Dir: "/usr/sbin", Modified: 1},
		{Dir: "/var/lib", Removed: 1},
	}
	if !reflect.DeepEqual(dirs, wantDirs) {
		t.Errorf("ByDir(2):\ngot  %+v\nwant %+v", dirs, wantDirs)
	}
	if n := got.Len(); n != 7 {
		t.Errorf("Len: got %d, want 7", n)
	}
}

func TestByDirDepth(t *testing.T) {
	fc := pkgdiff.FileChanges{Added: []pkgdiff.FileEntry{{Path: "/usr/lib/x86_64-linux-gnu/libc.so.6"}, {Path: "/usr/share/doc/a/copyright"}, {Path: "/vmlinuz"}}}
	cases := []struct {
		depth int
		want  []string
	}{
		{0, []string{"/"}},
		{1, []string{"/", "/usr"}},
		{2, []string{"/", "/usr/lib", "/usr/share"}},
		{3, []string{"/", "/usr/lib/x86_64-linux-gnu", "/usr/share/doc"}},
	}
	for _, tc := range cases {
		var got []string
		for _, d := range fc.ByDir(tc.depth) {
			got = append(got, d.Dir)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ByDir(%d): got %q, want %q", tc.depth, got, tc.want)
		}
	}
}
