package specrun

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMarkdown is GitHub's limit for a check run's summary (65,535 characters). Markdown counts
// bytes, which is stricter than characters.
const MaxMarkdown = 65535

// Markdown renders the report for a GitHub check run within limit bytes (MaxMarkdown if zero or
// less): a heading with the counts, each failure with its place in the spec, then how many
// checks passed of each kind. Failures that do not fit are left out whole, last ones first, and
// a line says how many; then the count of passes goes, then all but the title. Only a limit too
// small for the title and that line cuts text mid-line.
//
// Everything the spec or the image wrote (paths, patterns, command output) is in code spans,
// so that it cannot turn into markup, links or mentions.
func (r Report) Markdown(limit int) string {
	if limit <= 0 {
		limit = MaxMarkdown
	}
	head := r.markdownHead()
	var lines []string
	for _, res := range r.Failures() {
		lines = append(lines, fmt.Sprintf("- %s %s\n", code(posLine(res)), code(res.Message)))
	}
	passes := r.passLine()

	sizes := make([]int, len(lines)+1) // sizes[k] is the length of the first k lines
	for i, l := range lines {
		sizes[i+1] = sizes[i] + len(l)
	}
	// Fewer failures first, then without the count of passes, then with the title alone.
	title, _, _ := strings.Cut(head, "\n")
	title += "\n"
	for _, v := range []struct{ head, tail string }{{head, passes}, {head, ""}, {title, ""}} {
		for k := len(lines); k >= 0; k-- {
			note := omitted(len(lines)-k, len(lines), limit)
			if len(v.head)+sizes[k]+len(note)+len(v.tail) > limit {
				continue
			}
			var b strings.Builder
			b.WriteString(v.head)
			for _, l := range lines[:k] {
				b.WriteString(l)
			}
			b.WriteString(note)
			b.WriteString(v.tail)
			return b.String()
		}
	}
	return cut(title, limit)
}

func (r Report) markdownHead() string {
	var b strings.Builder
	s := r.Summary
	switch {
	case s.Checks == 0:
		fmt.Fprintf(&b, "### Image spec %s: no checks\n\n", code(r.Image))
	case s.Failed == 0:
		fmt.Fprintf(&b, "### Image spec %s: all %s passed\n\n", code(r.Image), plural(s.Checks, "check", "checks"))
	default:
		fmt.Fprintf(&b, "### Image spec %s: %d of %s failed\n\n", code(r.Image), s.Failed, plural(s.Checks, "check", "checks"))
	}
	fmt.Fprintf(&b, "Spec %s, checked in %s.\n\n", code(r.Spec), r.Duration.Round(time.Millisecond))
	if s.Failed > 0 {
		b.WriteString("**Failures**\n\n")
	}
	return b.String()
}

// omitted is the line that says how many of all the failures were left out, or nothing.
func omitted(n, all, limit int) string {
	switch {
	case n == 0:
		return ""
	case n == all:
		return fmt.Sprintf("- … %s, left out to keep this summary within %d bytes.\n", plural(n, "failure", "failures"), limit)
	}
	return fmt.Sprintf("- … and %s, left out to keep this summary within %d bytes.\n", plural(n, "more failure", "more failures"), limit)
}

// passLine counts the passed checks of each kind.
func (r Report) passLine() string {
	if r.Summary.Passed == 0 {
		return ""
	}
	var parts []string
	for _, k := range []Kind{KindImage, KindPackage, KindFile, KindService, KindUser, KindCommand} {
		n := 0
		for _, res := range r.Results {
			if res.Passed && res.Kind == k {
				n++
			}
		}
		if n > 0 {
			parts = append(parts, plural(n, string(k), string(k)+"s"))
		}
	}
	return fmt.Sprintf("\n%s passed: %s.\n", plural(r.Summary.Passed, "check", "checks"), strings.Join(parts, ", "))
}

func posLine(r Result) string {
	if r.Pos.Line == 0 {
		return r.Pos.File
	}
	return fmt.Sprintf("%s:%d", r.Pos.File, r.Pos.Line)
}

// code puts s in a code span whose fence is longer than any run of backticks in s.
func code(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	run, longest := 0, 0
	for _, r := range s {
		if r == '`' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	fence := strings.Repeat("`", longest+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// cut shortens s to at most n bytes without splitting a character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
