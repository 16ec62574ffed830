package specrun

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// etcUnits is where an administrator's units, masks and enablement links live.
const etcUnits = "/etc/systemd/system"

// unitDirs are the directories systemd loads unit files from, most important first. /run is
// empty in an image but costs nothing to look at; Debian bookworm's packages still install
// into /lib/systemd/system, which merged-/usr images link to /usr/lib.
func unitDirs() []string {
	return []string{etcUnits, "/run/systemd/system", "/usr/local/lib/systemd/system", "/usr/lib/systemd/system", "/lib/systemd/system"}
}

// unitIndex is what a run knows of the image's units: the unit directories that exist, and
// every link found in a .wants/, .requires/ or .upholds/ directory of any of them.
type unitIndex struct {
	dirs  []string            // image paths, deduplicated after following links
	links map[string][]string // link name → the .wants/… directories holding one
}

func (c *checker) loadUnits() (*unitIndex, error) {
	if c.units != nil {
		return c.units, nil
	}
	idx := &unitIndex{links: map[string][]string{}}
	for _, d := range unitDirs() {
		rel, err := c.fs.resolve(d, true)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("looking at %s: %w", d, err)
		}
		if slices.Contains(idx.dirs, image(rel)) {
			continue
		}
		idx.dirs = append(idx.dirs, image(rel))
		es, err := c.fs.readDir(d)
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", d, err)
		}
		for _, e := range es {
			if !e.IsDir() || !isDepDir(e.Name()) {
				continue
			}
			sub := path.Join(image(rel), e.Name())
			ls, err := c.fs.readDir(sub)
			if err != nil {
				return nil, fmt.Errorf("listing %s: %w", sub, err)
			}
			for _, l := range ls {
				idx.links[l.Name()] = append(idx.links[l.Name()], sub)
			}
		}
	}
	c.units = idx
	return idx, nil
}

func isDepDir(name string) bool {
	return strings.HasSuffix(name, ".wants") || strings.HasSuffix(name, ".requires") || strings.HasSuffix(name, ".upholds")
}

// template returns the template of an instance name ("getty@.service" for "getty@tty1.service")
// and whether name is an instance.
func template(name string) (string, bool) {
	at := strings.IndexByte(name, '@')
	dot := strings.LastIndexByte(name, '.')
	if at < 0 || dot < at || dot == at+1 {
		return "", false
	}
	return name[:at+1] + name[dot:], true
}

// isTemplate reports whether name is a template such as "getty@.service".
func isTemplate(name string) bool {
	at := strings.IndexByte(name, '@')
	return at >= 0 && strings.LastIndexByte(name, '.') == at+1
}

// fragment is the file a unit name is loaded from.
type fragment struct {
	found  string // the image path where the name was found (maybe a link)
	path   string // the file reached from it
	name   string // the unit's own name: the file's base name
	masked string // set when the unit is masked: how
	broken string // set for a link that leads nowhere: what it says
}

// findUnit looks name up as systemd would: the first unit directory holding it wins; an
// instance without a file of its own is loaded from its template's.
func (c *checker) findUnit(idx *unitIndex, name string) (fragment, bool, error) {
	names := []string{name}
	if t, ok := template(name); ok {
		names = append(names, t)
	}
	for _, n := range names {
		for _, d := range idx.dirs {
			p := path.Join(d, n)
			fi, err := c.fs.lstat(p)
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fragment{}, false, fmt.Errorf("looking at %s: %w", p, err)
			}
			f := fragment{found: p, path: p, name: n}
			if fi.Mode()&fs.ModeSymlink != 0 {
				target, err := c.fs.readlink(p)
				if err != nil {
					return fragment{}, false, fmt.Errorf("reading link %s: %w", p, err)
				}
				if path.Clean(target) == "/dev/null" {
					f.masked = "symlink to /dev/null in " + d
					return f, true, nil
				}
				tfi, reached, err := c.fs.stat(p)
				if err != nil {
					f.broken = target
					return f, true, nil
				}
				fi, f.path, f.name = tfi, reached, path.Base(reached)
			}
			switch {
			case fi.Mode()&fs.ModeCharDevice != 0 && f.found != f.path:
				f.masked = fmt.Sprintf("symlink to %s in %s", f.path, d)
			case fi.Mode()&fs.ModeCharDevice != 0:
				f.masked = fmt.Sprintf("%s is a device", f.path)
			case fi.Mode().IsRegular() && fi.Size() == 0:
				f.masked = fmt.Sprintf("%s is empty", f.path)
			}
			return f, true, nil
		}
	}
	return fragment{}, false, nil
}

// install is what a unit's [Install] section asks for.
type install struct {
	rules   bool     // WantedBy=, RequiredBy=, UpheldBy= or Alias=
	also    bool     // Also=
	aliases []string // Alias=
}

func parseInstall(b []byte) install {
	var in install
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
			continue
		case line[0] == '[':
			section = strings.Trim(line, "[]")
			continue
		case section != "Install":
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch k {
		case "WantedBy", "RequiredBy", "UpheldBy":
			in.rules = in.rules || v != ""
		case "Alias":
			in.aliases = append(in.aliases, strings.Fields(v)...)
			in.rules = in.rules || v != ""
		case "Also":
			in.also = in.also || v != ""
		}
	}
	return in
}

// unitState is what the image says of a unit, in the three states a spec may ask for.
type unitState struct {
	state  string // enabled, disabled, masked, or "" for no such unit
	detail string // why, in a few words
}

