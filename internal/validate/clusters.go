package validate

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"github.com/cluster-as-code/cluster-as-code/internal/model"
)

// placement is where a server is used as a node.
type placement struct {
	cluster string
	pos     model.Pos
}

func (c *checker) clusters() {
	c.variants()
	clusters := seen[string]{}
	used := map[string]placement{}
	ips := seen[netip.Addr]{}
	ironic := seen[string]{}
	flavors := map[string]bool{}
	for _, p := range c.repo.Profiles {
		flavors[p.Flavor.V] = true
	}
	for _, cl := range c.repo.Clusters {
		name := cl.Name.V
		if prev, dup := clusters.first(name, cl.Name.Pos); dup {
			c.report(cl.Name.Pos, "duplicate-cluster", "cluster %q is also defined at %s", name, at(prev))
		}
		c.clusterSettings(cl)
		provisionIDs := seen[int]{}
		for _, n := range cl.Nodes {
			if prev, dup := used[n.Name.V]; dup {
				where := "cluster " + prev.cluster
				if prev.cluster == name {
					where = "this cluster already"
				}
				c.report(n.Name.Pos, "node-in-two-clusters", "server %s is a node of %s (%s)", n.Name.V, where, at(prev.pos))
			} else {
				used[n.Name.V] = placement{name, n.Name.Pos}
			}
			if n.ProvisionID.Set() {
				if n.ProvisionID.V < 1 || n.ProvisionID.V > 255 {
					c.report(n.ProvisionID.Pos, model.RuleBadValue, "provision_id %d of node %s is not between 1 and 255 (it is the ZooKeeper myid)", n.ProvisionID.V, n.Name.V)
				} else if prev, dup := provisionIDs.first(n.ProvisionID.V, n.ProvisionID.Pos); dup {
					c.report(n.ProvisionID.Pos, "duplicate-provision-id", "node %s has provision_id %d, as does the node at %s", n.Name.V, n.ProvisionID.V, at(prev))
				}
			}
			if n.IronicID.Set() {
				if !isUUID(n.IronicID.V) {
					c.report(n.IronicID.Pos, model.RuleBadValue, "ironic_id %q of node %s is not a lowercase UUID", n.IronicID.V, n.Name.V)
				} else if prev, dup := ironic.first(n.IronicID.V, n.IronicID.Pos); dup {
					c.report(n.IronicID.Pos, "duplicate-ironic-id", "node %s has ironic_id %s, as does the node at %s", n.Name.V, n.IronicID.V, at(prev))
				}
			}
			c.lan(n, ips)
			c.nodeServer(n, flavors)
			c.nodeImage(n)
		}
	}
}

// clusterSettings checks what a cluster says of itself: quorum, DNS, secrets, rollout.
func (c *checker) clusterSettings(cl *model.Cluster) {
	name := cl.Name.V
	masters := len(cl.RoleNodes(model.Masters))
	if masters == 0 || masters%2 == 0 {
		c.report(cl.Name.Pos, "master-quorum", "cluster %s has %d masters; ZooKeeper and etcd need an odd number (1, 3, 5, …) to keep a quorum", name, masters)
	}
	for _, ns := range cl.DNS.Nameservers {
		if _, err := netip.ParseAddr(ns.V); err != nil {
			c.report(ns.Pos, model.RuleBadValue, "nameserver %q of cluster %s is not an IP address", ns.V, name)
		}
	}
	if d := cl.DNS.DataDomain; d.Set() && !isDomain(d.V) {
		c.report(d.Pos, model.RuleBadValue, "data_domain %q of cluster %s is not a domain name", d.V, name)
	}
	if pw := cl.Marathon.Password; pw.Literal {
		c.report(pw.Pos, "secret-literal", "the marathon password of cluster %s is written into the repository; "+
			"remove it from the history, rotate it, and write `password: {secret: REF}` naming where it is kept", name)
	}
	c.rollout(cl)
}

