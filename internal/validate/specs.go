package validate

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

func (c *checker) specs() {
	for _, s := range c.repo.ImageSpecs {
		c.imageSpec(s)
	}
	clusters := map[string]*model.Cluster{}
	for _, cl := range c.repo.Clusters {
		if _, dup := clusters[cl.Name.V]; !dup {
			clusters[cl.Name.V] = cl
		}
	}
	for _, s := range c.repo.ClusterSpecs {
		c.clusterSpec(s, clusters[s.Cluster.V])
	}
}

func (c *checker) imageSpec(s *model.ImageSpec) {
	if s.Image.Set() && c.repo.Image(s.Image.V) == nil {
		c.report(s.Image.Pos, "unknown-image", "spec for image %q, which is not a folder under images/", s.Image.V)
	}
	c.specVersions(s)
	for _, f := range s.Files {
		if f.Path.Set() && (len(f.Path.V) == 0 || f.Path.V[0] != '/') {
			c.report(f.Path.Pos, model.RuleBadValue, "file path %q is not absolute", f.Path.V)
		}
		if f.Type.Set() && !slices.Contains([]string{"file", "directory", "symlink"}, f.Type.V) {
			c.report(f.Type.Pos, model.RuleBadValue, "file type %q is not file, directory or symlink", f.Type.V)
		}
		if f.Mode.Set() {
			if m, err := strconv.ParseUint(f.Mode.V, 8, 32); err != nil || m > 0o7777 {
				c.report(f.Mode.Pos, model.RuleBadValue, "mode %q is not an octal file mode such as \"0644\"", f.Mode.V)
			}
		}
		c.pattern(f.Contains, fmt.Sprintf("contains of %s", f.Path.V))
	}
	for _, sv := range s.Services {
		if sv.State.Set() && !slices.Contains([]string{"enabled", "disabled", "masked"}, sv.State.V) {
			c.report(sv.State.Pos, model.RuleBadValue, "state %q of %s is not enabled, disabled or masked", sv.State.V, sv.Unit.V)
		}
	}
	for _, cmd := range s.Commands {
		c.pattern(cmd.Stdout, fmt.Sprintf("stdout of %q", cmd.Run.V))
		c.pattern(cmd.Stderr, fmt.Sprintf("stderr of %q", cmd.Run.V))
	}
}

func (c *checker) clusterSpec(s *model.ClusterSpec, cl *model.Cluster) {
	if s.Cluster.Set() && cl == nil {
		c.report(s.Cluster.Pos, "unknown-cluster", "spec for cluster %q, which no file under clusters/ defines", s.Cluster.V)
	}
	names := seen[string]{}
	for _, ch := range s.Checks {
		if prev, dup := names.first(ch.Name.V, ch.Name.Pos); dup && ch.Name.V != "" {
			c.report(ch.Name.Pos, "duplicate-check", "check %q is also defined at %s", ch.Name.V, at(prev))
		}
		if ch.Role.Set() {
			if !slices.Contains(model.Roles(), model.Role(ch.Role.V)) {
				c.report(ch.Role.Pos, "unknown-role", "check %s targets %q, which is not a role (%s)", ch.Name.V, ch.Role.V, roleList())
			} else if cl != nil && len(cl.RoleNodes(model.Role(ch.Role.V))) == 0 {
				c.report(ch.Role.Pos, "unknown-role", "check %s targets %s, but cluster %s has none", ch.Name.V, ch.Role.V, cl.Name.V)
			}
		}
		if port := portOf(ch); port.Set() && (port.V < 1 || port.V > 65535) {
			c.report(port.Pos, model.RuleBadValue, "port %d of check %s is not between 1 and 65535", port.V, ch.Name.V)
		}
		if ch.HTTP != nil {
			c.pattern(ch.HTTP.Body, "body of check "+ch.Name.V)
		}
	}
}

// specVersions checks each package version a spec expects against the version the image's
// Dockerfile, or the nearest ancestor's, pins: a pin bumped without its spec fails the image's
// test only after a long build, so it is caught here.
func (c *checker) specVersions(s *model.ImageSpec) {
	pinned := map[string]model.Pin{}
	img := c.repo.Image(s.Image.V)
	for depth := 0; img != nil && depth < 32; depth++ {
		if img.Dockerfile != nil {
			for _, p := range img.Dockerfile.Pins {
				if _, nearer := pinned[p.Package]; !nearer {
					pinned[p.Package] = p
				}
			}
		}
		img = c.repo.Image(img.Parent.V)
	}
	for _, p := range s.Packages {
		pin, ok := pinned[p.Name.V]
		if ok && p.Version.Set() && pin.Version != p.Version.V {
			c.report(p.Version.Pos, "spec-version-mismatch", "spec expects %s %s, but %s pins %s", p.Name.V, p.Version.V, at(pin.Pos), pin.Version)
		}
	}
}

// portOf returns the port of whichever kind the check is.
func portOf(ch model.Check) model.Value[int] {
	switch {
	case ch.ZooKeeper != nil:
		return ch.ZooKeeper.Port
	case ch.Etcd != nil:
		return ch.Etcd.Port
	case ch.HTTP != nil:
		return ch.HTTP.Port
	case ch.TCP != nil:
		return ch.TCP.Port
	}
	return model.Value[int]{}
}
