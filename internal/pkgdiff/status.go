package pkgdiff

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrSyntax is wrapped by ParseStatus's errors about the file's form (as opposed to reading it).
var ErrSyntax = errors.New("dpkg status syntax")

// ParseStatus reads a dpkg status file (/var/lib/dpkg/status): RFC 822 style stanzas
// separated by blank lines, with continuation lines starting with a space or a tab. It
// returns the packages that are installed, in file order: stanzas whose Status is
// "<want> ok installed". That is "install ok installed" and also "hold ok installed" and
// "deinstall ok installed", because a held package, or one selected for removal but not yet
// removed, is on the image all the same. Errors name the line.
func ParseStatus(r io.Reader) ([]Package, error) {
	var (
		out    []Package
		st     stanza
		lineNo int
	)
	sc := bufio.NewScanner(r)
	// Description fields are long but lines are not; 1 MiB leaves room for anything real.
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	flush := func() error {
		if st.start == 0 {
			return nil
		}
		p, ok, err := st.pkg()
		st = stanza{}
		if err != nil || !ok {
			return err
		}
		out = append(out, p)
		return nil
	}
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		switch {
		case strings.Trim(line, " \t") == "":
			if err := flush(); err != nil {
				return nil, err
			}
		case line[0] == ' ' || line[0] == '\t':
			if st.start == 0 {
				return nil, fmt.Errorf("line %d: %w: continuation line outside a field", lineNo, ErrSyntax)
			}
			// Only single-line fields are kept, so a continuation needs no storing.
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok || name == "" || strings.ContainsAny(name, " \t") {
				return nil, fmt.Errorf("line %d: %w: want \"Field: value\", got %q", lineNo, ErrSyntax, truncate(line, 40))
			}
			if st.start == 0 {
				st = stanza{start: lineNo, fields: map[string]field{}}
			}
			key := strings.ToLower(name)
			if prev, dup := st.fields[key]; dup {
				return nil, fmt.Errorf("line %d: %w: field %s repeated (first on line %d)", lineNo, ErrSyntax, name, prev.line)
			}
			st.fields[key] = field{value: strings.Trim(value, " \t"), line: lineNo}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: reading dpkg status: %w", lineNo+1, err)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// stanza is one paragraph of the status file; field names are case-insensitive.
type stanza struct {
	start  int
	fields map[string]field
}

type field struct {
	value string
	line  int
}

// pkg returns the stanza's package and whether it is installed.
func (s stanza) pkg() (Package, bool, error) {
	status, ok := s.fields["status"]
	if !ok {
		return Package{}, false, fmt.Errorf("line %d: %w: stanza has no Status field", s.start, ErrSyntax)
	}
	words := strings.Fields(status.value)
	if len(words) != 3 {
		return Package{}, false, fmt.Errorf("line %d: %w: Status %q is not \"<want> <flag> <state>\"", status.line, ErrSyntax, status.value)
	}
	if words[1] != "ok" || words[2] != "installed" {
		return Package{}, false, nil
	}
	name := s.fields["package"]
	if name.value == "" {
		return Package{}, false, fmt.Errorf("line %d: %w: installed stanza has no Package field", s.start, ErrSyntax)
	}
	version := s.fields["version"]
	if version.value == "" {
		return Package{}, false, fmt.Errorf("line %d: %w: installed package %q has no Version field", s.start, ErrSyntax, name.value)
	}
	if _, err := ParseVersion(version.value); err != nil {
		return Package{}, false, fmt.Errorf("line %d: package %q: %w", version.line, name.value, err)
	}
	// Source may carry the source version in parentheses: "glibc (2.36-9+deb12u4)".
	source, _, _ := strings.Cut(s.fields["source"].value, " ")
	return Package{
		Name:         name.value,
		Version:      version.value,
		Architecture: s.fields["architecture"].value,
		Source:       source,
	}, true, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
