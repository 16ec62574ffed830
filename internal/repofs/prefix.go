package repofs

import (
	"fmt"
	"io/fs"
	"strings"
)

// prefixes selects the paths a snapshot loads: those equal to or under one of its elements.
// Nil selects everything.
type prefixes []string

// parsePrefixes checks and cleans prefixes such as "inventory" or "specs/". A "." selects
// everything.
func parsePrefixes(list []string) (prefixes, error) {
	var ps prefixes
	for _, p := range list {
		clean := strings.TrimSuffix(p, "/")
		if clean == "." {
			return nil, nil
		}
		if !fs.ValidPath(clean) {
			return nil, fmt.Errorf("invalid path prefix %q", p)
		}
		ps = append(ps, clean)
	}
	return ps, nil
}

// match reports whether name is selected.
func (ps prefixes) match(name string) bool {
	if ps == nil {
		return true
	}
	for _, p := range ps {
		if name == p || strings.HasPrefix(name, p) && name[len(p)] == '/' {
			return true
		}
	}
	return false
}
