package specrun

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cluster-as-code/cluster-as-code/internal/finding"
	"github.com/cluster-as-code/cluster-as-code/internal/model"
	"github.com/cluster-as-code/cluster-as-code/internal/specrun/specruntest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// exampleSpec is a spec as a repository holds it, loaded by the model package, so that the
// places results point at are the real lines of the file.
const exampleSpec = `# What the example image must contain.
image: base
packages:
  - name: chrony
    version: 4.3-2+deb12u3
  - name: openssh-server
    version: 1:9.2p1-2+deb12u10
  - name: nano
files:
  - path: /etc/ssh/sshd_config.d/50-hardening.conf
    mode: "0644"
    contains: '^PasswordAuthentication no$'
  - path: /etc/zookeeper/conf
    type: symlink
  - path: /etc/shadow-link
    contains: '^root:'
services:
  - unit: ssh.service
    state: enabled
  - unit: apt-daily.timer
    state: masked
  - unit: getty@tty1.service
    state: enabled
users:
  - name: bob
    groups: [docker, root]
commands:
  - run: chronyd --version
    exit_status: 0
    stdout: '^chronyd \(chrony\) version 4\.3 '
  - run: echo '` + "`@octocat`" + ` <b>#1</b>'
    stdout: 'x'
`

func loadSpec(t *testing.T, name, yaml string) *model.ImageSpec {
	t.Helper()
	repo, findings, err := model.Load(t.Context(), fstest.MapFS{"specs/images/" + name + ".yaml": {Data: []byte(yaml)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(findings) > 0 || len(repo.ImageSpecs) != 1 {
		t.Fatalf("loading the spec: %v", findings)
	}
	return repo.ImageSpecs[0]
}

func exampleReport(t *testing.T) Report {
	t.Helper()
	runner := &specruntest.Runner{Replies: map[string]specruntest.Reply{
		"chronyd --version":           {Stdout: "chronyd (chrony) version 4.4 (+CMDMON +NTP)\n"},
		"echo '`@octocat` <b>#1</b>'": {Stdout: "`@octocat` <b>#1</b>\n"},
	}}
	rep := Run(t.Context(), loadSpec(t, "base", exampleSpec), Target{Root: fixture(t), Runner: runner})
	rep.Duration = 1234 * time.Millisecond
	return rep
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what was rendered (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	rep := exampleReport(t)
	golden(t, "example.md", []byte(rep.Markdown(0)))
	golden(t, "example.txt", []byte(rep.Text()))
	j, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "example.json", append(j, '\n'))
}

func TestReportPlacesAndCounts(t *testing.T) {
	rep := exampleReport(t)
	if !rep.Failed() {
		t.Error("Failed() = false for a report with failures")
	}
	if got, want := rep.Summary, (Summary{Checks: 18, Passed: 10, Failed: 8}); got != want {
		t.Errorf("summary %+v, want %+v", got, want)
	}
	var got []string
	for _, f := range rep.Findings() {
		got = append(got, fmt.Sprintf("%s %s", f.Pos, f.Rule))
	}
	want := []string{
		"specs/images/base.yaml:5:14 image-spec",  // chrony's version
		"specs/images/base.yaml:8:11 image-spec",  // nano
		"specs/images/base.yaml:11:11 image-spec", // mode
		"specs/images/base.yaml:15:11 image-spec", // the shadow link
		"specs/images/base.yaml:21:12 image-spec", // apt-daily.timer's state
		"specs/images/base.yaml:26:22 image-spec", // the root group
		"specs/images/base.yaml:30:13 image-spec", // chronyd's stdout
		"specs/images/base.yaml:32:13 image-spec", // echo's stdout
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("findings at\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, f := range rep.Findings() {
		if f.Severity != finding.Error || f.Message == "" {
			t.Errorf("finding %v: want an error with a message", f)
		}
	}
}

func TestReportJSONRoundTrip(t *testing.T) {
	rep := exampleReport(t)
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rep) {
		t.Errorf("report changed through JSON:\ngot  %+v\nwant %+v", back, rep)
	}
}

// TestMarkdownLimit renders the example within every limit from nothing to more than it needs:
// never more than the limit, failures whole and in order, and a count of those left out.
func TestMarkdownLimit(t *testing.T) {
	rep := exampleReport(t)
	full := rep.Markdown(0)
	var lines []string
	for l := range strings.Lines(full) {
		if strings.HasPrefix(l, "- `specs/") {
			lines = append(lines, l)
		}
	}
	if len(lines) != rep.Summary.Failed {
		t.Fatalf("full rendering shows %d failures, want %d:\n%s", len(lines), rep.Summary.Failed, full)
	}
	title, _, _ := strings.Cut(full, "\n")
	note := regexp.MustCompile("(?m)^- … (?:and )?([0-9]+) (?:more )?failures?, left out to keep this summary within ([0-9]+) bytes\\.$")
	for limit := 1; limit <= len(full)+10; limit++ {
		got := rep.Markdown(limit)
		if len(got) > limit {
			t.Fatalf("limit %d: rendered %d bytes", limit, len(got))
		}
		shown := 0
		for l := range strings.Lines(got) {
			if strings.HasPrefix(l, "- `specs/") {
				if l != lines[shown] {
					t.Fatalf("limit %d: failure %d is %q, want %q", limit, shown, l, lines[shown])
				}
				shown++
			}
		}
		left := 0
		if m := note.FindStringSubmatch(got); m != nil {
			left, _ = strconv.Atoi(m[1])
			if m[2] != strconv.Itoa(limit) {
				t.Errorf("limit %d: note names limit %s", limit, m[2])
			}
		}
		switch {
		case shown+left == len(lines):
			if !strings.HasPrefix(got, title+"\n") {
				t.Fatalf("limit %d: no title:\n%s", limit, got)
			}
		case strings.HasPrefix(title+"\n", got):
			if limit > len(title)+len(omitted(len(lines), len(lines), limit)) {
				t.Fatalf("limit %d: the title and a count of failures fit, but only %q was rendered", limit, got)
			}
		default:
			t.Fatalf("limit %d: %d failures shown and %d said left out, of %d:\n%s", limit, shown, left, len(lines), got)
		}
		if limit >= len(full) && got != full {
			t.Fatalf("limit %d: the whole rendering fits, but was cut", limit)
		}
	}
}

func TestMarkdownAllPassed(t *testing.T) {
	spec := loadSpec(t, "small", "image: small\npackages:\n  - name: chrony\nusers:\n  - name: bob\n    groups: [docker]\n")
	rep := Run(t.Context(), spec, Target{Root: fixture(t)})
	rep.Duration = 5 * time.Millisecond
	want := "### Image spec `small`: all 3 checks passed\n\nSpec `specs/images/small.yaml`, checked in 5ms.\n\n\n3 checks passed: 1 package, 2 users.\n"
	if got := rep.Markdown(0); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if rep.Failed() {
		t.Error("Failed() = true with every check passed")
	}
}

func TestUnreadableRoot(t *testing.T) {
	spec := loadSpec(t, "small", "image: small\npackages:\n  - name: chrony\n")
	rep := Run(t.Context(), spec, Target{Root: filepath.Join(t.TempDir(), "gone")})
	if got := outcomes(rep.Results); len(got) != 1 || got[0].passed || !strings.HasPrefix(got[0].message, "image small: cannot check its files: opening root file system: ") {
		t.Errorf("got %v", got)
	}
	if !rep.Failed() {
		t.Error("Failed() = false for an image that could not be read")
	}
}

func TestCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "`plain`"},
		{"command `true`: exit status 0", "``command `true`: exit status 0``"},
		{"`edge`", "`` `edge` ``"},
		{"a ``` b", "````a ``` b````"},
		{"two\nlines", "`two lines`"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := code(tt.in); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
