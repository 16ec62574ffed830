// Package command finds slash commands ("/plan", "/apply cluster-a") in
// pull-request comments and models the permission levels that may run them.
//
// It is pure code with no I/O: the webhook handler passes a comment body to
// [Parse], looks each [Command.Name] up in its own table of known commands,
// and compares the commenter's [Permission] (see [FromCollaborator]) with the
// level that command requires.
package command

import (
	"strings"
)

// Command is one slash command found in a comment.
type Command struct {
	// Name is the word after the slash, lower-cased: "/Plan" gives "plan".
	Name string
	// Args are the whitespace-separated words after the name, as written,
	// with any HTML comments removed.
	Args []string
	// Line is the 1-based line of the comment body the command is on.
	Line int
}

// Parse returns the commands in a Markdown comment body, in order.
//
// Parse knows no command names: it returns every line that looks like one
// and the caller decides which names exist, so that it can ignore, or answer,
// the rest. The rules follow what a reader of the rendered comment sees:
//
//   - A command is a whole line: after up to three spaces of indentation it
//     starts with "/", then a name made of an ASCII letter followed by
//     letters, digits, "-" or "_", then whitespace or the end of the line.
//     "please /plan" is not a command, and neither are "/plan." or "/plan,"
//     (punctuation glued to the name means prose, and "/etc/hosts" is a
//     path); "/plan please" is "plan" with argument "please".
//   - Lines inside fenced code blocks are ignored. A fence is three or more
//     backticks or tildes, at most three spaces in (or right after a list
//     marker such as "- "); it is closed by a line of the same character,
//     at least as long, with nothing else on it. A fence left open runs to
//     the end of the comment, and a fence opened in a list item also ends
//     where a line is less indented than the item's text.
//   - Lines indented by four columns or more (a tab counts up to the next
//     multiple of four) are never commands. That covers indented code
//     blocks; it also covers text nested in list items, which we do not try
//     to tell apart from code.
//   - Block-quote lines (starting with ">") are ignored, so quoting someone's
//     "/apply" in a reply does not run it. A line typed right after a quote
//     without ">" is the author's own, even though Markdown would render it
//     inside the quote.
//   - HTML comments ("<!-- … -->", possibly over several lines) are hidden in
//     the rendered comment, so nothing in them counts, and a comment left
//     unclosed hides the rest of the body. Text after a command on the same
//     line that sits in an HTML comment is dropped from Args. Inline code
//     spans are not recognised, so a "<!--" inside backticks also starts a
//     comment; this errs on the side of not running anything.
//
// Lines end with "\n", "\r\n" or a lone "\r".
func Parse(body string) []Command {
	var (
		cmds      []Command
		fence     fenceState
		inComment bool
	)
	for i, line := range splitLines(body) {
		if fence.open {
			if fence.closedBy(line) {
				fence = fenceState{}
				continue
			}
			if !fence.endedBy(line) {
				continue
			}
			fence = fenceState{} // the list item holding it ended; line is ordinary
		}

		if inComment {
			// A line that starts inside a comment is never a command, but
			// the comment may end here and another may begin.
			stripComments(line, &inComment)
			continue
		}

		indent, rest := indentation(line)
		if indent < 4 {
			if f, ok := openFence(line); ok {
				fence = f
				continue
			}
		}
		visible := stripComments(line, &inComment)
		if indent >= 4 || !strings.HasPrefix(rest, "/") {
			continue
		}
		if cmd, ok := parseCommand(visible); ok {
			cmd.Line = i + 1
			cmds = append(cmds, cmd)
		}
	}
	return cmds
}

// parseCommand parses a line that starts (after indentation) with "/".
func parseCommand(line string) (Command, bool) {
	fields := strings.Fields(line)
	if len(fields) == 0 {
		return Command{}, false
	}
	name, ok := strings.CutPrefix(fields[0], "/")
	if !ok || !validName(name) {
		return Command{}, false
	}
	cmd := Command{Name: strings.ToLower(name)}
	if len(fields) > 1 {
		cmd.Args = fields[1:]
	}
	return cmd, true
}