func (c *checker) rollout(cl *model.Cluster) {
	has := map[string]int{}
	for _, n := range cl.Nodes {
		has[string(n.Role)]++
	}
	known := func(v model.Value[string], what string) bool {
		if !slices.Contains(model.Roles(), model.Role(v.V)) {
			c.report(v.Pos, "rollout-role", "%s names %q, which is not a role (%s)", what, v.V, roleList())
			return false
		}
		return true
	}
	order := seen[string]{}
	for _, r := range cl.Rollout.Order {
		if !known(r, "rollout order") {
			continue
		}
		if prev, dup := order.first(r.V, r.Pos); dup {
			c.report(r.Pos, "rollout-role", "rollout order names %s twice (first at %s)", r.V, at(prev))
		}
	}
	if len(cl.Rollout.Order) > 0 {
		for role, count := range has {
			if _, ok := order[role]; !ok && count > 0 {
				c.report(cl.Rollout.Pos, "rollout-role", "rollout order of cluster %s leaves out %s, which has %d nodes", cl.Name.V, role, count)
			}
		}
	}
	for _, l := range cl.Rollout.MaxDown {
		if !known(l.Role, "max_down") || !l.Limit.Set() {
			continue
		}
		if l.Limit.V < 1 {
			c.report(l.Limit.Pos, "rollout-max-down", "max_down for %s is %d; it must be at least 1", l.Role.V, l.Limit.V)
			continue
		}
		if m := has[string(model.Masters)]; l.Role.V == string(model.Masters) && m > 0 && l.Limit.V > max((m-1)/2, 1) {
			// A single master cannot keep a quorum while it is re-imaged; one down is all it can do.
			c.report(l.Limit.Pos, "rollout-max-down", "max_down %d for masters would take down %d of %d masters; at most %d can be down and keep a quorum",
				l.Limit.V, l.Limit.V, m, max((m-1)/2, 1))
		}
	}
}

func roleList() string {
	var names []string
	for _, r := range model.Roles() {
		names = append(names, string(r))
	}
	return strings.Join(names, ", ")
}

// lan checks a node's address, gateway and VLAN.
func (c *checker) lan(n *model.Node, ips seen[netip.Addr]) {
	lan := n.LAN
	if lan.VLAN.Set() && (lan.VLAN.V < 1 || lan.VLAN.V > 4094) {
		c.report(lan.VLAN.Pos, "vlan-range", "node %s is on VLAN %d; VLAN ids run from 1 to 4094", n.Name.V, lan.VLAN.V)
	}
	if lan.MAC.Set() {
		if _, err := net.ParseMAC(lan.MAC.V); err != nil {
			c.report(lan.MAC.Pos, model.RuleBadValue, "lan mac %q of node %s is not a MAC address", lan.MAC.V, n.Name.V)
		}
	}
	if !lan.IP.Set() {
		return
	}
	prefix, err := netip.ParsePrefix(lan.IP.V)
	if err != nil {
		c.report(lan.IP.Pos, model.RuleBadValue, "lan ip %q of node %s is not an address with its prefix length, like 10.11.11.151/24", lan.IP.V, n.Name.V)
		return
	}
	addr := prefix.Addr()
	if prev, dup := ips.first(addr, lan.IP.Pos); dup {
		c.report(lan.IP.Pos, "duplicate-ip", "node %s has address %s, as does the node at %s", n.Name.V, addr, at(prev))
	}
	subnet := prefix.Masked()
	if addr.Is4() && prefix.Bits() < 31 && (addr == subnet.Addr() || addr == broadcast(subnet)) {
		c.report(lan.IP.Pos, "ip-outside-subnet", "address %s of node %s is the network or broadcast address of %s, not a host address", addr, n.Name.V, subnet)
	}
	if !lan.Gateway.Set() {
		return
	}
	gw, err := netip.ParseAddr(lan.Gateway.V)
	switch {
	case err != nil:
		c.report(lan.Gateway.Pos, model.RuleBadValue, "gateway %q of node %s is not an IP address", lan.Gateway.V, n.Name.V)
	case !subnet.Contains(gw):
		c.report(lan.Gateway.Pos, "gateway-outside-subnet", "gateway %s of node %s is outside its subnet %s", gw, n.Name.V, subnet)
	case gw == addr:
		c.report(lan.IP.Pos, "ip-outside-subnet", "node %s has its gateway's address %s", n.Name.V, addr)
	}
}

