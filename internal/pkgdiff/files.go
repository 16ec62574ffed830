package pkgdiff

import (
	"cmp"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// FileEntry is one path of a root filesystem, as Walk lists it.
type FileEntry struct {
	// Path is absolute within the root filesystem: "/usr/bin/ls".
	Path string `json:"path"`
	// Mode is Go's fs.FileMode: permission bits and the type bits (directory, symlink, ...).
	Mode fs.FileMode `json:"mode"`
	// Size is the content's length for a regular file and zero for anything else.
	Size int64 `json:"size"`
	// SHA256 is the hex digest of a regular file's content, empty for anything else.
	SHA256 string `json:"sha256,omitempty"`
	// LinkTarget is a symlink's target, as written in the link.
	LinkTarget string `json:"link_target,omitempty"`
}

// FileChange is one path present on both sides whose content, type, mode or link target
// differs.
type FileChange struct {
	Old, New FileEntry
}

// Path is the changed path.
func (c FileChange) Path() string { return c.New.Path }

// ContentChanged says whether the bytes (or the link target, or the file type) differ.
func (c FileChange) ContentChanged() bool {
	return c.Old.Mode.Type() != c.New.Mode.Type() || c.Old.Size != c.New.Size ||
		c.Old.SHA256 != c.New.SHA256 || c.Old.LinkTarget != c.New.LinkTarget
}

// ModeChanged says whether the permission bits (including setuid, setgid and sticky) differ.
func (c FileChange) ModeChanged() bool {
	return permBits(c.Old.Mode) != permBits(c.New.Mode)
}

func permBits(m fs.FileMode) fs.FileMode {
	return m & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
}

// FileChanges is what changed in a root filesystem, each list sorted by path.
type FileChanges struct {
	Added    []FileEntry
	Removed  []FileEntry
	Modified []FileChange
}

// Len is the number of changed paths.
func (fc FileChanges) Len() int { return len(fc.Added) + len(fc.Removed) + len(fc.Modified) }

// DiffFiles compares the files of a base build with those of a head build. Entries are
// matched by path; a directory is modified only when its mode changes.
func DiffFiles(base, head []FileEntry) FileChanges {
	b := sortedByPath(base)
	h := sortedByPath(head)
	var fc FileChanges
	i, j := 0, 0
	for i < len(b) || j < len(h) {
		switch {
		case j == len(h) || (i < len(b) && b[i].Path < h[j].Path):
			fc.Removed = append(fc.Removed, b[i])
			i++
		case i == len(b) || h[j].Path < b[i].Path:
			fc.Added = append(fc.Added, h[j])
			j++
		default:
			if c := (FileChange{Old: b[i], New: h[j]}); c.ContentChanged() || c.ModeChanged() {
				fc.Modified = append(fc.Modified, c)
			}
			i++
			j++
		}
	}
	return fc
}

func sortedByPath(entries []FileEntry) []FileEntry {
	if slices.IsSortedFunc(entries, byPath) {
		return entries
	}
	s := slices.Clone(entries)
	slices.SortStableFunc(s, byPath)
	return s
}

func byPath(a, b FileEntry) int { return cmp.Compare(a.Path, b.Path) }

// DirSummary counts the changes under one directory.
type DirSummary struct {
	Dir                      string
	Added, Removed, Modified int
}

// Total is the number of changes under the directory.
func (d DirSummary) Total() int { return d.Added + d.Removed + d.Modified }

// ByDir sums the changes up by the directory that holds them, cut to its first depth
// components: with depth 2, "/usr/lib/x86_64-linux-gnu/libc.so.6" counts for "/usr/lib",
// "/etc/ssh/sshd_config" for "/etc/ssh", and "/etc/passwd" for "/etc". Sorted by directory.
func (fc FileChanges) ByDir(depth int) []DirSummary {
	m := map[string]*DirSummary{}
	count := func(p string) *DirSummary {
		d := dirOf(p, depth)
		s, ok := m[d]
		if !ok {
			s = &DirSummary{Dir: d}
			m[d] = s
		}
		return s
	}
	for _, e := range fc.Added {
		count(e.Path).Added++
	}
	for _, e := range fc.Removed {
		count(e.Path).Removed++
	}
	for _, c := range fc.Modified {
		count(c.Path()).Modified++
	}
	out := make([]DirSummary, 0, len(m))
	for _, s := range m {
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b DirSummary) int { return cmp.Compare(a.Dir, b.Dir) })
	return out
}

// dirOf is the parent directory of p cut to depth components.
func dirOf(p string, depth int) string {
	dir := path.Dir(path.Clean("/" + p))
	if depth <= 0 || dir == "/" {
		return "/"
	}
	parts := strings.SplitN(strings.TrimPrefix(dir, "/"), "/", depth+1)
	if len(parts) > depth {
		parts = parts[:depth]
	}
	return "/" + strings.Join(parts, "/")
}
