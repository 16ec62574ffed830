package specrun

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"strconv"
	"syscall"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// checkFiles checks each file entry: one result for its existence and type, then one per
// attribute it asserts (mode, owner, group, contains), unless the file does not exist.
//
// A path whose last component is a symbolic link is checked as the link itself when the spec
// says type: symlink (its mode, owner and group are the link's), and as what the link leads to
// otherwise, as test -f and stat would. contains always reads what the link leads to. Links are
// followed inside the image's root, never out of it.
func (c *checker) checkFiles(specs []model.FileSpec) {
	for _, f := range specs {
		c.checkFile(f)
	}
}

func (c *checker) checkFile(f model.FileSpec) {
	p := f.Path.V
	want := cmp.Or(f.Type.V, "file")
	r := Result{Kind: KindFile, Subject: p, Check: "type", Want: want, Pos: at(f.Type.Pos, f.Path.Pos, f.Pos)}
	fi, err := c.fs.lstat(p)
	if err != nil {
		got := describeErr(err)
		c.add(r.fail(got, "file %s: want %s, %s", p, article(want), got))
		return
	}
	via := ""
	if fi.Mode()&fs.ModeSymlink != 0 && want != "symlink" {
		target, _ := c.fs.readlink(p)
		via = fmt.Sprintf(" (through the symlink to %s)", target)
		tfi, _, err := c.fs.stat(p)
		if err != nil {
			got := fmt.Sprintf("a symlink to %s, which %s", target, describeErr(err))
			c.add(r.fail(got, "file %s: want %s, got %s", p, article(want), got))
			return
		}
		fi = tfi
	}
	got, kind := c.describe(p, fi)
	got += via
	if kind == want {
		c.add(r.pass(got, "file %s: is %s", p, got))
	} else {
		c.add(r.fail(got, "file %s: want %s, got %s", p, article(want), got))
	}
	if f.Mode.Set() {
		c.add(checkMode(f, fi))
	}
	if f.Owner.Set() {
		c.add(c.checkOwner(f, fi, false))
	}
	if f.Group.Set() {
		c.add(c.checkOwner(f, fi, true))
	}
	if f.Contains.Set() {
		c.add(c.checkContains(f))
	}
}

// describe says what fi is, and which of the spec's types it is ("" for none).
func (c *checker) describe(p string, fi fs.FileInfo) (got, kind string) {
	m := fi.Mode()
	switch {
	case m.IsRegular():
		return "a regular file", "file"
	case m.IsDir():
		return "a directory", "directory"
	case m&fs.ModeSymlink != 0:
		target, err := c.fs.readlink(p)
		if err != nil {
			return "a symlink", "symlink"
		}
		return "a symlink to " + target, "symlink"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe", ""
	case m&fs.ModeSocket != 0:
		return "a socket", ""
	case m&fs.ModeDevice != 0:
		return "a device", ""
	}
	return "a special file", ""
}

func article(kind string) string {
	switch kind {
	case "file":
		return "a regular file"
	case "directory":
		return "a directory"
	case "symlink":
		return "a symlink"
	}
	return kind
}

// describeErr says why a path could not be looked at, in the words of someone looking at
// the image.
func describeErr(err error) string {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "does not exist"
	case errors.Is(err, syscall.ENOTDIR):
		return "does not exist (a component of the path is not a directory)"
	case errors.Is(err, syscall.ELOOP):
		return "cannot be reached: too many levels of symbolic links"
	}
	return "cannot be read: " + err.Error()
}

