package plan

import (
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// FileChange is a file that differs between base and head.
type FileChange struct {
	Path    string `json:"path"`
	Status  string `json:"status"`
	Added   int    `json:"added"`
	Removed int    `json:"removed"`
	// Diff is a unified diff with secret values masked; empty for binary files and when the
	// diff budget ran out (DiffOmitted says so).
	Diff        string `json:"-"`
	Binary      bool   `json:"binary,omitempty"`
	DiffOmitted bool   `json:"-"`
}

// File statuses.
const (
	FileAdded    = "added"
	FileModified = "modified"
	FileDeleted  = "deleted"
)

// diffBudget bounds the diff text kept for rendering: more than fits in a pull request
// summary (65,535 characters) is never shown, so it is not computed either.
const diffBudget = 64 << 10

// diffContext is how many unchanged lines surround each change.
const diffContext = 3

// fileChanges lists the files that differ, in path order, with masked unified diffs.
func fileChanges(base, head Snapshot) []FileChange {
	files := func(r *model.Repo) map[string]model.File {
		m := map[string]model.File{}
		if r != nil {
			for _, f := range r.Files {
				m[f.Path] = f
			}
		}
		return m
	}
	b, h := files(base.Repo), files(head.Repo)
	var paths []string
	for p, f := range h {
		if o, ok := b[p]; !ok || o.Digest != f.Digest || o.Mode != f.Mode {
			paths = append(paths, p)
		}
	}
	for p := range b {
		if _, ok := h[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	masker := newMasker()
	out := make([]FileChange, 0, len(paths))
	budget := diffBudget
	for _, p := range paths {
		fc := FileChange{Path: p, Status: FileModified}
		_, inBase := b[p]
		_, inHead := h[p]
		switch {
		case !inBase:
			fc.Status = FileAdded
		case !inHead:
			fc.Status = FileDeleted
		}
		oldText, oldOK := readText(base, p, inBase)
		newText, newOK := readText(head, p, inHead)
		if !oldOK || !newOK {
			fc.Binary = true
			out = append(out, fc)
			continue
		}
		hide := func(kind byte, oldLine, newLine int, text string) string {
			if kind == '+' {
				return masker.mask(text, newLine, secretLines(head.Repo, p))
			}
			return masker.mask(text, oldLine, secretLines(base.Repo, p))
		}
		fc.Diff, fc.Added, fc.Removed = unified(splitLines(oldText), splitLines(newText), hide)
		if len(fc.Diff) > budget {
			fc.Diff, fc.DiffOmitted = "", true
		}
		budget -= len(fc.Diff)
		out = append(out, fc)
	}
	return out
}

// readText reads a file of a snapshot; ok is false for a file that is not UTF-8 text.
func readText(s Snapshot, path string, present bool) (string, bool) {
	if !present || s.FS == nil {
		return "", true
	}
	data, err := fs.ReadFile(s.FS, path)
	if err != nil {
		// A symlink or an unreadable file: show no diff rather than a wrong one.
		return "", false
	}
	if !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return "", false
	}
	return string(data), true
}

func secretLines(r *model.Repo, path string) []int {
	if r == nil {
		return nil
	}
	return r.SecretLines[path]
}

// masker hides secret values in the lines a diff shows: on the lines the loader found secrets
// on, and on any line whose key looks like a secret's (so a file that does not even parse
// leaks nothing).
type masker struct {
	secretKey *regexp.Regexp
}

func newMasker() masker {
	return masker{secretKey: regexp.MustCompile(`(?i)^(\s*(?:-\s+)?["']?[\w.-]*(?:password|passwd|secret|private_key|api_key|apikey|credential)[\w.-]*["']?\s*:)\s*(\S.*)$`)}
}

// mask hides the value of one line of a file if it holds a secret: line is its number, and
// secrets the lines the loader found secrets on.
func (m masker) mask(text string, line int, secrets []int) string {
	body, nl := strings.CutSuffix(text, "\n")
	switch {
	case slices.Contains(secrets, line):
		if key, _, ok := strings.Cut(body, ":"); ok {
			body = key + ": " + model.Masked
		}
	default:
		if g := m.secretKey.FindStringSubmatch(body); g != nil && g[2] != model.Masked {
			body = g[1] + " " + model.Masked
		}
	}
	if nl {
		body += "\n"
	}
	return body
}

// splitLines splits text after each newline.
func splitLines(text string) []string {
	if text == "" {
		return nil
	}
	out := strings.SplitAfter(text, "\n")
	if out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// op is one line of a diff.
type op struct {
	kind byte // ' ', '-' or '+'
	text string
}

// unified renders a unified diff of two line lists, passing every line it shows through hide,
// and counts added and removed lines.
func unified(old, cur []string, hide func(kind byte, oldLine, newLine int, text string) string) (string, int, int) {
	dmp := diffmatchpatch.New()
	a, b, table := dmp.DiffLinesToRunes(strings.Join(old, ""), strings.Join(cur, ""))
	diffs := dmp.DiffMainRunes(a, b, false)
	var ops []op
	added, removed := 0, 0
	for _, d := range diffs {
		kind := byte(' ')
		switch d.Type {
		case diffmatchpatch.DiffDelete:
			kind = '-'
		case diffmatchpatch.DiffInsert:
			kind = '+'
		}
		for _, r := range d.Text {
			line := table[r]
			ops = append(ops, op{kind, line})
			switch kind {
			case '-':
				removed++
			case '+':
				added++
			}
		}
	}
	return hunks(ops, hide), added, removed
}

// hunks groups diff lines into @@ hunks with diffContext lines of context.
func hunks(ops []op, hide func(kind byte, oldLine, newLine int, text string) string) string {
	var b strings.Builder
	oldLine, newLine := 1, 1
	i := 0
	for i < len(ops) {
		// Find the next change.
		start := i
		for start < len(ops) && ops[start].kind == ' ' {
			start++
		}
		if start == len(ops) {
			break
		}
		from := max(start-diffContext, i)
		oldLine += from - i
		newLine += from - i
		// Extend the hunk while changes are within 2*context of each other.
		end := start
		for {
			for end < len(ops) && ops[end].kind != ' ' {
				end++
			}
			next := end
			for next < len(ops) && ops[next].kind == ' ' && next-end < 2*diffContext+1 {
				next++
			}
			if next < len(ops) && ops[next].kind != ' ' {
				end = next
				continue
			}
			break
		}
		to := min(end+diffContext, len(ops))
		oldCount, newCount := 0, 0
		for _, o := range ops[from:to] {
			if o.kind != '+' {
				oldCount++
			}
			if o.kind != '-' {
				newCount++
			}
		}
		fmt.Fprintf(&b, "@@ -%s +%s @@\n", hunkRange(oldLine, oldCount), hunkRange(newLine, newCount))
		ol, nl := oldLine, newLine
		for _, o := range ops[from:to] {
			text := hide(o.kind, ol, nl, o.text)
			b.WriteByte(o.kind)
			b.WriteString(text)
			if !strings.HasSuffix(text, "\n") {
				b.WriteString("\n\\ No newline at end of file\n")
			}
			if o.kind != '+' {
				ol++
			}
			if o.kind != '-' {
				nl++
			}
		}
		oldLine += oldCount
		newLine += newCount
		i = to
	}
	return b.String()
}

// hunkRange renders a hunk's start and length; an empty range starts at the line before it,
// as diff(1) writes it.
func hunkRange(start, count int) string {
	if count == 0 {
		start--
	}
	return fmt.Sprintf("%d,%d", start, count)
}
