// Package pkgdiff says what changed between two builds of an OS image, for the people who
// review the pull request that changed it: which Debian packages were upgraded, downgraded,
// added or removed (read from dpkg's status file and ordered exactly as dpkg orders
// versions), and which files of the root filesystem changed, summed up by directory.
// Markdown renders both for a GitHub check run.
package pkgdiff

import (
	"cmp"
	"slices"
)

// Package is one installed Debian package.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	// Source is the name of the source package; empty when it has the package's own name.
	Source string `json:"source,omitempty"`
}

// Change is one package that differs between two builds. Old is empty for an added
// package, New for a removed one.
type Change struct {
	Name         string
	Architecture string
	// OldArchitecture is set only when the package changed architecture, such as a library
	// that became "all".
	OldArchitecture string
	Old, New        string
}

// Changes is what changed in the installed packages, each list sorted by name then
// architecture. A package rebuilt with the same version is not a change.
type Changes struct {
	Added, Removed, Upgraded, Downgraded []Change
}

// Len is the number of changed packages.
func (c Changes) Len() int {
	return len(c.Added) + len(c.Removed) + len(c.Upgraded) + len(c.Downgraded)
}

// Diff compares the packages of a base build with those of a head build. A package is the
// same package on both sides when it has the same name and architecture; a name installed
// for exactly one architecture on each side is also the same package when its architecture
// changed, so that a library turning "all" is an upgrade rather than a removal and an
// addition. Versions are ordered with CompareVersions.
func Diff(base, head []Package) Changes {
	byName := func(pkgs []Package) map[string][]Package {
		m := map[string][]Package{}
		for _, p := range pkgs {
			m[p.Name] = append(m[p.Name], p)
		}
		return m
	}
	b, h := byName(base), byName(head)
	var c Changes
	compare := func(old, new Package) {
		ch := Change{Name: new.Name, Architecture: new.Architecture, Old: old.Version, New: new.Version}
		if old.Architecture != new.Architecture {
			ch.OldArchitecture = old.Architecture
		}
		switch CompareVersions(old.Version, new.Version) {
		case -1:
			c.Upgraded = append(c.Upgraded, ch)
		case 1:
			c.Downgraded = append(c.Downgraded, ch)
		}
	}
	for name, olds := range b {
		news := h[name]
		if len(olds) == 1 && len(news) == 1 {
			compare(olds[0], news[0])
			continue
		}
		for _, old := range olds {
			i := slices.IndexFunc(news, func(p Package) bool { return p.Architecture == old.Architecture })
			if i < 0 {
				c.Removed = append(c.Removed, Change{Name: name, Architecture: old.Architecture, Old: old.Version})
				continue
			}
			compare(old, news[i])
		}
	}
	for name, news := range h {
		olds := b[name]
		if len(olds) == 1 && len(news) == 1 {
			continue
		}
		for _, p := range news {
			if !slices.ContainsFunc(olds, func(o Package) bool { return o.Architecture == p.Architecture }) {
				c.Added = append(c.Added, Change{Name: name, Architecture: p.Architecture, New: p.Version})
			}
		}
	}
	for _, list := range []*[]Change{&c.Added, &c.Removed, &c.Upgraded, &c.Downgraded} {
		slices.SortFunc(*list, func(x, y Change) int {
			return cmp.Or(cmp.Compare(x.Name, y.Name), cmp.Compare(x.Architecture, y.Architecture))
		})
	}
	return c
}
