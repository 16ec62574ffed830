package render

import (
	"fmt"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/imageid"
	"github.com/cluster-as-code/cluster-as-code/internal/plan"
)

// MaxMarkdown is the most a rendered plan may take: GitHub's limit for a check run's summary
// (65,535 characters). Bytes are counted, which is stricter than characters.
const MaxMarkdown = 65535

// footerRoom is kept free for the closing note, written even when the body was cut short.
const footerRoom = 600

// Markdown renders the plan for a pull request, within limit bytes (MaxMarkdown if zero). What
// does not fit is left out whole — a section, the rest of a table, a file's diff — and a note
// at the end says so and where to find the whole plan.
func Markdown(p *plan.Plan, limit int) string {
	if limit <= 0 {
		limit = MaxMarkdown
	}
	d := &doc{room: limit - footerRoom}
	d.header(p)
	d.findings(p.Findings)
	d.images(p.Images)
	d.clusters(p.Clusters)
	d.reasons(p.Clusters)
	d.files(p.Files)
	d.footer(p)
	return d.b.String()
}

// doc is a Markdown document written block by block within a budget.
type doc struct {
	b       strings.Builder
	room    int
	omitted []string
}

// add writes a block if it fits, and reports whether it did; what did not fit is named in the
// closing note.
func (d *doc) add(block, name string) bool {
	if d.b.Len()+len(block) > d.room {
		d.omitted = append(d.omitted, name)
		return false
	}
	d.b.WriteString(block)
	return true
}

// left is how many bytes are still free.
func (d *doc) left() int { return d.room - d.b.Len() }

// table builds a Markdown table of as many rows as fit in room bytes, with a last row that
// counts the rows left out.
func table(head string, rows []string, room int, what string) string {
	var b strings.Builder
	b.WriteString(head)
	for i, r := range rows {
		more := fmt.Sprintf("| … %d more %s |\n", len(rows)-i, what)
		if b.Len()+len(r)+len(more)+2 > room {
			b.WriteString(more)
			break
		}
		b.WriteString(r)
	}
	b.WriteString("\n")
	return b.String()
}

// cell escapes text for a table cell.
func cell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

