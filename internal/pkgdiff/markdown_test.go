package pkgdiff_test

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cluster-as-code/cluster-as-code/internal/pkgdiff"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output; run go test -update and review the diff.\ngot:\n%s", path, got)
	}
}

// pointRelease is what a Debian point release does to an image, with one package added by
// the pull request and one removed.
func pointRelease() (pkgdiff.Changes, pkgdiff.FileChanges) {
	p := func(name, arch, version string) pkgdiff.Package {
		return pkgdiff.Package{Name: name, Architecture: arch, Version: version}
	}
	base := []pkgdiff.Package{
		p("libc6", "amd64", "2.36-9+deb12u4"), p("libc6", "i386", "2.36-9+deb12u4"),
		p("openssh-server", "amd64", "1:9.2p1-2+deb12u2"), p("systemd", "amd64", "252.39-1"),
		p("python3-six", "amd64", "1.15.0-2"), p("nano", "amd64", "7.2-1"), p("bash", "amd64", "5.2.15-2+b2"),
	}
	head := []pkgdiff.Package{
		p("libc6", "amd64", "2.36-9+deb12u7"), p("libc6", "i386", "2.36-9+deb12u7"),
		p("openssh-server", "amd64", "1:9.2p1-2+deb12u3"), p("systemd", "amd64", "252.39-1~deb12u1"),
		p("python3-six", "all", "1.16.0-4"), p("vim-tiny", "amd64", "2:9.0.1378-2"), p("bash", "amd64", "5.2.15-2+b2"),
	}
	files := pkgdiff.DiffFiles(
		[]pkgdiff.FileEntry{
			file("/usr/lib/x86_64-linux-gnu/libc.so.6", 0o755, "2.36-9+deb12u4"),
			file("/usr/sbin/sshd", 0o755, "9.2p1-2+deb12u2"),
			file("/usr/bin/nano", 0o755, "7.2"),
			link("/usr/bin/editor", "/etc/alternatives/editor"),
			link("/etc/alternatives/editor", "/bin/nano"),
			dir("/tmp", fs.ModeSticky|0o777),
			file("/etc/motd", 0o644, "hi"),
		},
		[]pkgdiff.FileEntry{
			file("/usr/lib/x86_64-linux-gnu/libc.so.6", 0o755, "2.36-9+deb12u7"),
			file("/usr/sbin/sshd", 0o755, "9.2p1-2+deb12u3"),
			file("/usr/bin/vim.tiny", 0o755, "9.0"),
			file("/usr/bin/editor", 0o755, "a copy, not a link"),
			link("/etc/alternatives/editor", "/usr/bin/vim.tiny"),
			dir("/tmp", 0o777),
			file("/etc/motd", 0o644, "hi"),
			file("/etc/odd\nname", 0o644, "`"),
		},
	)
	return pkgdiff.Diff(base, head), files
}

// bulk is a large upgrade: n packages upgraded, n/10 added, and 5n files changed.
func bulk(n int) (pkgdiff.Changes, pkgdiff.FileChanges) {
	var c pkgdiff.Changes
	var f pkgdiff.FileChanges
	for i := range n {
		name := fmt.Sprintf("lib%04d", i)
		c.Upgraded = append(c.Upgraded, pkgdiff.Change{Name: name, Architecture: "amd64", Old: "1.0-1", New: "1.0-1+deb12u1"})
		if i%10 == 0 {
			c.Added = append(c.Added, pkgdiff.Change{Name: name + "-new", Architecture: "amd64", New: "2.0-1"})
		}
		for j := range 5 {
			p := fmt.Sprintf("/usr/lib/%s/file%d", name, j)
			if j == 0 && i%7 == 0 {
				p = fmt.Sprintf("/usr/share/doc/%s/changelog.Debian.gz", name)
			}
			f.Modified = append(f.Modified, pkgdiff.FileChange{Old: file(p, 0o644, "old"), New: file(p, 0o644, "new")})
		}
	}
	return c, f
}

