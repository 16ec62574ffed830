package specrun

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// Kind is the section of the spec an assertion comes from.
type Kind string

// The kinds of assertion, in the order Run checks them. KindImage is for what stops every
// check, such as a root file system that cannot be opened.
const (
	KindImage   Kind = "image"
	KindPackage Kind = "package"
	KindFile    Kind = "file"
	KindService Kind = "service"
	KindUser    Kind = "user"
	KindCommand Kind = "command"
)

// Result is the outcome of one assertion of a spec.
type Result struct {
	// Pos is where the spec makes the assertion: the key that states the expectation (mode,
	// version, a group), or the entry itself for an implicit one (a file exists).
	Pos     model.Pos `json:"pos"`
	Kind    Kind      `json:"kind"`
	Subject string    `json:"subject"` // package name, path, unit, user name or command line
	// Check names what was asserted: installed, version, type, mode, owner, group, contains,
	// state, exists, member, exit_status, stdout, stderr.
	Check  string `json:"check"`
	Want   string `json:"want"`
	Got    string `json:"got"`
	Passed bool   `json:"passed"`
	// Message says in one line what was checked and, for a failure, what was expected and what
	// was found instead.
	Message string `json:"message"`
}

// String renders r as "file:line:col: FAIL message" (or "ok"), the form editors jump to.
func (r Result) String() string {
	word := "FAIL"
	if r.Passed {
		word = "ok"
	}
	return fmt.Sprintf("%s: %s %s", r.Pos, word, r.Message)
}

func (r Result) pass(got, format string, args ...any) Result {
	r.Passed, r.Got, r.Message = true, got, fmt.Sprintf(format, args...)
	return r
}

func (r Result) fail(got, format string, args ...any) Result {
	r.Passed, r.Got, r.Message = false, got, fmt.Sprintf(format, args...)
	return r
}

// Summary counts results.
type Summary struct {
	Checks int `json:"checks"`
	Passed int `json:"passed"`
	Failed int `json:"failed"`
}

// Report is the outcome of running an image spec against an image. It is plain data: the
// artifact manifest stores it as JSON.
type Report struct {
	Image string `json:"image"`
	// Spec is the spec's file in the repository.
	Spec string `json:"spec"`
	// Results holds one result per assertion, in the order of the spec: packages, files,
	// services, users, commands. An assertion about something that is missing (the mode of a
	// file that does not exist) gives no result of its own: the missing thing is the failure.
	Results  []Result      `json:"results"`
	Summary  Summary       `json:"summary"`
	Duration time.Duration `json:"duration_ns"`
}

// Failed reports whether any assertion failed.
func (r Report) Failed() bool { return r.Summary.Failed > 0 }

// Failures returns the failed results, ordered by their place in the spec file.
func (r Report) Failures() []Result {
	var out []Result
	for _, res := range r.Results {
		if !res.Passed {
			out = append(out, res)
		}
	}
	slices.SortStableFunc(out, func(a, b Result) int {
		return cmp.Or(cmp.Compare(a.Pos.File, b.Pos.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
	return out
}

// Findings returns each failure as an error finding of rule "image-spec", for annotating the
// spec file.
func (r Report) Findings() []finding.Finding {
	var out []finding.Finding
	for _, res := range r.Failures() {
		out = append(out, finding.Finding{Pos: res.Pos, Severity: finding.Error, Rule: "image-spec", Message: res.Message})
	}
	return out
}

// Text renders the report for a terminal: failures first, then passes, one per line with its
// place in the spec, and a summary line last.
func (r Report) Text() string {
	var b strings.Builder
	for _, res := range r.Failures() {
		b.WriteString(res.String() + "\n")
	}
	for _, res := range r.Results {
		if res.Passed {
			b.WriteString(res.String() + "\n")
		}
	}
	fmt.Fprintf(&b, "image %s (%s): %s\n", r.Image, r.Spec, r.summaryLine())
	return b.String()
}

// summaryLine says how many checks failed and passed, and how long they took.
func (r Report) summaryLine() string {
	s := r.Summary
	var head string
	switch {
	case s.Checks == 0:
		head = "no checks"
	case s.Failed == 0:
		head = fmt.Sprintf("all %s passed", plural(s.Checks, "check", "checks"))
	default:
		head = fmt.Sprintf("%d of %s failed", s.Failed, plural(s.Checks, "check", "checks"))
	}
	return fmt.Sprintf("%s in %s", head, r.Duration.Round(time.Millisecond))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

// at returns the first position that has a line, else the first that names a file.
func at(ps ...model.Pos) model.Pos {
	for _, p := range ps {
		if p.Line != 0 {
			return p
		}
	}
	for _, p := range ps {
		if p.File != "" {
			return p
		}
	}
	return model.Pos{}
}
