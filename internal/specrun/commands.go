package specrun

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// snippetRunes bounds how much of a command's output a message quotes.
const snippetRunes = 100

// checkCommands runs each command as `sh -c RUN` through the target's Runner, one at a time and
// each within the command timeout, and checks its exit status (0 when the spec gives none),
// then its stdout and stderr when the spec gives patterns. Patterns match in multi-line mode:
// ^ and $ match at each line. A command that cannot be run is one failed result.
func (c *checker) checkCommands(ctx context.Context, specs []model.CommandSpec) {
	timeout := cmp.Or(c.target.CommandTimeout, DefaultCommandTimeout)
	for _, s := range specs {
		run := Result{Kind: KindCommand, Subject: s.Run.V, Check: "run", Want: "runs", Pos: at(s.Run.Pos, s.Pos)}
		if c.target.Runner == nil {
			c.add(run.fail("not run", "command `%s`: not run: no way to run commands in the image was given", s.Run.V))
			continue
		}
		if err := ctx.Err(); err != nil {
			c.add(run.fail("not run", "command `%s`: not run: %v", s.Run.V, err))
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, timeout)
		exit, stdout, stderr, err := c.target.Runner.Run(cctx, []string{"sh", "-c", s.Run.V})
		timedOut := errors.Is(cctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil
		cancel()
		switch {
		case timedOut:
			c.add(run.fail("timed out", "command `%s`: timed out after %s", s.Run.V, timeout))
			continue
		case err != nil:
			c.add(run.fail("not run", "command `%s`: not run: %v", s.Run.V, err))
			continue
		}

		want := 0
		if s.ExitStatus.Set() {
			want = s.ExitStatus.V
		}
		r := Result{Kind: KindCommand, Subject: s.Run.V, Check: "exit_status", Want: strconv.Itoa(want), Pos: at(s.ExitStatus.Pos, s.Run.Pos, s.Pos)}
		got := strconv.Itoa(exit)
		if exit == want {
			c.add(r.pass(got, "command `%s`: exit status %d", s.Run.V, exit))
		} else {
			why := ""
			if len(bytes.TrimSpace(stderr)) > 0 {
				why = " (stderr " + snippet(stderr) + ")"
			}
			c.add(r.fail(got, "command `%s`: exit status want %d, got %d%s", s.Run.V, want, exit, why))
		}
		if s.Stdout.Set() {
			c.add(checkOutput(s, "stdout", s.Stdout, stdout))
		}
		if s.Stderr.Set() {
			c.add(checkOutput(s, "stderr", s.Stderr, stderr))
		}
	}
}

func checkOutput(s model.CommandSpec, stream string, pattern model.Value[string], out []byte) Result {
	r := Result{Kind: KindCommand, Subject: s.Run.V, Check: stream, Want: pattern.V, Pos: at(pattern.Pos, s.Run.Pos, s.Pos)}
	re, err := regexp.Compile("(?m)" + pattern.V)
	if err != nil {
		return r.fail("invalid pattern", "command `%s`: %s /%s/ is not a valid regular expression: %v", s.Run.V, stream, pattern.V, err)
	}
	if loc := re.FindIndex(out); loc != nil {
		start := bytes.LastIndexByte(out[:loc[0]], '\n') + 1
		got := snippet(out[start:])
		return r.pass(got, "command `%s`: %s matches /%s/: %s", s.Run.V, stream, pattern.V, got)
	}
	got := snippet(out)
	return r.fail(got, "command `%s`: %s want /%s/, got %s", s.Run.V, stream, pattern.V, got)
}

// snippet quotes the first line of out, shortened, and says how many lines follow; "nothing"
// for empty output.
func snippet(out []byte) string {
	if len(bytes.TrimSpace(out)) == 0 {
		return "nothing"
	}
	first, rest, _ := bytes.Cut(out, []byte("\n"))
	line := printable(strings.TrimRight(string(first), "\r"))
	if utf8.RuneCountInString(line) > snippetRunes {
		line = strings.TrimRight(string([]rune(line)[:snippetRunes]), " \t") + " …"
	}
	s := "'" + line + "'"
	if n := lineCount(rest); n > 0 {
		s += fmt.Sprintf(" (and %s)", plural(n, "more line", "more lines"))
	}
	return s
}

// printable escapes what a terminal or a check run would not show as it is.
func printable(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\t' || unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}