func validName(name string) bool {
	if name == "" || !isLetter(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && !('0' <= c && c <= '9') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
}

// splitLines splits body at "\n", "\r\n" and lone "\r", as CommonMark does.
func splitLines(body string) []string {
	var lines []string
	for {
		i := strings.IndexAny(body, "\r\n")
		if i < 0 {
			return append(lines, body)
		}
		lines = append(lines, body[:i])
		if body[i] == '\r' && i+1 < len(body) && body[i+1] == '\n' {
			i++
		}
		body = body[i+1:]
	}
}

// indentation returns the column of the first character of line that is
// not a space or tab (tabs stop every four columns), and the line from there.
func indentation(line string) (int, string) {
	col := 0
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case ' ':
			col++
		case '\t':
			col += 4 - col%4
		default:
			return col, line[i:]
		}
	}
	return col, ""
}

// fenceState describes an open fenced code block.
type fenceState struct {
	open bool
	char byte // '`' or '~'
	size int  // length of the opening run
	base int  // column of the container's content: 0, or the list item's text
}

// openFence reports whether line opens a fenced code block, at the top
// level or as the first thing in a list item.
func openFence(line string) (fenceState, bool) {
	indent, rest := indentation(line)
	base := 0
	if width, ok := listMarker(rest); ok {
		base = indent + width
		var inner int
		inner, rest = indentation(rest[width:])
		base += inner
		if inner > 3 {
			return fenceState{}, false
		}
	}
	if len(rest) < 3 || (rest[0] != '`' && rest[0] != '~') {
		return fenceState{}, false
	}
	c := rest[0]
	n := run(rest, c)
	if n < 3 {
		return fenceState{}, false
	}
	if c == '`' && strings.IndexByte(rest[n:], '`') >= 0 {
		return fenceState{}, false // an inline code span, not a fence
	}
	return fenceState{open: true, char: c, size: n, base: base}, true
}

// listMarker reports the width of a list marker ("-", "*", "+", "1.", "1)")
// and the one space after it at the start of s.
func listMarker(s string) (int, bool) {
	n := 0
	switch {
	case s == "":
		return 0, false
	case s[0] == '-' || s[0] == '*' || s[0] == '+':
		n = 1
	default:
		for n < len(s) && n < 9 && '0' <= s[n] && s[n] <= '9' {
			n++
		}
		if n == 0 || n >= len(s) || (s[n] != '.' && s[n] != ')') {
			return 0, false
		}
		n++
	}
	if n >= len(s) || (s[n] != ' ' && s[n] != '\t') {
		return 0, false
	}
	return n, true
}

// closedBy reports whether line is the closing fence.
func (f fenceState) closedBy(line string) bool {
	indent, rest := indentation(line)
	if indent < f.base || indent-f.base > 3 {
		return false
	}
	n := run(rest, f.char)
	return n >= f.size && strings.Trim(rest[n:], " \t") == ""
}

// endedBy reports whether a non-blank line is less indented than the list
// item holding the fence, which ends the item and the fence with it.
func (f fenceState) endedBy(line string) bool {
	indent, rest := indentation(line)
	return rest != "" && indent < f.base
}

// run returns how many times c repeats at the start of s.
func run(s string, c byte) int {
	n := 0
	for n < len(s) && s[n] == c {
		n++
	}
	return n
}

// stripComments returns line without the parts inside HTML comments,
// starting inside one if *inComment, and leaves *inComment telling whether
// a comment is still open at the end of the line.
func stripComments(line string, inComment *bool) string {
	var b strings.Builder
	for line != "" {
		if *inComment {
			end := strings.Index(line, "-->")
			if end < 0 {
				return b.String()
			}
			line = line[end+len("-->"):]
			*inComment = false
			b.WriteByte(' ') // keep the words on either side apart
			continue
		}
		start := strings.Index(line, "<!--")
		if start < 0 {
			b.WriteString(line)
			return b.String()
		}
		b.WriteString(line[:start])
		line = line[start+len("<!--"):]
		*inComment = true
		// "<!-->" and "<!--->" are complete (empty) comments in CommonMark.
		if rest, ok := strings.CutPrefix(line, ">"); ok {
			line, *inComment = rest, false
			b.WriteByte(' ')
		} else if rest, ok := strings.CutPrefix(line, "->"); ok {
			line, *inComment = rest, false
			b.WriteByte(' ')
		}
	}
	return b.String()
}
