package specrun

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// dpkgStatus is where dpkg records what is installed.
const dpkgStatus = "/var/lib/dpkg/status"

// dpkgEntry is one stanza of dpkg's status file.
type dpkgEntry struct {
	Package, Arch, Version, Status string
}

// installed reports whether dpkg considers the package installed: its status is
// "install ok installed", or "hold ok installed" for a package held at its version.
func (e dpkgEntry) installed() bool {
	f := strings.Fields(e.Status)
	return len(f) == 3 && f[1] == "ok" && f[2] == "installed"
}

// parseDpkgStatus reads the RFC 822 stanzas of a dpkg status file, keeping the few fields the
// checks need. Continuation lines (starting with a space or a tab) are skipped: none of those
// fields spans lines.
func parseDpkgStatus(b []byte) map[string][]dpkgEntry {
	out := map[string][]dpkgEntry{}
	var e dpkgEntry
	flush := func() {
		if e.Package != "" {
			out[e.Package] = append(out[e.Package], e)
		}
		e = dpkgEntry{}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Package":
			e.Package = v
		case "Architecture":
			e.Arch = v
		case "Version":
			e.Version = v
		case "Status":
			e.Status = v
		}
	}
	flush()
	return out
}

// checkPackages checks each package is installed, at its version when one is given: one result
// per package.
func (c *checker) checkPackages(specs []model.PackageSpec) {
	if len(specs) == 0 {
		return
	}
	var (
		pkgs    map[string][]dpkgEntry
		readErr error
	)
	if b, err := c.fs.readFile(dpkgStatus); err != nil {
		readErr = fmt.Errorf("reading %s: %w", dpkgStatus, err)
	} else {
		pkgs = parseDpkgStatus(b)
	}
	for _, p := range specs {
		c.add(checkPackage(p, pkgs, readErr))
	}
}

func checkPackage(p model.PackageSpec, pkgs map[string][]dpkgEntry, readErr error) Result {
	name, arch, _ := strings.Cut(p.Name.V, ":")
	r := Result{Kind: KindPackage, Subject: p.Name.V, Check: "installed", Want: "installed", Pos: at(p.Name.Pos, p.Pos)}
	if p.Version.Set() {
		r.Check, r.Want = "version", p.Version.V
	}
	if readErr != nil {
		return r.fail(readErr.Error(), "package %s: want %s, cannot tell: %v", p.Name.V, wantPackage(p), readErr)
	}
	var installed, other []dpkgEntry
	for _, e := range pkgs[name] {
		if arch != "" && e.Arch != arch {
			continue
		}
		if e.installed() {
			installed = append(installed, e)
		} else {
			other = append(other, e)
		}
	}
	if len(installed) == 0 {
		got := "not installed"
		if len(other) > 0 {
			got = fmt.Sprintf("not installed (dpkg status %q)", other[0].Status)
		}
		return r.fail(got, "package %s: want %s, %s", p.Name.V, wantPackage(p), got)
	}
	var versions []string
	for _, e := range installed {
		if !p.Version.Set() || e.Version == p.Version.V {
			return r.pass(e.Version, "package %s: installed, version %s", p.Name.V, e.Version)
		}
		versions = append(versions, e.Version)
	}
	got := strings.Join(versions, ", ")
	r.Pos = at(p.Version.Pos, r.Pos)
	return r.fail(got, "package %s: want version %s, installed %s", p.Name.V, p.Version.V, got)
}

func wantPackage(p model.PackageSpec) string {
	if p.Version.Set() {
		return "version " + p.Version.V
	}
	return "installed"
}
