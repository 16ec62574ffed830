package command

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"unicode"
)

type parseTest struct {
	name string
	body string
	want string // one "line: name args…" per command, see format
}

// parseTests are the cases of TestParse and the seed corpus of FuzzParse.
func parseTests() []parseTest {
	return []parseTest{
		{"empty body", "", ""},
		{"only blank lines", "\n\n  \n", ""},
		{"bare command", "/plan", "1: plan"},
		{"upper case name", "/Plan", "1: plan"},
		{"arguments", "/apply cluster-a  cluster-b", "1: apply cluster-a cluster-b"},
		{"tab-separated arguments", "/apply\tcluster-a\tcluster-b", "1: apply cluster-a cluster-b"},
		{"arguments keep their case and punctuation", "/apply Cluster-A --wave=2", "1: apply Cluster-A --wave=2"},
		{"trailing spaces", "/plan   \t", "1: plan"},
		{"up to three spaces of indentation", "   /plan", "1: plan"},
		{"four spaces is an indented code block", "    /plan", ""},
		{"a tab is an indented code block", "\t/plan", ""},
		{"names may have digits, - and _", "/plan-all_2", "1: plan-all_2"},
		{"command in the middle of prose", "please /plan", ""},
		{"trailing full stop", "/plan.", ""},
		{"trailing comma", "/plan, please", ""},
		{"a path is not a command", "/etc/hosts is wrong", ""},
		{"double slash", "//plan", ""},
		{"slash alone", "/", ""},
		{"space after the slash", "/ plan", ""},
		{"name starting with a digit", "/1plan", ""},
		{"several commands", "Looks good.\n/plan\n\n/apply a", "2: plan\n4: apply a"},
		{"CRLF line endings", "Looks good.\r\n/plan\r\n/apply a\r\n", "2: plan\n3: apply a"},
		{"lone CR line endings", "Looks good.\r/plan\r/apply a", "2: plan\n3: apply a"},

		{"fenced block", "```\n/apply\n```\n/plan", "4: plan"},
		{"tilde fence", "~~~\n/apply\n~~~\n/plan", "4: plan"},
		{"fence with info string", "```yaml\n/apply\n```\n/plan", "4: plan"},
		{"command right after a closing fence", "```\ncode\n```\n/plan", "4: plan"},
		{"closing fence may be longer and indented", "```\n/apply\n   `````  \n/plan", "4: plan"},
		{"nested fences of different lengths", "````\n```\n/apply\n```\n/apply\n````\n/plan", "7: plan"},
		{"tildes do not close backticks", "~~~\n```\n/apply\n```\n/apply\n~~~\n/plan", "7: plan"},
		{"shorter fence does not close", "````\n/apply\n```\n/apply", ""},
		{"fence with text after it does not close", "```\n```yaml\n/apply\n```\n/plan", "5: plan"},
		{"unclosed fence runs to the end", "Try this:\n```\n/apply\n\n/plan", ""},
		{"fence indented four spaces is code, not a fence", "    ```\n/plan", "2: plan"},
		{"backticks with a backtick after are inline code", "``` a`b\n/plan", "2: plan"},
		{"two backticks are not a fence", "``\n/plan", "2: plan"},
		{"fence in a list item", "Steps:\n- ```\n  /apply\n  ```\n/plan", "5: plan"},
		{"fence in a numbered list item", "1. ```\n   /apply\n   ```\n/plan", "4: plan"},
		{"fence ends with its list item", "1. ```\n   /apply\n/plan", "3: plan"},

		{"block quote", "> /apply\n\n/plan", "3: plan"},
		{"indented and nested block quotes", "   > /apply\n>> /apply\n> > /apply", ""},
		{"fence inside a quote", "> ```\n> /apply\n> ```\n/plan", "4: plan"},
		{"unclosed fence inside a quote ends with the quote", "> ```\n> code\n/plan", "3: plan"},
		{"line after a quote is the author's own", "> Should we?\n/plan", "2: plan"},

		{"HTML comment on one line", "<!-- /apply -->\n/plan", "2: plan"},
		{"HTML comment over several lines", "<!--\n/apply\n-->\n/plan", "4: plan"},
		{"text after a closing comment on the same line", "<!--\n--> /apply\n/plan", "3: plan"},
		{"unclosed HTML comment hides the rest", "/plan\n<!--\n/apply", "1: plan"},
		{"comment opened after prose", "note <!--\n/apply\n-->\n/plan", "4: plan"},
		{"comment inside the arguments", "/apply a <!-- b --> c", "1: apply a c"},
		{"comment opened after a command", "/plan <!-- later\n/apply\n-->", "1: plan"},
		{"empty comments", "/apply a<!---->b <!-->c<!--->d", "1: apply a b c d"},
		{"fence inside a comment does not open", "<!--\n```\n-->\n/plan", "4: plan"},
		{"comment inside a fence does not hide", "```\n<!--\n```\n/plan", "4: plan"},
	}
}