// html escapes text for an HTML element.
func html(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func code(s string) string { return "`" + strings.ReplaceAll(s, "`", "'") + "`" }

func short(id string) string { return imageid.ID(id).Short() }

func rev(r plan.Revision) string {
	switch {
	case r.Commit != "" && r.Rev != "" && !strings.HasPrefix(r.Commit, r.Rev):
		return fmt.Sprintf("%s (%s)", code(r.Rev), code(r.Commit[:min(len(r.Commit), 12)]))
	case r.Commit != "":
		return code(r.Commit[:min(len(r.Commit), 12)])
	case r.Rev != "":
		return code(r.Rev)
	}
	return "nothing"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func (d *doc) header(p *plan.Plan) {
	var b strings.Builder
	fmt.Fprintf(&b, "## Plan: %s → %s\n\n", rev(p.Base), rev(p.Head))
	s := p.Summary
	if !p.Valid {
		fmt.Fprintf(&b, "**❌ %s: this plan cannot be applied until they are fixed.** "+
			"What follows is computed from files with errors and may be wrong: a file that does not parse counts as empty.\n\n",
			plural(s.Errors, "validation error", "validation errors"))
	}
	if s.Empty() {
		b.WriteString("**No changes.** Every image and every node stays as it is.\n\n")
		d.add(b.String(), "summary")
		return
	}
	var parts []string
	if s.ImagesToBuild > 0 {
		parts = append(parts, plural(s.ImagesToBuild, "image to build", "images to build"))
	}
	if s.Provision > 0 {
		parts = append(parts, plural(s.Provision, "node to provision", "nodes to provision"))
	}
	if s.Reprovision > 0 {
		parts = append(parts, plural(s.Reprovision, "node to re-provision", "nodes to re-provision"))
	}
	if s.Decommission > 0 {
		parts = append(parts, plural(s.Decommission, "node to decommission", "nodes to decommission"))
	}
	if s.ImagesRemoved > 0 {
		parts = append(parts, plural(s.ImagesRemoved, "image removed", "images removed"))
	}
	fmt.Fprintf(&b, "**%s** in %s; %d unchanged.\n\n", strings.Join(parts, " · "),
		plural(s.ClustersChanged, "cluster", "clusters"), s.Unchanged)
	d.add(b.String(), "summary")
}

func (d *doc) findings(fs []finding.Finding) {
	if len(fs) == 0 {
		return
	}
	errs := finding.Errors(fs)
	var rows []string
	for _, f := range fs {
		icon := "❌"
		if f.Severity == finding.Warning {
			icon = "⚠️"
		}
		rows = append(rows, fmt.Sprintf("| %s | %s | %s | %s |\n", icon, code(f.Pos.String()), code(f.Rule), cell(f.Message)))
	}
	head := fmt.Sprintf("### Validation: %s, %s\n\n| | Where | Rule | Finding |\n|---|---|---|---|\n",
		plural(errs, "error", "errors"), plural(len(fs)-errs, "warning", "warnings"))
	d.add(table(head, rows, d.left(), "findings"), "validation findings")
}

func (d *doc) images(images []plan.ImageAction) {
	if len(images) == 0 {
		return
	}
	var rows []string
	for i, a := range images {
		id := code(short(a.ID))
		if a.BaseID != "" && a.ID != "" {
			id = code(short(a.BaseID)) + " → " + code(short(a.ID))
		} else if a.ID == "" {
			id = code(short(a.BaseID)) + " → removed"
		}
		parent := "—"
		if a.Parent != "" {
			parent = code(a.Parent)
		}
		name := code(a.Variant)
		if a.Variant != a.Image {
			name += " (" + code(a.Image) + ")"
		}
		used := "—"
		if len(a.UsedBy) > 0 {
			used = strings.Join(a.UsedBy, ", ")
		}
		rows = append(rows, fmt.Sprintf("| %d | %s | %s | %s | %s | %s | %s |\n", i+1, name, a.Action, parent, id, cell(strings.Join(a.Reasons, "; ")), cell(used)))
	}
	head := "### Images\n\nBuilt in this order, each after the image it is built on.\n\n| # | Image | Action | Built on | Id | Why | Used by |\n|---:|---|---|---|---|---|---|\n"
	d.add(table(head, rows, d.left(), "images"), "images")
}

// actionWord is how an action reads in a sentence.
func actionWord(a plan.Action) string {
	if a == plan.Reprovision {
		return "re-provision"
	}
	return string(a)
}

func (d *doc) clusters(clusters []plan.ClusterPlan) {
	var unchanged []string
	for _, c := range clusters {
		if len(c.Waves) == 0 {
			unchanged = append(unchanged, code(c.Name))
			continue
		}
		var b strings.Builder
		fmt.Fprintf(&b, "### Cluster %s (%s)\n\n", code(c.Name), c.Status)
		var counts []string
		for _, x := range []struct {
			n    int
			word string
		}{{c.Counts.Provision, "to provision"}, {c.Counts.Reprovision, "to re-provision"}, {c.Counts.Decommission, "to decommission"}, {c.Counts.Unchanged, "unchanged"}} {
			if x.n > 0 {
				counts = append(counts, fmt.Sprintf("%d %s", x.n, x.word))
			}
		}
		fmt.Fprintf(&b, "%s, in %s.\n\n", strings.Join(counts, ", "), plural(len(c.Waves), "wave", "waves"))
		var rows []string
		for _, w := range c.Waves {
			names := make([]string, len(w.Nodes))
			for i, n := range w.Nodes {
				names[i] = code(n)
			}
			rows = append(rows, fmt.Sprintf("| %d | %s | %s | %s | %d |\n", w.Number, w.Role, actionWord(w.Action), strings.Join(names, ", "), w.Down))
		}
		head := b.String() + "| Wave | Role | Action | Nodes | Down at once |\n|---:|---|---|---|---:|\n"
		d.add(table(head, rows, d.left(), "waves"), "cluster "+c.Name)
	}
	if len(unchanged) > 0 {
		d.add(fmt.Sprintf("Unchanged: %s.\n\n", strings.Join(unchanged, ", ")), "unchanged clusters")
	}
}

// reasons writes, per changed cluster, a collapsed table of why each node is acted on.
func (d *doc) reasons(clusters []plan.ClusterPlan) {
	for _, c := range clusters {
		var rows []string
		for _, n := range c.Nodes {
			if n.Action == plan.Unchanged {
				continue
			}
			rows = append(rows, fmt.Sprintf("| %d | %s | %s | %s | %s |\n", n.Wave, code(n.Name), n.Role, actionWord(n.Action), cell(strings.Join(n.Reasons, "; "))))
		}
		if len(rows) == 0 {
			continue
		}
		head := fmt.Sprintf("<details><summary>Why each node of <code>%s</code> changes (%d)</summary>\n\n| Wave | Node | Role | Action | Why |\n|---:|---|---|---|---|\n", html(c.Name), len(rows))
		const tail = "</details>\n\n"
		if d.left() < len(head)+len(tail)+200 {
			d.omitted = append(d.omitted, "node reasons of "+c.Name)
			continue
		}
		d.add(table(head, rows, d.left()-len(tail), "nodes")+tail, "node reasons of "+c.Name)
	}
}

// files writes each changed file's diff, collapsed.
func (d *doc) files(files []plan.FileChange) {
	if len(files) == 0 {
		return
	}
	d.add(fmt.Sprintf("### Changed files (%d)\n\n", len(files)), "changed files")
	for _, f := range files {
		summary := fmt.Sprintf("<details><summary><code>%s</code> %s (+%d −%d)</summary>\n\n", html(f.Path), f.Status, f.Added, f.Removed)
		var body string
		switch {
		case f.Binary:
			summary = fmt.Sprintf("<details><summary><code>%s</code> %s (binary)</summary>\n\n", html(f.Path), f.Status)
			body = "Binary file; no diff shown.\n\n"
		case f.DiffOmitted || f.Diff == "":
			body = "The diff is too long to show here; see the pull request's files.\n\n"
		default:
			body = "```diff\n" + f.Diff + "```\n\n"
		}
		block := summary + body + "</details>\n\n"
		if len(block) > d.left() {
			block = summary + "The diff is too long to show here; see the pull request's files.\n\n</details>\n\n"
		}
		d.add(block, "diff of "+f.Path)
	}
}

func (d *doc) footer(p *plan.Plan) {
	d.b.WriteString("---\n")
	if len(d.omitted) > 0 {
		var names []string
		for _, n := range d.omitted[:min(len(d.omitted), 5)] {
			if len(n) > 60 {
				n = n[:57] + "…"
			}
			names = append(names, n)
		}
		if len(d.omitted) > 5 {
			names = append(names, fmt.Sprintf("%d more", len(d.omitted)-5))
		}
		fmt.Fprintf(&d.b, "**Cut short** to fit GitHub's limit; left out: %s. The whole plan: `bot plan --format json`.\n\n", cell(strings.Join(names, ", ")))
	}
	fmt.Fprintf(&d.b, "<sub>%s · %s</sub>\n", p.Schema, plural(len(p.Files), "file changed", "files changed"))
}
