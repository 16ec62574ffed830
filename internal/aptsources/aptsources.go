// Package aptsources reads the machine's APT configuration: which mirror
// Debian's packages come from. Images are bootstrapped from the mirror the
// build machine is configured with, so no package host is ever written into
// the fleet repository.
package aptsources

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Source is one APT source: a repository at one or more URIs serving some
// suites and components.
type Source struct {
	Types      []string // "deb", "deb-src"
	URIs       []string
	Suites     []string
	Components []string
	// SignedBy is the keyring path (or empty when the source relies on the
	// global keyrings).
	SignedBy string
	// File and Line say where the source was read.
	File string
	Line int
}

// Serves reports whether the source offers binary packages for suite.
func (s Source) Serves(suite string) bool {
	return slices.Contains(s.Types, "deb") && slices.Contains(s.Suites, suite)
}

// ErrNoSource means no configured source serves a suite.
var ErrNoSource = errors.New("no APT source serves the suite")

// Read reads the APT sources under root (normally "/"): etc/apt/sources.list
// and the *.list and *.sources files in etc/apt/sources.list.d. Files with
// other names (such as "x.list.disabled") are ignored, as APT does.
func Read(root string) ([]Source, error) {
	var out []Source
	main := filepath.Join(root, "etc/apt/sources.list")
	if data, err := os.ReadFile(main); err == nil {
		out = append(out, parseList(main, string(data))...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	dir := filepath.Join(root, "etc/apt/sources.list.d")
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, e := range entries {
		path := filepath.Join(dir, e.Name())
		switch filepath.Ext(e.Name()) {
		case ".list":
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			out = append(out, parseList(path, string(data))...)
		case ".sources":
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, err
			}
			srcs, err := parseDeb822(path, string(data))
			if err != nil {
				return nil, err
			}
			out = append(out, srcs...)
		}
	}
	return out, nil
}

// parseList reads the one-line format: "deb [opt=val ...] URI suite comp...".
func parseList(file, text string) []Source {
	var out []Source
	for i, line := range strings.Split(text, "\n") {
		if j := strings.IndexByte(line, '#'); j >= 0 {
			line = line[:j]
		}
		fields := strings.Fields(line)
		if len(fields) < 3 || (fields[0] != "deb" && fields[0] != "deb-src") {
			continue
		}
		src := Source{Types: []string{fields[0]}, File: file, Line: i + 1}
		rest := fields[1:]
		if strings.HasPrefix(rest[0], "[") {
			var opts []string
			for len(rest) > 0 {
				opts = append(opts, rest[0])
				done := strings.HasSuffix(rest[0], "]")
				rest = rest[1:]
				if done {
					break
				}
			}
			for _, o := range opts {
				o = strings.Trim(o, "[]")
				if v, ok := strings.CutPrefix(o, "signed-by="); ok {
					src.SignedBy = v
				}
			}
		}
		if len(rest) < 2 {
			continue
		}
		src.URIs = []string{rest[0]}
		src.Suites = []string{rest[1]}
		src.Components = rest[2:]
		out = append(out, src)
	}
	return out
}

// parseDeb822 reads the deb822 format: stanzas of "Field: value" lines,
// separated by blank lines; a line starting with a space continues a field.
func parseDeb822(file, text string) ([]Source, error) {
	var out []Source
	fields := map[string]string{}
	start := 0
	var last string
	flush := func() {
		if len(fields) == 0 {
			return
		}
		if !strings.EqualFold(fields["enabled"], "no") {
			out = append(out, Source{
				Types:      strings.Fields(fields["types"]),
				URIs:       strings.Fields(fields["uris"]),
				Suites:     strings.Fields(fields["suites"]),
				Components: strings.Fields(fields["components"]),
				SignedBy:   strings.TrimSpace(fields["signed-by"]),
				File:       file,
				Line:       start,
			})
		}
		fields = map[string]string{}
	}
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.TrimSpace(line) == "":
			flush()
		case strings.HasPrefix(line, "#"):
		case line[0] == ' ' || line[0] == '\t':
			if last == "" {
				return nil, fmt.Errorf("%s:%d: a continuation line with no field before it", file, n)
			}
			fields[last] += "\n" + strings.TrimSpace(line)
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				return nil, fmt.Errorf("%s:%d: want \"Field: value\", got %q", file, n, line)
			}
			if len(fields) == 0 {
				start = n
			}
			last = strings.ToLower(strings.TrimSpace(name))
			fields[last] = strings.TrimSpace(value)
		}
	}
	flush()
	return out, sc.Err()
}

// Mirror is where one distribution's packages come from: the source of the
// suite itself, and of its -updates and -security suites when configured.
type Mirror struct {
	Suite    string
	Sources  []Source
	Primary  string // URI of the suite itself
	Security string // URI of SUITE-security, or ""
}

// MirrorFor picks, from the machine's sources, the ones that serve suite,
// suite-updates and suite-security.
func MirrorFor(sources []Source, suite string) (Mirror, error) {
	m := Mirror{Suite: suite}
	for _, s := range sources {
		for _, want := range []string{suite, suite + "-updates", suite + "-security"} {
			if !s.Serves(want) || len(s.URIs) == 0 {
				continue
			}
			src := s
			src.Types = []string{"deb"}
			src.Suites = []string{want}
			m.Sources = append(m.Sources, src)
			switch want {
			case suite:
				if m.Primary == "" {
					m.Primary = s.URIs[0]
				}
			case suite + "-security":
				if m.Security == "" {
					m.Security = s.URIs[0]
				}
			}
		}
	}
	if m.Primary == "" {
		return Mirror{}, fmt.Errorf("%w %q: add one to /etc/apt/sources.list.d (the images are built from the mirror this machine uses)", ErrNoSource, suite)
	}
	return m, nil
}

// Lines returns the mirror as one-line sources ("deb URI suite comps"),
// the form mmdebstrap takes on its command line.
func (m Mirror) Lines() []string {
	var out []string
	for _, s := range m.Sources {
		comps := s.Components
		if len(comps) == 0 {
			comps = []string{"main"}
		}
		for _, u := range s.URIs {
			out = append(out, fmt.Sprintf("deb %s %s %s", u, s.Suites[0], strings.Join(comps, " ")))
		}
	}
	return out
}

// Deb822 renders the mirror as a deb822 sources file, one stanza per
// configured source, for an image's /etc/apt/sources.list.d.
func (m Mirror) Deb822() string {
	var b strings.Builder
	b.WriteString("# Written by cluster-as-code from the build machine's APT sources.\n")
	type key struct{ uri, comps, signed string }
	suites := map[key][]string{}
	var order []key
	for _, s := range m.Sources {
		comps := s.Components
		if len(comps) == 0 {
			comps = []string{"main"}
		}
		for _, u := range s.URIs {
			k := key{u, strings.Join(comps, " "), s.SignedBy}
			if _, ok := suites[k]; !ok {
				order = append(order, k)
			}
			if !slices.Contains(suites[k], s.Suites[0]) {
				suites[k] = append(suites[k], s.Suites[0])
			}
		}
	}
	for _, k := range order {
		fmt.Fprintf(&b, "\nTypes: deb\nURIs: %s\nSuites: %s\nComponents: %s\n", k.uri, strings.Join(suites[k], " "), k.comps)
		if k.signed != "" && !strings.Contains(k.signed, "\n") {
			fmt.Fprintf(&b, "Signed-By: %s\n", k.signed)
		}
	}
	return b.String()
}