// unixMode returns the permission bits of fi as chmod writes them, with setuid, setgid and
// sticky.
func unixMode(fi fs.FileInfo) uint32 {
	m := uint32(fi.Mode().Perm())
	if fi.Mode()&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if fi.Mode()&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if fi.Mode()&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

func checkMode(f model.FileSpec, fi fs.FileInfo) Result {
	r := Result{Kind: KindFile, Subject: f.Path.V, Check: "mode", Want: f.Mode.V, Pos: at(f.Mode.Pos, f.Path.Pos, f.Pos)}
	got := fmt.Sprintf("%04o", unixMode(fi))
	want, err := strconv.ParseUint(f.Mode.V, 8, 32)
	if err != nil {
		return r.fail(got, "file %s: mode %q is not an octal mode such as \"0644\"", f.Path.V, f.Mode.V)
	}
	if uint32(want) != unixMode(fi) {
		return r.fail(got, "file %s: mode want %04o, got %s", f.Path.V, want, got)
	}
	return r.pass(got, "file %s: mode %s", f.Path.V, got)
}

// checkOwner checks the owning user, or the group when group is true, by the names the
// image's /etc/passwd and /etc/group give; a number is taken as an id.
func (c *checker) checkOwner(f model.FileSpec, fi fs.FileInfo, group bool) Result {
	check, want, table := "owner", f.Owner, "passwd"
	if group {
		check, want, table = "group", f.Group, "group"
	}
	r := Result{Kind: KindFile, Subject: f.Path.V, Check: check, Want: want.V, Pos: at(want.Pos, f.Path.Pos, f.Pos)}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return r.fail("unknown", "file %s: %s want %s, cannot read owners on this system", f.Path.V, check, want.V)
	}
	a := c.loadAccounts()
	as, id, what := a.users, int(st.Uid), "uid"
	if group {
		as, id, what = a.groups, int(st.Gid), "gid"
	}
	got := idName(as, id, what)
	if a.err != nil {
		return r.fail(got, "file %s: %s want %s, cannot tell: %v", f.Path.V, check, want.V, a.err)
	}
	wantID := -1
	if acc, ok := find(as, want.V); ok {
		wantID = acc.id
	} else if n, err := strconv.Atoi(want.V); err == nil {
		wantID = n
	} else {
		return r.fail(got, "file %s: %s want %s, which is not in the image's /etc/%s (got %s)", f.Path.V, check, want.V, table, got)
	}
	if id != wantID {
		return r.fail(got, "file %s: %s want %s, got %s", f.Path.V, check, want.V, got)
	}
	return r.pass(got, "file %s: %s %s", f.Path.V, check, got)
}

// checkContains matches the content of what the path leads to, even when the spec checks the
// path as a link.
func (c *checker) checkContains(f model.FileSpec) Result {
	r := Result{Kind: KindFile, Subject: f.Path.V, Check: "contains", Want: f.Contains.V, Pos: at(f.Contains.Pos, f.Path.Pos, f.Pos)}
	re, err := regexp.Compile("(?m)" + f.Contains.V)
	if err != nil {
		return r.fail("invalid pattern", "file %s: contains /%s/ is not a valid regular expression: %v", f.Path.V, f.Contains.V, err)
	}
	fi, _, err := c.fs.stat(f.Path.V)
	if err == nil && !fi.Mode().IsRegular() {
		got, _ := c.describe(f.Path.V, fi)
		return r.fail(got, "file %s: contains want /%s/, got %s, not a regular file", f.Path.V, f.Contains.V, got)
	}
	var b []byte
	if err == nil {
		b, err = c.fs.readFile(f.Path.V)
	}
	if err != nil {
		got := describeErr(err)
		return r.fail(got, "file %s: contains want /%s/, %s", f.Path.V, f.Contains.V, got)
	}
	if loc := re.FindIndex(b); loc != nil {
		line := bytes.Count(b[:loc[0]], []byte("\n")) + 1
		return r.pass(fmt.Sprintf("line %d", line), "file %s: contains /%s/ at line %d", f.Path.V, f.Contains.V, line)
	}
	got := fmt.Sprintf("no line matches in %s", plural(lineCount(b), "line", "lines"))
	return r.fail(got, "file %s: contains want /%s/, %s", f.Path.V, f.Contains.V, got)
}

func lineCount(b []byte) int {
	n := bytes.Count(b, []byte("\n"))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		n++
	}
	return n
}