// broadcast returns the last address of an IPv4 prefix.
func broadcast(p netip.Prefix) netip.Addr {
	a := p.Addr().As4()
	host := uint32(1)<<(32-p.Bits()) - 1
	v := (uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// isDomain reports whether s is a plausible DNS domain: dot-separated labels of letters,
// digits and hyphens.
func isDomain(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// nodeServer checks a node against the server it runs on.
func (c *checker) nodeServer(n *model.Node, flavors map[string]bool) {
	if n.Flavor.Set() && !flavors[n.Flavor.V] {
		c.report(n.Flavor.Pos, "unknown-flavor", "node %s has flavor %q, which no hardware profile provides", n.Name.V, n.Flavor.V)
	}
	s := c.repo.Server(n.Name.V)
	if s == nil {
		c.report(n.Name.Pos, "node-not-in-inventory", "node %s is not a server in inventory/%s", n.Name.V, suggestion(n.Name.V, c.serverNames()))
		return
	}
	if n.LAN.MAC.Set() {
		mac, err := net.ParseMAC(n.LAN.MAC.V)
		if err == nil && !slices.ContainsFunc(s.Network, func(nic model.NIC) bool {
			m, err := net.ParseMAC(nic.MAC.V)
			return err == nil && m.String() == mac.String()
		}) {
			var macs []string
			for _, nic := range s.Network {
				macs = append(macs, nic.MAC.V)
			}
			c.report(n.LAN.MAC.Pos, "node-mac-mismatch", "lan mac %s of node %s is not one of server %s's NICs (%s, at %s)",
				n.LAN.MAC.V, n.Name.V, s.Name.V, strings.Join(macs, ", "), at(s.Pos))
		}
	}
	if n.IronicID.Set() && s.IronicUUID.Set() && n.IronicID.V != s.IronicUUID.V {
		c.report(n.IronicID.Pos, "node-ironic-id-mismatch", "ironic_id %s of node %s differs from server %s's ironic_uuid %s (%s)",
			n.IronicID.V, n.Name.V, s.Name.V, s.IronicUUID.V, at(s.IronicUUID.Pos))
	}
	if p := c.repo.Profile(s.Hardware.V); p != nil && n.Flavor.Set() && flavors[n.Flavor.V] && p.Flavor.V != n.Flavor.V {
		c.report(n.Flavor.Pos, "flavor-mismatch", "node %s has flavor %q, but server %s is a %s, whose flavor is %q",
			n.Name.V, n.Flavor.V, s.Name.V, p.Name.V, p.Flavor.V)
	}
}

// serverNames lists the inventory's server names, for suggestions.
func (c *checker) serverNames() []string {
	names := make([]string, 0, len(c.repo.Servers))
	for _, s := range c.repo.Servers {
		names = append(names, s.Name.V)
	}
	return names
}

// suggestion returns " (did you mean X?)" for the nearest name, or "".
func suggestion(name string, names []string) string {
	best, bestDist := "", len(name)/3+1
	for _, n := range names {
		if d := editDistance(name, n, bestDist); d < bestDist {
			best, bestDist = n, d
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

// editDistance is the Levenshtein distance of a and b, or limit when it is at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}

// nodeImage checks that a node's image names a variant or an image folder.
func (c *checker) nodeImage(n *model.Node) {
	if !n.Image.Set() || n.Image.V == "" {
		return
	}
	// A variant whose folder is missing is reported once, at the variant.
	if c.repo.Variant(n.Image.V) == nil {
		c.report(n.Image.Pos, "unknown-image", "node %s runs image %q, which is neither an image variant nor a folder under images/", n.Name.V, n.Image.V)
	}
}

// variants checks image variants: defined once (or identically), of an image that exists.
func (c *checker) variants() {
	first := map[string]*model.Variant{}
	for _, v := range c.repo.Variants {
		if c.repo.Image(v.Image.V) == nil && v.Image.V != "" {
			c.report(v.Image.Pos, "unknown-image", "image variant %s builds image %q, which is not a folder under images/", v.Name.V, v.Image.V)
		}
		prev, ok := first[v.Name.V]
		if !ok {
			first[v.Name.V] = v
			continue
		}
		if variantKey(prev) != variantKey(v) {
			c.report(v.Name.Pos, "conflicting-definition", "image variant %q differs from its definition at %s", v.Name.V, at(prev.Name.Pos))
		}
	}
}

func variantKey(v *model.Variant) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%q", v.Image.V)
	args := slices.Clone(v.BuildArgs)
	slices.SortFunc(args, func(x, y model.Arg) int { return strings.Compare(x.Key.V, y.Key.V) })
	for _, a := range args {
		fmt.Fprintf(&b, " %q=%q", a.Key.V, a.Value.V)
	}
	return b.String()
}
