package pkgdiff

import (
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxMarkdown is the most bytes Markdown writes: GitHub's limit on a check run's summary.
const MaxMarkdown = 65535

// maxPaths is how many changed paths the file summary lists at most; past a few hundred
// a list is no longer read, and the directory table says where the rest are.
const maxPaths = 200

// Markdown renders package and file changes as GitHub-flavoured Markdown for a check run,
// in at most limit bytes (zero, negative or more than MaxMarkdown means MaxMarkdown): a
// one-line summary, tables of upgraded, downgraded, added and removed packages, and the
// file changes in a <details> block, by directory and then path by path.
//
// When everything does not fit, every block first gets its first ten rows, and then the
// blocks in that order of importance get as many more as fit. A shortened block is still a
// well-formed table, followed by a line saying how many rows are not shown; a block with
// no room for even one row is left out, which a last line says. Markup is never cut in the middle. A limit with no
// room for that last line gets the summary line alone, cut to the limit if need be.
func Markdown(changes Changes, files FileChanges, limit int) string {
	if limit <= 0 || limit > MaxMarkdown {
		limit = MaxMarkdown
	}
	head := summaryLine(changes, files) + "\n"
	if len(head) > limit {
		return cutUTF8(head, limit)
	}
	blocks := []block{
		packageBlock("Upgraded", "upgraded", changes.Upgraded, true),
		packageBlock("Downgraded", "downgraded", changes.Downgraded, true),
		packageBlock("Added", "added", changes.Added, false),
		packageBlock("Removed", "removed", changes.Removed, false),
		fileBlock(files),
	}
	var all []string
	for _, b := range blocks {
		if b.rows > 0 {
			all = append(all, b.what)
		}
	}
	reserve := len(leftOutNote(all, limit))
	if len(head)+reserve > limit {
		// No room to list what is left out, so no room for any of it either.
		short := fmt.Sprintf("\n_Left out to stay within %s bytes: all details._\n", number(limit))
		if len(all) > 0 && len(head)+len(short) <= limit {
			return head + short
		}
		return head
	}

	// First every block gets up to a few rows, so that a long table does not crowd out the
	// others; then, in order, each grows to whatever room is left.
	budget := limit - len(head) - reserve
	shown := make([]int, len(blocks))
	size := make([]int, len(blocks))
	for _, most := range []func(b block) int{
		func(b block) int { return min(b.rows, firstRows) },
		func(b block) int { return b.rows },
	} {
		for i, b := range blocks {
			room := budget + size[i]
			k := fit(b, shown[i], most(b), room)
			if k > shown[i] {
				budget -= len(b.render(k)) - size[i]
				shown[i], size[i] = k, len(b.render(k))
			}
		}
	}

	var sb strings.Builder
	sb.WriteString(head)
	var omitted []string
	for i, b := range blocks {
		switch {
		case b.rows == 0:
		case shown[i] == 0:
			omitted = append(omitted, b.what)
		default:
			sb.WriteString(b.render(shown[i]))
		}
	}
	sb.WriteString(leftOutNote(omitted, limit))
	return sb.String()
}

// firstRows is how many rows every block is given before any block gets more.
const firstRows = 10

// fit is the largest k in [from, to] whose rendering of b fits in room, or from when none
// does. Renderings grow with k.
func fit(b block, from, to, room int) int {
	if to <= from {
		return from
	}
	if len(b.render(to)) <= room {
		return to
	}
	// The smallest k in (from, to] that does not fit, less one.
	return from + sort.Search(to-from, func(i int) bool { return len(b.render(from+i+1)) > room })
}

// block is one part of the report that can be shortened to its first k rows.
type block struct {
	what   string // for the note that it was left out
	rows   int
	render func(k int) string
}

func summaryLine(c Changes, f FileChanges) string {
	parts := []string{plural(len(c.Upgraded), "package", "packages") + " upgraded"}
	if len(c.Downgraded) > 0 {
		parts = append(parts, number(len(c.Downgraded))+" downgraded")
	}
	parts = append(parts, number(len(c.Added))+" added", number(len(c.Removed))+" removed")
	return strings.Join(parts, ", ") + "; " + plural(f.Len(), "file", "files") + " changed"
}

func leftOutNote(what []string, limit int) string {
	if len(what) == 0 {
		return ""
	}
	return fmt.Sprintf("\n_Left out to stay within %s bytes: %s._\n", number(limit), strings.Join(what, ", "))
}

func packageBlock(title, verb string, list []Change, versions bool) block {
	// A name installed for several architectures needs its architecture to tell the rows apart.
	seen := map[string]int{}
	for _, c := range list {
		seen[c.Name]++
	}
	return block{
		what: fmt.Sprintf("the table of %s %s packages", number(len(list)), verb),
		rows: len(list),
		render: func(k int) string {
			var sb strings.Builder
			fmt.Fprintf(&sb, "\n### %s (%s)\n\n", title, number(len(list)))
			if versions {
				sb.WriteString("| Package | From | To |\n| --- | --- | --- |\n")
			} else {
				sb.WriteString("| Package | Version |\n| --- | --- |\n")
			}
			for _, c := range list[:k] {
				name := c.Name
				if seen[c.Name] > 1 {
					name += ":" + c.Architecture
				}
				name = code(name)
				if c.OldArchitecture != "" {
					name += fmt.Sprintf(" (%s → %s)", cell(c.OldArchitecture), cell(c.Architecture))
				}
				switch {
				case versions:
					fmt.Fprintf(&sb, "| %s | %s | %s |\n", name, code(c.Old), code(c.New))
				case c.New != "":
					fmt.Fprintf(&sb, "| %s | %s |\n", name, code(c.New))
				default:
					fmt.Fprintf(&sb, "| %s | %s |\n", name, code(c.Old))
				}
			}
			if k < len(list) {
				fmt.Fprintf(&sb, "\n…and %s more %s packages, not shown.\n", number(len(list)-k), verb)
			}
			return sb.String()
		},
	}
}

// fileBlock shortens by dropping listed paths first and then directory rows.
func fileBlock(f FileChanges) block {
	dirs := f.ByDir(2)
	lines := pathLines(f)
	listed := min(len(lines), maxPaths)
	return block{
		what: "the file summary",
		rows: len(dirs) + listed,
		render: func(k int) string {
			nd, np := min(k, len(dirs)), max(k-len(dirs), 0)
			var sb strings.Builder
			fmt.Fprintf(&sb, "\n<details>\n<summary>%s changed: %s added, %s removed, %s modified</summary>\n\n",
				plural(f.Len(), "file", "files"), number(len(f.Added)), number(len(f.Removed)), number(len(f.Modified)))
			sb.WriteString("| Directory | Added | Removed | Modified |\n| --- | ---: | ---: | ---: |\n")
			for _, d := range dirs[:nd] {
				fmt.Fprintf(&sb, "| %s | %s | %s | %s |\n", code(d.Dir), number(d.Added), number(d.Removed), number(d.Modified))
			}
			if nd < len(dirs) {
				fmt.Fprintf(&sb, "\n…and %s more directories, not shown.\n", number(len(dirs)-nd))
			}
			if np > 0 {
				fence := codeFence(lines[:np])
				fmt.Fprintf(&sb, "\n%s\n%s\n%s\n", fence, strings.Join(lines[:np], "\n"), fence)
			}
			if np < len(lines) {
				fmt.Fprintf(&sb, "\n…and %s more paths, not listed.\n", number(len(lines)-np))
			}
			sb.WriteString("\n</details>\n")
			return sb.String()
		},
	}
}

// pathLines lists changed paths in path order, git-status style: "A" added, "D" removed,
// "M" modified, with what changed when it is not (only) the content.
func pathLines(f FileChanges) []string {
	type line struct{ path, text string }
	var ls []line
	for _, e := range f.Added {
		ls = append(ls, line{e.Path, "A " + quotePath(e.Path)})
	}
	for _, e := range f.Removed {
		ls = append(ls, line{e.Path, "D " + quotePath(e.Path)})
	}
	for _, c := range f.Modified {
		text := "M " + quotePath(c.Path())
		var notes []string
		if c.Old.Mode.Type() != c.New.Mode.Type() {
			notes = append(notes, kindOf(c.Old)+" → "+kindOf(c.New))
		} else if c.Old.LinkTarget != c.New.LinkTarget {
			notes = append(notes, "→ "+quotePath(c.New.LinkTarget))
		}
		if c.ModeChanged() && c.Old.Mode.Type() == c.New.Mode.Type() {
			notes = append(notes, fmt.Sprintf("mode %04o → %04o", unixPerm(c.Old), unixPerm(c.New)))
		}
		if len(notes) > 0 {
			text += " (" + strings.Join(notes, ", ") + ")"
		}
		ls = append(ls, line{c.Path(), text})
	}
	sort.SliceStable(ls, func(i, j int) bool { return ls[i].path < ls[j].path })
	out := make([]string, len(ls))
	for i, l := range ls {
		out[i] = l.text
	}
	return out
}

func kindOf(e FileEntry) string {
	switch {
	case e.Mode.IsDir():
		return "directory"
	case e.Mode.IsRegular():
		return "file"
	case e.Mode.Type() == fs.ModeSymlink:
		return "symlink"
	}
	return "special file"
}

// unixPerm is the mode as chmod writes it: setuid 4000, setgid 2000, sticky 1000.
func unixPerm(e FileEntry) uint32 {
	m := uint32(e.Mode.Perm())
	if e.Mode&fs.ModeSetuid != 0 {
		m |= 0o4000
	}
	if e.Mode&fs.ModeSetgid != 0 {
		m |= 0o2000
	}
	if e.Mode&fs.ModeSticky != 0 {
		m |= 0o1000
	}
	return m
}

// quotePath keeps a path on one line.
func quotePath(p string) string {
	if strings.ContainsFunc(p, func(r rune) bool { return r < ' ' || r == 0x7f }) || !utf8.ValidString(p) {
		return strconv.Quote(p)
	}
	return p
}

// code is s as a code span that is safe in a table cell.
func code(s string) string {
	if s == "" {
		return ""
	}
	s = strings.ReplaceAll(s, "|", `\|`)
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		return fence + " " + s + " " + fence
	}
	return fence + s + fence
}

// cell is plain text that is safe in a table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func codeFence(lines []string) string {
	n := 2
	for _, l := range lines {
		n = max(n, longestRun(l, '`'))
	}
	return strings.Repeat("`", n+1)
}

func longestRun(s string, c byte) int {
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return number(n) + " " + many
}

// number writes n with thousands separators: 65,535.
func number(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + number(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func cutUTF8(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