// format renders commands one per line as "line: name args…".
func format(cmds []Command) string {
	var b strings.Builder
	for i, c := range cmds {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%d: %s", c.Line, strings.Join(append([]string{c.Name}, c.Args...), " "))
	}
	return b.String()
}

func TestParse(t *testing.T) {
	for _, tt := range parseTests() {
		t.Run(tt.name, func(t *testing.T) {
			if got := format(Parse(tt.body)); got != tt.want {
				t.Errorf("Parse(%q):\ngot:\n%s\nwant:\n%s", tt.body, got, tt.want)
			}
		})
	}
}

func TestParseLongBodies(t *testing.T) {
	const size = 65536
	pad := size - len("/plan")
	manyLines := strings.Repeat("\n", pad%2) + strings.Repeat("x\n", pad/2)
	lines := strings.Count(manyLines, "\n")
	argc := (size - len("/apply")) / 2
	manyArgs := "/apply" + strings.Repeat(" c", argc)

	tests := []struct {
		name     string
		body     string
		wantName string
		wantLine int
		wantArgs int
	}{
		{"many short lines", manyLines + "/plan", "plan", lines + 1, 0},
		{"one long line", manyArgs, "apply", 1, argc},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.body) != size {
				t.Fatalf("test body has %d bytes, want %d", len(tt.body), size)
			}
			got := Parse(tt.body)
			if len(got) != 1 || got[0].Name != tt.wantName || got[0].Line != tt.wantLine || len(got[0].Args) != tt.wantArgs {
				t.Errorf("got %d commands, first %.80v; want %s on line %d with %d args", len(got), got, tt.wantName, tt.wantLine, tt.wantArgs)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	// lineBreak splits like CommonMark, independently of splitLines.
	lineBreak := regexp.MustCompile(`\r\n|\r|\n`)
	for _, tt := range parseTests() {
		f.Add(tt.body)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cmds := Parse(body)
		lines := lineBreak.Split(body, -1)
		prev := 0
		for _, c := range cmds {
			if c.Line <= prev || c.Line > len(lines) {
				t.Fatalf("command %+v: line out of order or range (previous %d, %d lines)", c, prev, len(lines))
			}
			prev = c.Line
			if c.Name == "" || c.Name != strings.ToLower(c.Name) {
				t.Errorf("command %+v: name empty or not lower case", c)
			}
			text := strings.TrimSpace(lines[c.Line-1])
			prefix := "/" + c.Name
			if len(text) < len(prefix) || !strings.EqualFold(text[:len(prefix)], prefix) {
				t.Errorf("command %+v: line %d is %q, want it to start with %q", c, c.Line, text, prefix)
			}
			for _, a := range c.Args {
				if a == "" || strings.IndexFunc(a, unicode.IsSpace) >= 0 {
					t.Errorf("command %+v: argument %q is empty or has spaces", c, a)
				}
			}
		}
	})
}