func (s unitState) String() string {
	return cmp.Or(s.state, "no such unit") + s.detail
}

// stateOf decides a unit's state the way `systemctl is-enabled` does for the common cases,
// with two choices of its own for the states a spec cannot name (static and alias):
//
//   - masked: the file systemd would load is a link to /dev/null (or /dev/null itself, or an
//     empty file), for the name itself or, for an instance without a file of its own, for its
//     template;
//   - enabled, for a unit with an [Install] section: a link named after the unit is in a
//     .wants/, .requires/ or .upholds/ directory of /etc/systemd/system (or /run), or one of
//     its Alias= names is a link in /etc/systemd/system — what `systemctl enable` makes;
//   - enabled, for a static unit (no [Install] section, which systemctl calls "static") and
//     for an instance: such a link in any unit directory, /usr/lib included, since the links a
//     package ships there are how a distribution makes a static unit start at boot;
//   - an instance (getty@tty1.service) is enabled by a link of its own name, whatever template
//     it points to; a template (getty@.service) is enabled when any of its instances is;
//   - disabled: every other unit that exists, static ones included;
//   - a name that is an alias (a link to a unit of another name, which systemctl calls
//     "alias") has the state of the unit it names.
func (c *checker) stateOf(name string) (unitState, error) {
	idx, err := c.loadUnits()
	if err != nil {
		return unitState{}, err
	}
	f, ok, err := c.findUnit(idx, name)
	if err != nil {
		return unitState{}, err
	}
	_, instance := template(name)
	if ok && f.name != name && !instance && f.masked == "" && f.broken == "" {
		// An alias: the unit it names may be masked, or overridden, under its own name.
		if g, ok, err := c.findUnit(idx, f.name); err == nil && ok {
			g.found = f.found
			f = g
		}
	}
	switch {
	case !ok && len(idx.dirs) == 0:
		return unitState{detail: " (the image has no unit directory: no " + etcUnits + " nor /usr/lib/systemd/system)"}, nil
	case !ok:
		return unitState{detail: fmt.Sprintf(" (not in %s)", strings.Join(idx.dirs, ", "))}, nil
	case f.masked != "":
		return unitState{"masked", " (" + f.masked + ")"}, nil
	case f.broken != "":
		return unitState{detail: fmt.Sprintf(" (%s is a link to %s, which does not exist)", f.found, f.broken)}, nil
	}
	b, err := c.fs.readFile(f.path)
	if err != nil {
		return unitState{}, fmt.Errorf("reading %s: %w", f.path, err)
	}
	in := parseInstall(b)
	alias := ""
	if f.name != name && !instance {
		alias = fmt.Sprintf(", as an alias of %s", f.name)
	}
	static := !in.rules && !in.also

	match := func(link string) bool { return link == name || link == f.name }
	if isTemplate(name) {
		prefix, suffix, _ := strings.Cut(name, "@")
		match = func(link string) bool { return strings.HasPrefix(link, prefix+"@") && strings.HasSuffix(link, suffix) }
	}
	for _, link := range slices.Sorted(maps.Keys(idx.links)) {
		if !match(link) {
			continue
		}
		for _, where := range idx.links[link] {
			if !static && !instance && !isConfig(where) {
				continue
			}
			if d, ok := strings.CutPrefix(where, etcUnits+"/"); ok {
				where = d
			}
			what := "symlink"
			if link != name {
				what = "symlink " + link
			}
			return unitState{"enabled", fmt.Sprintf(" (%s in %s%s)", what, where, alias)}, nil
		}
	}
	for _, a := range in.aliases {
		if fi, err := c.fs.lstat(path.Join(etcUnits, a)); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			return unitState{"enabled", fmt.Sprintf(" (alias %s in %s%s)", a, etcUnits, alias)}, nil
		}
	}
	switch {
	case in.rules:
		return unitState{"disabled", fmt.Sprintf(" (no symlink to it in a .wants/ or .requires/ directory of %s%s)", etcUnits, alias)}, nil
	case in.also:
		return unitState{"disabled", fmt.Sprintf(" (indirect: its [Install] section has only Also=%s)", alias)}, nil
	}
	return unitState{"disabled", fmt.Sprintf(" (static: no [Install] section, and no .wants/ or .requires/ link pulls it in%s)", alias)}, nil
}

// isConfig reports whether a unit directory path is the administrator's (/etc or /run) rather
// than a package's.
func isConfig(dir string) bool {
	return strings.HasPrefix(dir, etcUnits+"/") || strings.HasPrefix(dir, "/run/systemd/system/")
}

// checkServices checks each unit's state: one result per unit.
func (c *checker) checkServices(specs []model.ServiceSpec) {
	for _, s := range specs {
		r := Result{Kind: KindService, Subject: s.Unit.V, Check: "state", Want: s.State.V, Pos: at(s.State.Pos, s.Unit.Pos, s.Pos)}
		st, err := c.stateOf(s.Unit.V)
		if err != nil {
			c.add(r.fail(err.Error(), "unit %s: want %s, cannot tell: %v", s.Unit.V, s.State.V, err))
			continue
		}
		switch {
		case st.state == "":
			r.Pos = at(s.Unit.Pos, r.Pos)
			c.add(r.fail(st.String(), "unit %s: want %s, %s", s.Unit.V, s.State.V, st))
		case st.state == s.State.V:
			c.add(r.pass(st.String(), "unit %s: %s", s.Unit.V, st))
		default:
			c.add(r.fail(st.String(), "unit %s: want %s, is %s", s.Unit.V, s.State.V, st))
		}
	}
}