func TestMarkdown(t *testing.T) {
	cases := []struct {
		name  string
		make  func() (pkgdiff.Changes, pkgdiff.FileChanges)
		limit int
	}{
		{"point-release", pointRelease, 0},
		{"nothing", func() (pkgdiff.Changes, pkgdiff.FileChanges) { return pkgdiff.Changes{}, pkgdiff.FileChanges{} }, 0},
		{"packages-only", func() (pkgdiff.Changes, pkgdiff.FileChanges) {
			c, _ := pointRelease()
			return c, pkgdiff.FileChanges{}
		}, 0},
		// 300 upgrades do not fit in 4 KB: the table is shortened, the rest left out.
		{"shortened", func() (pkgdiff.Changes, pkgdiff.FileChanges) { return bulk(300) }, 4000},
		{"files-shortened", func() (pkgdiff.Changes, pkgdiff.FileChanges) { return bulk(30) }, 2500},
		// Room for a few upgrades only: the other blocks are left out, and the last line says so.
		{"left-out", func() (pkgdiff.Changes, pkgdiff.FileChanges) { return bulk(300) }, 600},
		{"tiny-limit", pointRelease, 40},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, f := tc.make()
			got := pkgdiff.Markdown(c, f, tc.limit)
			golden(t, tc.name+".md", got)
			limit := tc.limit
			if limit == 0 {
				limit = pkgdiff.MaxMarkdown
			}
			if len(got) > limit {
				t.Errorf("got %d bytes, want at most %d", len(got), limit)
			}
		})
	}
}

// TestMarkdownLimits checks, for many limits, that the output fits and that whatever is in
// it is whole: a reader never sees a broken table or an unclosed <details>.
func TestMarkdownLimits(t *testing.T) {
	c, f := bulk(2000)
	full := pkgdiff.Markdown(c, f, 1<<30)
	if len(full) != pkgdiff.MaxMarkdown && len(full) > pkgdiff.MaxMarkdown {
		t.Fatalf("a limit over the maximum: got %d bytes, want at most %d", len(full), pkgdiff.MaxMarkdown)
	}
	// Below about 130 bytes only the summary line fits, which the tiny-limit golden file shows.
	for limit := 130; limit <= pkgdiff.MaxMarkdown; limit = limit*5/4 + 1 {
		got := pkgdiff.Markdown(c, f, limit)
		if len(got) > limit {
			t.Errorf("limit %d: got %d bytes", limit, len(got))
		}
		if !strings.HasPrefix(got, "2,000 packages upgraded, 200 added, 0 removed; 10,000 files changed\n") {
			t.Errorf("limit %d: does not start with the summary line:\n%.200s", limit, got)
		}
		if o, c := strings.Count(got, "<details>"), strings.Count(got, "</details>"); o != c {
			t.Errorf("limit %d: %d <details> but %d </details>", limit, o, c)
		}
		if fences := strings.Count(got, "\n```"); fences%2 != 0 {
			t.Errorf("limit %d: %d code fences, an odd number", limit, fences)
		}
		checkTables(t, limit, got)
		shown := strings.Count(got, "| `1.0-1+deb12u1` |\n") // upgraded rows only
		if shown < 2000 && !strings.Contains(got, fmt.Sprintf("…and %s more upgraded packages, not shown.", thousands(2000-shown))) &&
			!strings.Contains(got, "Left out to stay within") {
			t.Errorf("limit %d: %d of 2,000 upgrades shown and no word about the rest", limit, shown)
		}
	}
}

// checkTables checks that every table row has as many cells as its header and that every
// table ends with a blank line.
func checkTables(t *testing.T, limit int, md string) {
	t.Helper()
	lines := strings.Split(md, "\n")
	cells := 0
	for i, l := range lines {
		if !strings.HasPrefix(l, "|") {
			if cells > 0 && l != "" {
				t.Errorf("limit %d, line %d: table not followed by a blank line: %q", limit, i+1, l)
			}
			cells = 0
			continue
		}
		n := strings.Count(strings.ReplaceAll(l, `\|`, ""), "|") - 1
		if cells == 0 {
			cells = n
		} else if n != cells {
			t.Errorf("limit %d, line %d: %d cells, want %d: %q", limit, i+1, n, cells, l)
		}
	}
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// BenchmarkMarkdown renders a full distribution upgrade, which must be shortened to fit.
func BenchmarkMarkdown(b *testing.B) {
	c, f := bulk(5000)
	for b.Loop() {
		pkgdiff.Markdown(c, f, 0)
	}
}
